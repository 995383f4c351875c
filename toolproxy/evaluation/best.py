"""``toolproxy serve --style auto-best --eval-results DIR``: the style that scored best in a ``toolproxy eval`` run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolproxy.evaluation.errors import NoResults

RESULTS_JSON = "results.json"  # written by toolproxy.evaluation.report (this module stays import-light)


def _results_files(results: Path) -> list[Path]:
    if results.is_file():
        return [results]
    if results.is_dir():
        direct = results / RESULTS_JSON
        return [direct] if direct.is_file() else sorted(results.glob(f"*/{RESULTS_JSON}"))
    raise NoResults(f"no eval results at {results}")


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("overall"), dict) else None


def best_style(results_dir: str | Path, model_id: str | None = None) -> str:
    """The style with the highest overall accuracy in ``results_dir`` (its ``results.json``, or those of its
    sub-folders, one per model). With ``model_id``, only results measured on that model count.

    Ties go to fewer malformed replies, then to the name (deterministic). Raises :class:`NoResults`."""
    candidates: list[tuple[float, int, str]] = []
    for path in _results_files(Path(results_dir)):
        data = _load(path)
        if data is None or (model_id is not None and data.get("model") != model_id):
            continue
        for style, row in data["overall"].items():
            if isinstance(row, dict) and row.get("answered"):
                candidates.append((-float(row.get("accuracy", 0.0)), int(row.get("malformed", 0)), str(style)))
    if not candidates:
        which = f" for model {model_id!r}" if model_id else ""
        raise NoResults(f"no usable eval results{which} in {results_dir}")
    return min(candidates)[2]
