"""Progress of an evaluation run, on stderr: a tqdm bar on a terminal, plain lines anywhere else.

Off a terminal (``toolproxy eval > log 2>&1``, CI, a pipe) a bar would write a carriage-return update per
question into the file; instead one line is written per finished (style, category) group and every
``every`` questions within a long group, each a complete line that ``tail -f`` and ``grep`` can read.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import IO, Any, Protocol

from toolproxy.evaluation.extras import require

BAR = "the progress bar of toolproxy eval (or pass --no-progress)"
LINE_EVERY = 25  # questions between two lines within one (style, category) group, off a terminal


class Progress(Protocol):
    def done(self, style: str, category: str, correct: bool, malformed: bool) -> None:
        """One question answered."""

    def close(self) -> None:
        """The run ended (or stopped): finish the last group's line."""


def progress(total: int, enabled: bool = True, stream: IO[str] | None = None) -> Progress:
    """The progress reporter for ``total`` questions: nothing when disabled, a bar on a TTY, else lines."""
    stream = stream if stream is not None else sys.stderr
    if not enabled or total == 0:
        return _Silent()
    if _is_tty(stream):
        return _Bar(total, stream)
    return Lines(total, stream)


def check_available(enabled: bool = True, stream: IO[str] | None = None) -> None:
    """Raise :class:`~toolproxy.evaluation.extras.MissingDependency` now if the bar will be needed and tqdm is
    missing (off a terminal it is not needed)."""
    if enabled and _is_tty(stream if stream is not None else sys.stderr):
        require("tqdm", BAR)


def _is_tty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


class _Silent:
    def done(self, style: str, category: str, correct: bool, malformed: bool) -> None:
        return None

    def close(self) -> None:
        return None


class _Bar:
    def __init__(self, total: int, stream: IO[str]) -> None:
        tqdm = require("tqdm", BAR).tqdm
        self._bar: Any = tqdm(total=total, unit="q", file=stream, dynamic_ncols=True)
        self._right = self._answered = 0

    def done(self, style: str, category: str, correct: bool, malformed: bool) -> None:
        self._answered += 1
        self._right += int(correct)
        self._bar.set_description(f"{style} {category}")
        self._bar.set_postfix(acc=f"{self._right / self._answered:.0%}", malformed=malformed)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


@dataclass
class _Group:
    style: str
    category: str
    answered: int = 0
    correct: int = 0
    malformed: int = 0


class Lines:
    """``[12/120] hermes simple_python: 7/10 correct (70%), 1 malformed`` per finished group (and every
    ``every`` questions of a long one), flushed as written."""

    def __init__(self, total: int, stream: IO[str], every: int = LINE_EVERY) -> None:
        self._total = total
        self._stream = stream
        self._every = every
        self._count = 0
        self._group: _Group | None = None

    def done(self, style: str, category: str, correct: bool, malformed: bool) -> None:
        group = self._group
        if group is not None and (group.style, group.category) != (style, category):
            self._line(group, finished=True)
            group = None
        if group is None:
            group = self._group = _Group(style, category)
        self._count += 1
        group.answered += 1
        group.correct += int(correct)
        group.malformed += int(malformed)
        if group.answered % self._every == 0 and self._count < self._total:
            self._line(group, finished=False)

    def close(self) -> None:
        if self._group is not None:
            self._line(self._group, finished=True)
            self._group = None

    def _line(self, group: _Group, *, finished: bool) -> None:
        state = "" if finished else " so far"
        share = f"{group.correct / group.answered:.0%}" if group.answered else "-"
        self._stream.write(f"[{self._count}/{self._total}] {group.style} {group.category}{state}: "
                           f"{group.correct}/{group.answered} correct ({share}), {group.malformed} malformed\n")
        self._stream.flush()
