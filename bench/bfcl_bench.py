"""BFCL accuracy per style against a toolproxy server (issue 3's measurement), over ``toolproxy eval``'s code.

    python bench/bfcl_bench.py                          # starts a server on the bundled model
    python bench/bfcl_bench.py --base-url http://127.0.0.1:8080 --n 50 --styles hermes,mixtral

Runs simple_python, multiple and parallel (a seeded sample of --n questions each, 50 by default; the design-card
styles thoughtful_steps, functionary, mixtral and hermes by default, ``--styles all`` for every registered one),
prints accuracy per style and malformed counts, and checks the targets: zero malformed replies for every style,
every design-card style >= 35% on simple_python, the best style >= 50% there. Resumable like ``toolproxy eval``
(records in --out). Exit status 0 when every target is met, 1 otherwise.

Needs ``pip install --no-deps bfcl-eval`` (plus ``mpmath`` for multi-turn categories).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from toolproxy.evaluation.cli import DESIGN_CARD_STYLES, build_parser, execute
from toolproxy.evaluation.errors import EvalError

CATEGORIES = ("simple_python", "multiple", "parallel")
MIN_EACH = 0.35
MIN_BEST = 0.50


def check_targets(summary: dict[str, Any]) -> list[str]:
    """Failed targets (empty when all are met)."""
    failures = []
    for style in summary["styles"]:
        malformed = summary["overall"][style]["malformed"]
        if malformed:
            failures.append(f"{style}: {malformed} malformed replies (target 0)")
    simple = {s: summary["by_category"][s].get("simple_python", {}) for s in summary["styles"]}
    if all(cell.get("answered") for cell in simple.values()) and simple:
        for style in (s for s in DESIGN_CARD_STYLES if s in simple):
            if simple[style]["accuracy"] < MIN_EACH:
                failures.append(f"{style}: simple_python {simple[style]['accuracy']:.0%} < {MIN_EACH:.0%}")
        best = max(simple, key=lambda s: simple[s]["accuracy"])
        if simple[best]["accuracy"] < MIN_BEST:
            failures.append(f"best style {best}: simple_python {simple[best]['accuracy']:.0%} < {MIN_BEST:.0%}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = build_parser("bench/bfcl_bench.py", default_n=50, default_categories=CATEGORIES,
                          default_out="out/bfcl-bench")
    parser.set_defaults(styles=[",".join(DESIGN_CARD_STYLES)])
    args = parser.parse_args(argv)
    try:
        summary = execute(args)
    except EvalError as exc:
        print(f"bfcl_bench: {exc}", file=sys.stderr)
        return 2
    print("malformed replies per style: " + ", ".join(
        f"{s}={summary['overall'][s]['malformed']}" for s in summary["styles"]))
    failures = check_targets(summary)
    for failure in failures:
        print(f"TARGET MISSED: {failure}")
    if not failures:
        print("all targets met")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
