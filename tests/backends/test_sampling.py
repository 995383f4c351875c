"""TokenPicker's closing rule on a fake grammar gate and vocabulary (no model needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from toolproxy.backends._sampling import Closing, TokenPicker

PIECES = [b"0", b"5", b",", b", ", b"}", b" ]", b"x", b",\""]
ZERO, FIVE, COMMA, COMMA_SPACE, CLOSE_BRACE, CLOSE_BRACKET, X, COMMA_QUOTE = range(len(PIECES))


class Gate:
    """Allows a fixed set of token ids (the slice of GrammarGate the picker uses)."""

    def __init__(self, allowed: set[int]) -> None:
        self.ok = allowed

    def allows(self, tok: int) -> bool:
        return tok in self.ok

    def allowed(self, toks: Any) -> Any:
        return np.array([int(t) in self.ok for t in toks], dtype=bool)

    def candidates(self) -> Any:
        return np.array(sorted(self.ok), dtype=np.int64)

    def mask_all(self, logits: Any) -> Any:
        return np.where(np.isin(np.arange(logits.shape[0]), sorted(self.ok)), logits, -np.inf).astype(np.float32)


def logits(order: list[int]) -> Any:
    """Logits ranking the tokens in ``order`` first (best first)."""
    out = np.full(len(PIECES), -10.0, dtype=np.float32)
    for rank, tok in enumerate(order):
        out[tok] = 10.0 - rank
    return out


def test_closing_recognises_bare_separators_and_closers() -> None:
    closing = Closing.from_pieces(PIECES)
    assert closing.separators == {COMMA, COMMA_SPACE}  # `,"` starts the next key: not a bare separator
    assert sorted(closing.closers.tolist()) == [CLOSE_BRACE, CLOSE_BRACKET]


@pytest.mark.parametrize("reference", [False, True])
def test_refused_separator_closes_the_container(reference: bool) -> None:
    """After `"years": 5` the model wants `,` but no property may follow: close, do not write 50000…"""
    gate = Gate({ZERO, FIVE, CLOSE_BRACE})
    picker = TokenPicker(temperature=0.0, top_p=1.0, seed=0, gate=gate, reference=reference,  # type: ignore[arg-type]
                         closing=Closing.from_pieces(PIECES))
    assert picker.pick(logits([COMMA, ZERO, CLOSE_BRACE])) == CLOSE_BRACE
    plain = TokenPicker(temperature=0.0, top_p=1.0, seed=0, gate=gate, reference=reference)  # type: ignore[arg-type]
    assert plain.pick(logits([COMMA, ZERO, CLOSE_BRACE])) == ZERO  # without the rule: the next-best digit


def test_closing_changes_nothing_else() -> None:
    closing = Closing.from_pieces(PIECES)
    allowed_comma = TokenPicker(temperature=0.0, top_p=1.0, seed=0, gate=Gate({COMMA, ZERO, CLOSE_BRACE}),  # type: ignore[arg-type]
                                closing=closing)
    assert allowed_comma.pick(logits([COMMA, ZERO])) == COMMA  # the separator is allowed: taken
    no_closer = TokenPicker(temperature=0.0, top_p=1.0, seed=0, gate=Gate({ZERO, X}), closing=closing)  # type: ignore[arg-type]
    assert no_closer.pick(logits([COMMA, X, ZERO])) == X  # nothing may close here: the usual next-best
    other = TokenPicker(temperature=0.0, top_p=1.0, seed=0, gate=Gate({ZERO, CLOSE_BRACE}), closing=closing)  # type: ignore[arg-type]
    assert other.pick(logits([X, ZERO, CLOSE_BRACE])) == ZERO  # a refused non-separator: the usual next-best
    assert other.stats.closed == 0
