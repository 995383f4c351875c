"""``toolproxy eval`` end to end on the embedded model: a tiny run, its outputs, and resuming an interrupted run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from toolproxy.evaluation.cli import eval_main
from toolproxy.evaluation.report import summarize
from toolproxy.evaluation.runner import RECORDS_FILE, load_records

pytestmark = pytest.mark.slow

STYLES = ["hermes", "thoughtful_steps"]
CATEGORIES = ["simple_python", "irrelevance"]


def _argv(model_path: str, out: Path) -> list[str]:
    return ["--model", model_path, "--styles", ",".join(STYLES), "--categories", *CATEGORIES, "--n", "2",
            "--seed", "7", "--max-tokens", "32", "--threads", "2", "--ctx", "4096", "--out", str(out),
            "--no-progress"]


@pytest.fixture(scope="module")
def first_run(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval")
    assert eval_main(_argv(model_path, out)) == 0
    return out


def test_eval_writes_table_json_and_chart_matching_the_records(first_run: Path) -> None:
    records = load_records(first_run / RECORDS_FILE)
    assert len(records) == len(STYLES) * len(CATEGORIES) * 2
    assert {(r.style, r.category) for r in records} == {(s, c) for s in STYLES for c in CATEGORIES}
    assert all(r.latency_s > 0 and r.requests == 1 for r in records)
    results: dict[str, Any] = json.loads((first_run / "results.json").read_text())
    plan = results["questions"]
    assert all(len(plan[c]) == 2 for c in CATEGORIES)
    again = summarize(records, model=results["model"], styles=STYLES, plan=plan)
    for style in STYLES:
        for category in CATEGORIES:
            mine = [r for r in records if r.style == style and r.category == category]
            cell = results["by_category"][style][category]
            assert cell["answered"] == len(mine) == 2
            assert cell["correct"] == sum(r.correct for r in mine)
        assert results["overall"][style] == again["overall"][style]
    table = (first_run / "results.md").read_text()
    for style in STYLES:
        assert f"`{style}`" in table
        first = results["by_category"][style][CATEGORIES[0]]
        assert f"({first['correct']}/2)" in table
    assert (first_run / "results.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_resumes_an_interrupted_run(first_run: Path, model_path: str, tmp_path: Path) -> None:
    out = tmp_path / "resumed"
    shutil.copytree(first_run, out)
    lines = (out / RECORDS_FILE).read_text().splitlines()
    kept, dropped = lines[:-2], lines[-2:]
    # an interruption: two questions never answered, the last record torn mid-write
    (out / RECORDS_FILE).write_text("\n".join(kept) + "\n" + dropped[0][: len(dropped[0]) // 2])
    assert eval_main(_argv(model_path, out)) == 0
    after = (out / RECORDS_FILE).read_text().splitlines()
    assert after[: len(kept)] == kept  # nothing redone
    records = load_records(out / RECORDS_FILE)
    assert len(records) == len(lines)  # the two missing ones answered, the torn line ignored
    assert {r.key for r in records} == {r.key for r in load_records(first_run / RECORDS_FILE)}
