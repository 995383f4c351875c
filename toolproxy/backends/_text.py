"""Turning generated token bytes into safe text pieces: whole UTF-8 characters, stop strings held back."""

from __future__ import annotations

import codecs


class StopScanner:
    """Incremental UTF-8 decoding + stop-string detection.

    :meth:`feed` takes a token's bytes and returns the text that can be emitted now: never half a
    multi-byte character (bytes are buffered until they decode), never a stop string, and never a tail
    that might be the start of one (held back until it is clearly not). After a stop string is found,
    :attr:`stopped` is true and the text before it has been returned.
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""
        self.stopped = False
        self.matched: str | None = None  # the stop string found
        self.text = ""  # everything emitted so far

    def feed(self, data: bytes) -> str:
        if self.stopped:
            return ""
        return self._scan(self._decoder.decode(data))

    def flush(self) -> str:
        """End of generation without a stop string: release what was held back."""
        if self.stopped:
            return ""
        out = self._scan(self._decoder.decode(b"", final=True))
        out += self._held
        self.text += self._held
        self._held = ""
        return out

    def _scan(self, new: str) -> str:
        buf = self._held + new
        if not self._stops:
            self._held = ""
            self.text += buf
            return buf
        found = [(i, s) for s in self._stops if (i := buf.find(s)) >= 0]
        cut = min(found)[0] if found else -1
        if cut >= 0:
            self.stopped = True
            self.matched = min(found)[1]
            self._held = ""
            self.text += buf[:cut]
            return buf[:cut]
        keep = 0
        for s in self._stops:
            for n in range(min(len(s) - 1, len(buf)), keep, -1):
                if buf.endswith(s[:n]):
                    keep = n
                    break
        out = buf[: len(buf) - keep]
        self._held = buf[len(buf) - keep :]
        self.text += out
        return out
