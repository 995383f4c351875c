"""``toolproxy eval`` without its extra: one clear line naming the install commands, exit 2, no traceback
(issue 14). The missing package is simulated (``sys.modules[name] = None`` makes its import fail)."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator

import pytest

from toolproxy.evaluation import checker
from toolproxy.evaluation.cli import eval_main
from toolproxy.evaluation.extras import BFCL_EVAL, EVAL_EXTRA, MissingDependency
from toolproxy.evaluation.progress import progress

NOWHERE = ["--base-url", "http://127.0.0.1:9", "--styles", "hermes", "--categories", "simple_python", "--n", "1"]


def _hide(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, package, None)


@pytest.fixture
def fresh_checker() -> Iterator[None]:
    checker._bfcl.cache_clear()
    yield
    checker._bfcl.cache_clear()


def _one_clear_line(err: str, package: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("toolproxy eval: ")
    assert repr(package) in lines[0] and EVAL_EXTRA in lines[0] and BFCL_EVAL in lines[0], lines[0]


@pytest.mark.parametrize(("package", "argv"), [
    ("matplotlib", NOWHERE),
    ("bfcl_eval", [*NOWHERE, "--no-chart"]),
    ("mpmath", [*NOWHERE[:-4], "--categories", "multi_turn_base", "--n", "1", "--no-chart"]),
])
def test_a_missing_package_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                  fresh_checker: None, package: str, argv: list[str]) -> None:
    _hide(monkeypatch, package)
    assert eval_main(argv) == 2
    _one_clear_line(capsys.readouterr().err, package)


def test_the_progress_bar_needs_tqdm_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    _hide(monkeypatch, "tqdm")
    with pytest.raises(MissingDependency, match=r"--no-progress.*'tqdm'.*toolproxy\[eval\]"):
        progress(3, True, Terminal())
    lines = progress(3, True, io.StringIO())  # off a terminal: plain lines, no tqdm needed
    lines.done("hermes", "simple_python", True, False)
    lines.close()


def test_the_command_itself_exits_non_zero_without_a_traceback() -> None:
    """Through ``python -m toolproxy`` in a fresh interpreter where matplotlib cannot be imported."""
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from toolproxy.cli import main\n"
            f"raise SystemExit(main(['eval', *{NOWHERE!r}]))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    _one_clear_line(done.stderr, "matplotlib")
    assert done.stdout == ""
