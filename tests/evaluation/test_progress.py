"""Progress off a terminal (``toolproxy eval > log 2>&1``): whole lines, one per finished style and category
(and every N questions of a long one), never carriage-return bar updates (issue 14)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from toolproxy.evaluation import runner
from toolproxy.evaluation.bfcl import Question
from toolproxy.evaluation.progress import Lines
from toolproxy.evaluation.runner import Record, RunOptions


class _Client:
    model_id = "m"


def _question(category: str, i: int) -> Question:
    return Question(category=category, id=f"{category}_{i}", turns=[], functions=[])


def test_a_run_off_a_terminal_writes_one_line_per_style_and_category(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    def answer(client: Any, style: str, q: Question, options: RunOptions) -> Record:
        correct = q.id.endswith(("_0", "_1"))
        return Record("m", style, q.category, q.id, correct, q.id.endswith("_2"), None, None, [], None, 0.1, 3, 1)

    monkeypatch.setattr(runner, "run_question", answer)
    questions = [_question(c, i) for c in ("simple_python", "irrelevance") for i in range(4)]
    runner.run(_Client(), ["hermes", "pythonic"], questions, tmp_path, RunOptions(progress=True))  # type: ignore[arg-type]
    err = capsys.readouterr().err  # pytest's captured stderr is not a terminal
    assert "\r" not in err
    assert err.splitlines() == [
        "[4/16] hermes simple_python: 2/4 correct (50%), 1 malformed",
        "[8/16] pythonic simple_python: 2/4 correct (50%), 1 malformed",
        "[12/16] hermes irrelevance: 2/4 correct (50%), 1 malformed",
        "[16/16] pythonic irrelevance: 2/4 correct (50%), 1 malformed",
    ]


def test_a_long_group_also_reports_every_n_questions() -> None:
    out = io.StringIO()
    lines = Lines(7, out, every=3)
    for i in range(7):
        lines.done("hermes", "simple_python", i % 2 == 0, False)
    lines.close()
    assert out.getvalue().splitlines() == [
        "[3/7] hermes simple_python so far: 2/3 correct (67%), 0 malformed",
        "[6/7] hermes simple_python so far: 3/6 correct (50%), 0 malformed",
        "[7/7] hermes simple_python: 4/7 correct (57%), 0 malformed",
    ]


def test_no_progress_writes_nothing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                    tmp_path: Path) -> None:
    monkeypatch.setattr(runner, "run_question", lambda c, s, q, o: Record(
        "m", s, q.category, q.id, True, False, None, None, [], None, 0.1, 3, 1))
    runner.run(_Client(), ["hermes"], [_question("simple_python", 0)], tmp_path,  # type: ignore[arg-type]
               RunOptions(progress=False))
    assert capsys.readouterr().err == ""
