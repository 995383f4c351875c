"""``toolproxy eval``: which prompting style makes *this* model call tools best, measured on BFCL."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from toolproxy.evaluation.bfcl import ALL_CATEGORIES, DEFAULT_CATEGORIES, category_kind, load_sample
from toolproxy.evaluation.errors import EvalError, EvalSetupError

DESIGN_CARD_STYLES = ("thoughtful_steps", "functionary", "mixtral", "hermes")


def _csv(values: list[str] | None) -> list[str]:
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def known_styles() -> list[str]:
    from toolproxy.styles import style_names

    return [s for s in style_names() if s != "auto-best"]


def resolve_styles(requested: list[str] | None) -> list[str]:
    names = _csv(requested)
    known = known_styles()
    if not names or names == ["all"]:
        return known
    unknown = [n for n in names if n not in known]
    if unknown:
        raise EvalSetupError(f"unknown style(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def resolve_categories(requested: list[str] | None, default: tuple[str, ...] = DEFAULT_CATEGORIES
                       ) -> tuple[list[str], dict[str, int | None]]:
    """Category names (``NAME`` or ``NAME:N`` for a per-category sample size; ``all``) and the N overrides."""
    names = _csv(requested)
    if not names:
        return list(default), {}
    if names == ["all"]:
        return list(ALL_CATEGORIES), {}
    categories: list[str] = []
    sizes: dict[str, int | None] = {}
    for item in names:
        name, _, size = item.partition(":")
        category_kind(name)  # raises for an unknown one
        if size:
            if not size.isdigit():
                raise EvalSetupError(f"bad sample size in {item!r} (NAME:N, N >= 0)")
            sizes[name] = int(size) or None
        categories.append(name)
    return categories, sizes


def build_parser(prog: str = "toolproxy eval", *, default_n: int = 20,
                 default_categories: tuple[str, ...] = DEFAULT_CATEGORIES,
                 default_out: str = "out/eval") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Measure each prompting style on BFCL questions (bfcl-eval's data and AST checker).")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--base-url", help="a running toolproxy server (default: start one on a free port)")
    where.add_argument("--model", help="GGUF model for the server started here (default: the bundled model)")
    parser.add_argument("--styles", nargs="+", help="comma/space-separated style names, or 'all' (default: all)")
    parser.add_argument("--categories", nargs="+",
                        help=f"BFCL categories, NAME:N for a category's own sample size, or 'all' "
                             f"(default: {','.join(default_categories)}; "
                             f"known: {','.join(ALL_CATEGORIES)})")
    parser.add_argument("--n", type=int, default=default_n,
                        help=f"questions per category, a seeded sample; 0 = all (default {default_n})")
    parser.add_argument("--seed", type=int, default=0, help="sampling (and generation) seed (default 0)")
    parser.add_argument("--out", default=default_out, help=f"results folder (default {default_out}); "
                        "records.jsonl in it makes a re-run continue where it stopped")
    parser.add_argument("--max-tokens", type=int, default=384, help="max_tokens per request (default 384)")
    parser.add_argument("--max-steps", type=int, default=5,
                        help="model steps per multi-turn user turn before the entry fails (default 5)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request (default 600)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads of the server started here")
    parser.add_argument("--ctx", type=int, help="context size of the server started here")
    parser.add_argument("--api-key", help="API key of the server")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG chart (no matplotlib needed)")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the table/JSON/chart from the records in --out, without running anything")
    parser.set_defaults(default_categories=default_categories)
    return parser


@contextlib.contextmanager
def _server(args: argparse.Namespace, out: Path) -> Iterator[str]:
    if args.base_url:
        yield args.base_url
        return
    from toolproxy.evaluation.server import spawned_server

    print(f"starting toolproxy serve (log: {out / 'server.log'}) ...", file=sys.stderr)
    with spawned_server(model=args.model, log_path=out / "server.log", threads=args.threads, ctx=args.ctx) as url:
        yield url


def _served_model(records: list[Any]) -> str:
    models = Counter(r.model for r in records)
    if not models:
        raise EvalSetupError("no records to report on (run without --report-only first)")
    return models.most_common(1)[0][0]


def _ensure_extras(args: argparse.Namespace, categories: list[str]) -> None:
    """Import now what the run will need later (the chart, BFCL's multi-turn APIs, the progress bar)."""
    from toolproxy.evaluation.extras import require
    from toolproxy.evaluation.progress import check_available
    from toolproxy.evaluation.report import CHART

    if not args.no_chart:
        require("matplotlib", CHART)
    if not args.report_only and any(category_kind(c) == "multi_turn" for c in categories):
        require("mpmath", "BFCL's multi-turn categories")
    if not args.report_only:
        check_available(not args.no_progress)


def execute(args: argparse.Namespace) -> dict[str, Any]:
    """Run (or continue) the evaluation described by parsed arguments; returns the results summary.

    An interrupted run still writes the results of the questions answered so far, then re-raises."""
    from toolproxy.evaluation import checker, report, runner
    from toolproxy.evaluation.client import EvalClient

    if args.n < 0:
        raise EvalSetupError("--n must be >= 0")
    styles = resolve_styles(args.styles)
    categories, sizes = resolve_categories(args.categories, args.default_categories)
    checker.ensure_available()
    _ensure_extras(args, categories)  # before any model work: a missing package is one line, not a late traceback
    questions = load_sample(categories, args.n or None, args.seed, sizes)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    interrupted = False
    if args.report_only:
        records = runner.load_records(out / runner.RECORDS_FILE)
        model = _served_model(records)
    else:
        with _server(args, out) as url, EvalClient(url, api_key=args.api_key, max_tokens=args.max_tokens,
                                                   seed=args.seed, timeout_s=args.timeout) as client:
            model = client.connect()
            print(f"model {model} at {url}: {len(styles)} style(s) x {len(questions)} question(s)", file=sys.stderr)
            try:
                runner.run(client, styles, questions, out,
                           runner.RunOptions(max_steps=args.max_steps, progress=not args.no_progress))
            except KeyboardInterrupt:
                interrupted = True
        records = runner.load_records(out / runner.RECORDS_FILE)
    plan: dict[str, list[str]] = {c: [q.id for q in questions if q.category == c] for c in categories}
    meta = {"seed": args.seed, "n": args.n, "n_per_category": {c: len(ids) for c, ids in plan.items()},
            "max_tokens": args.max_tokens, "max_steps": args.max_steps, "complete": not interrupted}
    summary = report.summarize(records, model=model, styles=styles, plan=plan, meta=meta)
    if interrupted or args.report_only:
        summary["complete"] = all(summary["overall"][s]["answered"] == summary["overall"][s]["planned"]
                                  for s in styles)
    paths = report.write_report(summary, out, png=not args.no_chart)
    print(report.markdown(summary))
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    if interrupted:
        raise KeyboardInterrupt
    return summary


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While running, SIGTERM ends the run like Ctrl-C: records stay, a server started here is stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def eval_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _sigterm_interrupts():
            execute(args)
    except EvalError as exc:
        print(f"toolproxy eval: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ntoolproxy eval: interrupted; run the same command again to continue", file=sys.stderr)
        return 130
    return 0
