"""Results of an evaluation, recomputed from the per-question records: a table (markdown + JSON) and a PNG chart.

Accuracy of a (style, category) = correct / answered. A style's overall accuracy is the unweighted mean over
its categories (BFCL's own summary convention), so a category with fewer questions weighs the same.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from toolproxy.evaluation.best import RESULTS_JSON
from toolproxy.evaluation.extras import require
from toolproxy.evaluation.runner import Record

__all__ = ["RESULTS_JSON", "chart", "markdown", "summarize", "write_report"]
RESULTS_MD = "results.md"
RESULTS_PNG = "results.png"
CHART = "the chart of toolproxy eval (or pass --no-chart)"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Cell:
    answered: int
    correct: int
    malformed: int
    errors: int  # server error responses and timeouts (well-formed, but no answer)
    mean_latency_s: float
    mean_completion_tokens: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.answered if self.answered else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy": round(self.accuracy, 4)}


def _cell(records: list[Record]) -> Cell:
    return Cell(
        answered=len(records),
        correct=sum(r.correct for r in records),
        malformed=sum(r.malformed for r in records),
        errors=sum(1 for r in records if r.error is not None and not r.malformed),
        mean_latency_s=round(statistics.fmean(r.latency_s for r in records), 3) if records else 0.0,
        mean_completion_tokens=round(statistics.fmean(r.completion_tokens for r in records), 1) if records else 0.0,
    )


def summarize(records: Iterable[Record], *, model: str, styles: list[str], plan: dict[str, list[str]],
              meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results JSON for ``model``: only records of the planned (category -> ids) questions and styles count."""
    planned = {(c, i) for c, ids in plan.items() for i in ids}
    latest = {r.key: r for r in records}  # a question answered twice (two runs sharing --out) counts once
    by_cell: dict[tuple[str, str], list[Record]] = {}
    for r in latest.values():
        if r.model == model and r.style in styles and (r.category, r.id) in planned:
            by_cell.setdefault((r.style, r.category), []).append(r)
    categories = list(plan)
    table: dict[str, dict[str, Any]] = {}
    overall: dict[str, dict[str, Any]] = {}
    for style in styles:
        cells = {c: _cell(by_cell.get((style, c), [])) for c in categories}
        every = [r for c in categories for r in by_cell.get((style, c), [])]
        answered = [cells[c] for c in categories if cells[c].answered]
        total = _cell(every)
        table[style] = {c: cells[c].to_json() for c in categories}
        overall[style] = {
            **total.to_json(),
            "accuracy": round(statistics.fmean(c.accuracy for c in answered), 4) if answered else 0.0,
            "planned": sum(len(plan[c]) for c in categories),
        }
    ranked = sorted(styles, key=lambda s: (-overall[s]["accuracy"], overall[s]["malformed"], s))
    return {
        "format": FORMAT_VERSION,
        "model": model,
        **(meta or {}),
        "styles": styles,
        "categories": categories,
        "questions": plan,
        "overall": overall,
        "by_category": table,
        "best_style": ranked[0] if ranked and overall[ranked[0]]["answered"] else None,
    }


def markdown(summary: dict[str, Any]) -> str:
    categories: list[str] = summary["categories"]
    head = ["style", *categories, "overall", "malformed", "errors", "s/question"]
    sizes = summary.get("n_per_category") or {}
    per = ", ".join(f"{c} {k}" for c, k in sizes.items()) if sizes else f"up to {summary.get('n', '?')} each"
    partial = "" if summary.get("complete", True) else " **Partial run: not every planned question answered.**"
    lines = [f"Model: `{summary['model']}` — BFCL accuracy (correct/answered), seed {summary.get('seed', '?')}, "
             f"questions per category: {per}.{partial}", "",
             "| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for style in summary["styles"]:
        cells = summary["by_category"][style]
        total = summary["overall"][style]
        row = [f"`{style}`"]
        row += [f"{cells[c]['accuracy']:.0%} ({cells[c]['correct']}/{cells[c]['answered']})"
                if cells[c]["answered"] else "-" for c in categories]
        row += [f"**{total['accuracy']:.0%}**" if total["answered"] else "-", str(total["malformed"]),
                str(total["errors"]), f"{total['mean_latency_s']:.1f}" if total["answered"] else "-"]
        lines.append("| " + " | ".join(row) + " |")
    if summary.get("best_style"):
        lines += ["", f"Best style: `{summary['best_style']}`."]
    return "\n".join(lines) + "\n"


def chart(summary: dict[str, Any], path: Path) -> None:
    """Accuracy per style per category (grouped bars) and mean latency per question per style."""
    matplotlib = require("matplotlib", CHART)
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", CHART)

    styles: list[str] = summary["styles"]
    groups = [*summary["categories"], "overall"]
    fig, (ax_acc, ax_lat) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / max(len(styles), 1)
    for i, style in enumerate(styles):
        cells = [summary["by_category"][style][c] for c in summary["categories"]] + [summary["overall"][style]]
        values = [cell["accuracy"] * 100 if cell["answered"] else float("nan") for cell in cells]
        xs = [g + (i - (len(styles) - 1) / 2) * width for g in range(len(groups))]
        bars = ax_acc.bar(xs, values, width, label=style)
        ax_acc.bar_label(bars, labels=["" if v != v else f"{v:.0f}" for v in values], fontsize=7, padding=1)
    ax_acc.set_xticks(range(len(groups)), groups, rotation=20, ha="right")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_ylim(0, 100)
    ax_acc.set_title(f"BFCL accuracy per style — {summary['model']}" + ("" if summary.get("complete", True)
                                                                        else " (partial run)"))
    ax_acc.legend(fontsize="small")
    ax_acc.grid(axis="y", alpha=0.3)
    latencies = [summary["overall"][s]["mean_latency_s"] for s in styles]
    ax_lat.bar(range(len(styles)), latencies, color=[f"C{i}" for i in range(len(styles))])
    ax_lat.set_xticks(range(len(styles)), styles, rotation=20, ha="right")
    ax_lat.set_ylabel("seconds per question (mean)")
    ax_lat.set_title("latency per style")
    ax_lat.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(summary: dict[str, Any], out_dir: Path, *, png: bool = True) -> dict[str, Path]:
    """Write results.json, results.md and (``png``) results.png into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / RESULTS_JSON, "markdown": out_dir / RESULTS_MD}
    paths["json"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    paths["markdown"].write_text(markdown(summary), encoding="utf-8")
    if png:
        paths["png"] = out_dir / RESULTS_PNG
        chart(summary, paths["png"])
    return paths
