"""Jump-forward: where the grammar admits exactly one continuation, decode its tokens in one batch.

Once a model has chosen ``get_weather`` the grammar alone decides ``", "arguments": {"city": "``; choosing each
of those tokens costs a whole decode step although nothing is chosen. Here the grammar is asked which bytes
every admissible continuation starts with (:meth:`GrammarGate.forced_bytes`, probing one single-byte token per
byte value on a clone of the grammar), the forced bytes are tokenized as the tokenizer would write them, and
the tokens are appended to the next ``llama_decode`` together with the token the model just chose.

The token boundary: the tokenizer's last token of the forced text is held back (the model chooses it, or a
longer token that runs on into the free part, itself), so the forced text never ends in a split the model
would not write (llguidance's rule). Every forced token is checked by the grammar before it is accepted: a
token the grammar refuses must never reach llama.cpp's grammar sampler (it aborts the process); a refused
token ends the forced run there. Forcing covers ASCII only (multi-byte characters are left to the model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from toolproxy.backends._grammar import GrammarGate

MAX_FORCED_BYTES = 512

# Bytes a UTF-8 text can start with: ASCII (but NUL) and the lead bytes of 2-4 byte characters. A vocabulary
# without a single-byte token for one of them cannot be probed exactly: jump-forward is then off.
_FIRST_BYTES = (*range(0x01, 0x80), *range(0xC2, 0xF5))


@dataclass(frozen=True)
class ByteProbe:
    """One single-byte token per byte value a continuation may start with, then the end-of-generation tokens."""

    tokens: tuple[int, ...]
    byte_values: tuple[int, ...]
    n_eog: int

    @classmethod
    def from_pieces(cls, pieces: Sequence[bytes], eog: Sequence[int]) -> ByteProbe | None:
        """The probe of a vocabulary (token ``t`` spelled ``pieces[t]``), or None if a byte has no token."""
        by_byte: dict[int, int] = {}
        for tok, piece in enumerate(pieces):
            if len(piece) == 1 and tok not in eog:
                by_byte.setdefault(piece[0], tok)
        if any(b not in by_byte for b in _FIRST_BYTES):
            return None
        return cls(tuple(by_byte[b] for b in _FIRST_BYTES) + tuple(eog), _FIRST_BYTES, len(eog))


class Tokenize(Protocol):
    """What the jump needs of the runtime: bytes -> tokens, token -> bytes."""

    def tokenize_bytes(self, data: bytes) -> list[int]: ...

    def piece(self, token: int) -> bytes: ...


def forced_tokens(rt: Tokenize, gate: GrammarGate, probe: ByteProbe, room: int) -> list[tuple[int, bytes]]:
    """The tokens (and their bytes) the grammar forces next, at most ``room``; the gate is not moved.

    The caller accepts each through :meth:`GrammarGate.accept` (which checks it) and stops at the first the
    grammar refuses.
    """
    if room <= 0:
        return []
    forced = gate.forced_bytes(probe.tokens, probe.byte_values, probe.n_eog, min(MAX_FORCED_BYTES, 8 * room))
    if not forced:
        return []
    tokens = rt.tokenize_bytes(forced)[:-1]  # the last one is the model's to choose (the token boundary)
    out = [(tok, rt.piece(tok)) for tok in tokens[:room]]
    if not forced.startswith(b"".join(piece for _, piece in out)):  # a tokenizer that rewrites text: no jump
        return []
    return out
