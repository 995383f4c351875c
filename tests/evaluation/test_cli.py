"""Command-line parsing of ``toolproxy eval``."""

from __future__ import annotations

import pytest

from toolproxy.evaluation.cli import resolve_categories
from toolproxy.evaluation.errors import EvalSetupError


def test_category_sizes_and_unknown_names_on_the_command_line() -> None:
    assert resolve_categories(["simple_python:4,irrelevance", "multi_turn_base:1"]) == (
        ["simple_python", "irrelevance", "multi_turn_base"], {"simple_python": 4, "multi_turn_base": 1})
    with pytest.raises(EvalSetupError):
        resolve_categories(["simple_cobol"])
    with pytest.raises(EvalSetupError):
        resolve_categories(["simple_python:x"])


def test_eval_is_a_toolproxy_command(capsys: pytest.CaptureFixture[str]) -> None:
    from toolproxy.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "--help"])
    assert exit_info.value.code == 0
    assert "--categories" in capsys.readouterr().out


def test_unknown_style_is_refused_before_any_model_work(capsys: pytest.CaptureFixture[str]) -> None:
    from toolproxy.evaluation.cli import eval_main

    assert eval_main(["--base-url", "http://127.0.0.1:9", "--styles", "nope"]) == 2
    assert "unknown style" in capsys.readouterr().err
