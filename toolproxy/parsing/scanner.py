"""The one incremental scanner: model output text in, :mod:`~toolproxy.parsing.events` out.

``Scanner(fmt).feed(chunk)`` returns the events the text so far allows; ``finish()`` flushes the rest.
Non-streaming is the same scanner fed the whole text once, so both paths agree by construction: every
decision depends only on the characters, never on where chunks were split (a marker split across chunks
is held back until it is complete or ruled out).

Output that does not parse is never dropped. A failure inside a region that has emitted nothing yet
turns the region's raw text into content; after a call has started, the call is closed with the
arguments it has and the rest continues as text. Each failure is recorded in ``failures`` (the service
logs them). Input that ends inside a region (``max_tokens``) closes the open call with its partial
arguments, like OpenAI under ``finish_reason: "length"``, and sets ``incomplete``; a region cut off
before its call's name was complete comes out as content.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolproxy.parsing.bodies import BodyFailure, BodyParser, body_parser
from toolproxy.parsing.emitter import Emitter
from toolproxy.parsing.events import Event
from toolproxy.parsing.format import OutputFormat, Region
from toolproxy.parsing.markers import find_marker, held_suffix

__all__ = ["OutputFormat", "ParseFailure", "Scanner"]


@dataclass(frozen=True)
class ParseFailure:
    offset: int
    """Character offset in the scanned text (generation prefix included) where parsing failed."""
    reason: str


class Scanner:
    def __init__(self, fmt: OutputFormat) -> None:
        self._fmt = fmt
        self._out = Emitter(dedupe=fmt.dedupe_calls, continues=fmt.continues)
        self._buf = ""
        self._pos = 0  # absolute offset of _buf[0]
        self._mode = "start" if fmt.think else "text"  # start | think | text | region | after
        self._anchor_open = True
        self._region: Region | None = None
        self._body: BodyParser | None = None
        self._region_raw = ""
        self._region_count = 0
        self._finished = False
        self.failures: list[ParseFailure] = []
        self.incomplete = False
        """The output ended inside a think block or a call region (cut off, e.g. by max_tokens)."""
        starts = {r.start: r for r in fmt.regions if not r.anchored}
        self._starts = starts
        self._anchored = {r.start: r for r in fmt.regions if r.anchored}
        self._text_markers = tuple(starts) + tuple(m for m in fmt.silent if m not in starts)

    @property
    def dropped_duplicates(self) -> int:
        """Exact repeats of an earlier call in this answer that were dropped (see ``OutputFormat``)."""
        return self._out.dropped

    @property
    def looping(self) -> bool:
        """The model has repeated a call exactly: what follows is almost surely more repeats, so the
        caller may stop generating now (then ``finish()``) and answer with the calls it has."""
        return self._out.dropped > 0

    @property
    def problems(self) -> list[str]:
        """The parse failures (and dropped duplicate calls) as log lines."""
        lines = [f"parse failure at offset {f.offset}: {f.reason}" for f in self.failures]
        if self._out.dropped:
            lines.append(f"{self._out.dropped} repeated call(s) dropped")
        return lines

    def feed(self, chunk: str) -> list[Event]:
        if self._finished:
            raise RuntimeError("Scanner.feed after finish")
        self._buf += chunk
        self._run(final=False)
        return self._out.drain()

    def finish(self) -> list[Event]:
        if not self._finished:
            self._finished = True
            self._run(final=True)
            if self._mode == "region":
                self._truncated_region()
            elif self._mode == "think":
                self.incomplete = True
        return self._out.drain()

    # ------------------------------------------------------------------ driver

    def _consume(self, n: int) -> str:
        taken, self._buf = self._buf[:n], self._buf[n:]
        self._pos += n
        return taken

    def _run(self, *, final: bool) -> None:
        steps = {
            "start": self._step_start,
            "think": self._step_think,
            "text": self._step_text,
            "region": self._step_region,
            "after": self._step_after,
        }
        while self._buf and steps[self._mode](final):
            pass

    def _step_start(self, final: bool) -> bool:
        assert self._fmt.think is not None  # mode "start" exists only with think markers
        opener, closer = self._fmt.think
        stripped = self._buf.lstrip()
        if stripped.startswith(opener):
            self._consume(len(self._buf) - len(stripped) + len(opener))
            self._mode = "think"
            return True
        if stripped.startswith(closer):  # an empty block written as its closer alone (MiniMax M3's </mm:think>)
            self._consume(len(self._buf) - len(stripped) + len(closer))
            self._mode = "text"
            return True
        if not final and (not stripped or opener.startswith(stripped) or closer.startswith(stripped)):
            return False
        self._mode = "text"
        return True

    def _step_think(self, final: bool) -> bool:
        assert self._fmt.think is not None
        closer = self._fmt.think[1]
        i = self._buf.find(closer)
        if i >= 0:
            self._out.reasoning(self._consume(i))
            self._consume(len(closer))
            self._mode = "text"
            return True
        keep = 0 if final else held_suffix(self._buf, closer)
        self._out.reasoning(self._consume(len(self._buf) - keep))
        return False

    def _step_text(self, final: bool) -> bool:
        if self._anchor_open and self._anchored:
            stripped = self._buf.lstrip()
            if not stripped:
                return self._emit_text_all(final)
            lead = len(self._buf) - len(stripped)
            for start, anchored in self._anchored.items():
                if stripped.startswith(start):
                    self._consume(lead)
                    self._enter(anchored)
                    return True
                if not final and start.startswith(stripped):
                    return False
            self._anchor_open = False
        hit = find_marker(self._buf, self._text_markers, final=final)
        if hit is None:
            return self._emit_text_all(final)
        self._text(self._consume(hit.index))
        if hit.marker is None:
            return False
        region = self._starts.get(hit.marker)
        if region is None:  # a silent marker
            self._consume(len(hit.marker))
            return True
        self._enter(region)
        return True

    def _emit_text_all(self, final: bool) -> bool:
        self._text(self._consume(len(self._buf)))
        return False

    def _text(self, text: str) -> None:
        if text and not text.isspace():
            self._anchor_open = False
        self._out.text(text)

    def _enter(self, region: Region) -> None:
        self._region = region
        self._body = body_parser(region.body, self._out)
        self._region_raw = "" if region.keep_start else self._consume(len(region.start))
        self._region_count = self._out.activity
        self._anchor_open = False
        self._mode = "region"

    def _step_region(self, final: bool) -> bool:
        body = self._body
        assert body is not None
        try:
            n = body.feed(self._buf)
        except BodyFailure as exc:
            self._failed(exc)
            return True
        self._region_raw += self._consume(n)
        if not body.done:
            return False
        region = self._region
        assert region is not None
        self._mode = "after" if region.end else "text"
        return True

    def _failed(self, exc: BodyFailure) -> None:
        body = self._body
        assert body is not None
        self.failures.append(ParseFailure(self._pos + exc.index, exc.reason))
        bad = self._consume(exc.index + 1)
        if self._out.activity == self._region_count:
            self._out.discard_held()
            self._out.text(self._region_raw + bad)
        else:
            body.abort()
            self._out.text(bad[-1])
        self._mode = "text"

    def _truncated_region(self) -> None:
        body = self._body
        assert body is not None
        body.finish()
        if not body.done:
            self.incomplete = True
            if self._out.activity == self._region_count:
                self._out.discard_held()
                self._out.text(self._region_raw)
                self.failures.append(ParseFailure(self._pos, "output ended inside a tool call"))

    def _step_after(self, final: bool) -> bool:
        region = self._region
        assert region is not None and region.end is not None
        stripped = self._buf.lstrip()
        if stripped.startswith(region.end):
            self._consume(len(self._buf) - len(stripped) + len(region.end))
            self._mode = "text"
            return True
        if not final and (not stripped or region.end.startswith(stripped)):
            return False
        if region.repeat and stripped.startswith("{"):  # another body of the same region
            self._consume(len(self._buf) - len(stripped))
            self._body = body_parser(region.body, self._out)
            self._region_raw = ""
            self._region_count = self._out.activity
            self._mode = "region"
            return True
        self._mode = "text"  # a missing closing marker is tolerated
        return True
