"""A byte-prefix tree over the vocabulary, to find every token a grammar may allow without asking about all.

Grammar acceptance is prefix-closed: if llama.cpp's grammar accepts a token whose text is ``p + q``, it
accepts any token whose text is exactly ``p`` (the grammar consumes the text character by character and
keeps a token as long as some parse survives). So when the token spelled exactly ``p`` is refused, every
token starting with ``p`` is refused too, and we need not ask about them.

The tree groups tokens by leading bytes; a group larger than ``SPLIT`` is split by its next byte. To list
the candidates of a grammar state we ask the grammar about one representative per group, level by level
(a few hundred tokens instead of 262k), and keep the groups whose representative passes (or that have
none). The candidates are a superset of the allowed tokens; the grammar still has the last word on each.

Not valid for grammars with token rules (``<[123]>``, ``<|tok|>``: matched by id, not text) nor in the
middle of a UTF-8 character; callers fall back to the whole vocabulary there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

SPLIT = 512

IntArray = npt.NDArray[np.int64]
Check = Callable[[Sequence[int]], npt.NDArray[np.bool_]]


@dataclass
class _Node:
    lo: int  # range in the sorted order
    hi: int
    rep: int  # a token whose text is exactly this prefix, -1 if none
    exact_hi: int  # [lo, exact_hi): all tokens spelled exactly this prefix (byte tokens duplicate others)
    children: list[_Node] = field(default_factory=list)


class VocabIndex:
    """Built once per model from every token's bytes (special tokens as their text)."""

    def __init__(self, pieces: Sequence[bytes], always: Sequence[int]) -> None:
        """``always``: tokens that are always candidates (end-of-generation); empty pieces are never."""
        skip = set(always)
        usable = [i for i, p in enumerate(pieces) if p and p[0] != 0 and i not in skip]
        usable.sort(key=pieces.__getitem__)
        self._sorted: IntArray = np.asarray(usable, dtype=np.int64)
        self._always: IntArray = np.asarray(sorted(skip), dtype=np.int64)
        sp = [pieces[i] for i in usable]
        self._roots = self._split(sp, 0, len(sp), 0)

    def _split(self, sp: list[bytes], lo: int, hi: int, depth: int) -> list[_Node]:
        """Children of the range [lo, hi) whose texts share ``depth`` leading bytes, by their next byte."""
        nodes: list[_Node] = []
        i = lo
        while i < hi:
            if len(sp[i]) <= depth:  # the range's own representative: handled by the parent
                i += 1
                continue
            byte = sp[i][depth]
            j = i
            while j < hi and len(sp[j]) > depth and sp[j][depth] == byte:
                j += 1
            exact_hi = i
            while exact_hi < j and len(sp[exact_hi]) == depth + 1:
                exact_hi += 1
            rep = int(self._sorted[i]) if exact_hi > i else -1
            node = _Node(i, j, rep, exact_hi)
            if j - i > SPLIT:
                node.children = self._split(sp, i, j, depth + 1)
            nodes.append(node)
            i = j
        return nodes

    def candidates(self, check: Check) -> IntArray:
        """Every token the grammar might allow now (a superset), given ``check`` (the grammar's verdicts)."""
        parts: list[IntArray] = [self._always]
        frontier = self._roots
        while frontier:
            reps = [n.rep for n in frontier if n.rep >= 0]
            verdict = dict(zip(reps, check(reps).tolist(), strict=True)) if reps else {}
            deeper: list[_Node] = []
            for node in frontier:
                if node.rep >= 0 and not verdict[node.rep]:
                    continue
                if node.children:
                    parts.append(self._sorted[node.lo : node.exact_hi])
                    deeper.extend(node.children)
                else:
                    parts.append(self._sorted[node.lo : node.hi])
            frontier = deeper
        return np.concatenate(parts)
