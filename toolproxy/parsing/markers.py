"""Finding literal markers in a growing buffer without ever leaking half a marker."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MarkerHit:
    """``marker`` is None for a *possible* marker: the buffer ends with a proper prefix of one at
    ``index``, so the text from ``index`` on must be held back until more arrives."""

    index: int
    marker: str | None


def find_marker(buf: str, markers: tuple[str, ...], *, final: bool) -> MarkerHit | None:
    """The earliest complete or possible marker in ``buf`` (the longest complete one at a position;
    a possible longer one at the same position wins, since more text may complete it)."""
    best: MarkerHit | None = None
    for marker in markers:
        i = buf.find(marker)
        if i >= 0 and (
            best is None
            or i < best.index
            or (i == best.index and best.marker is not None and len(marker) > len(best.marker))
        ):
            best = MarkerHit(i, marker)
    if final:
        return best
    for marker in markers:
        for k in range(min(len(marker) - 1, len(buf)), 0, -1):
            if buf.endswith(marker[:k]):
                i = len(buf) - k
                if best is None or i <= best.index:
                    best = MarkerHit(i, None)
                break
    return best


def held_suffix(buf: str, marker: str) -> int:
    """Length of the longest suffix of ``buf`` that is a proper prefix of ``marker``."""
    for k in range(min(len(marker) - 1, len(buf)), 0, -1):
        if buf.endswith(marker[:k]):
            return k
    return 0
