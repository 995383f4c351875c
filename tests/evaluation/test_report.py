"""Results recomputed from records: table numbers, JSON, PNG, and the auto-best pick."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolproxy.evaluation.best import best_style
from toolproxy.evaluation.errors import NoResults
from toolproxy.evaluation.report import markdown, summarize, write_report
from toolproxy.evaluation.runner import Record


def _record(style: str, category: str, qid: str, correct: bool, *, malformed: bool = False,
            model: str = "m", latency: float = 1.0) -> Record:
    return Record(model, style, category, qid, correct, malformed, "bad" if malformed else None, None, [], None,
                  latency, 10, 1)


def _records() -> list[Record]:
    return [
        _record("a", "simple_python", "s1", True), _record("a", "simple_python", "s2", False),
        _record("a", "irrelevance", "i1", True, latency=3.0),
        _record("b", "simple_python", "s1", True), _record("b", "simple_python", "s2", True),
        _record("b", "irrelevance", "i1", False, malformed=True),
        _record("b", "simple_python", "s9", True),  # not in the plan: ignored
        _record("a", "simple_python", "s1", False, model="other"),  # another model: ignored
        _record("b", "irrelevance", "i1", False, malformed=True),  # answered twice: counted once
    ]


PLAN = {"simple_python": ["s1", "s2"], "irrelevance": ["i1"]}


def test_summary_numbers(tmp_path: Path) -> None:
    summary = summarize(_records(), model="m", styles=["a", "b"], plan=PLAN, meta={"seed": 0, "n": 2})
    a, b = summary["overall"]["a"], summary["overall"]["b"]
    assert summary["by_category"]["a"]["simple_python"]["accuracy"] == 0.5
    assert a["accuracy"] == 0.75 and a["correct"] == 2 and a["answered"] == 3  # mean of 50% and 100%
    assert b["accuracy"] == 0.5 and b["malformed"] == 1
    assert a["mean_latency_s"] == pytest.approx(5 / 3, abs=1e-3)
    assert summary["best_style"] == "a"
    table = markdown(summary)
    assert "| `a` | 50% (1/2) | 100% (1/1) | **75%** | 0 | 0 | 1.7 |" in table
    paths = write_report(summary, tmp_path)
    assert json.loads(paths["json"].read_text())["overall"]["b"]["accuracy"] == 0.5
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert best_style(tmp_path) == "a"
    assert best_style(tmp_path / "results.json", model_id="m") == "a"
    with pytest.raises(NoResults):
        best_style(tmp_path, model_id="other")


def test_best_style_looks_into_one_folder_per_model(tmp_path: Path) -> None:
    for model, winner in (("m", "a"), ("n", "b")):
        records = [_record("a", "simple_python", "s1", winner == "a", model=model),
                   _record("b", "simple_python", "s1", winner == "b", model=model)]
        summary = summarize(records, model=model, styles=["a", "b"], plan={"simple_python": ["s1"]})
        write_report(summary, tmp_path / model, png=False)
    assert best_style(tmp_path, "m") == "a"
    assert best_style(tmp_path, "n") == "b"
    with pytest.raises(NoResults):
        best_style(tmp_path / "missing")
