"""Where the scanner's parts put their events: numbering of calls, whitespace trimming, merging.

Text and reasoning are trimmed the same way on both paths: whitespace at the very start of a channel is
dropped, trailing whitespace is held back and only emitted once non-blank text follows (so whitespace
around call markers never becomes a stray ``"\\n"`` content). Consecutive deltas of the same kind are
merged, so one ``feed`` yields few events.
"""

from __future__ import annotations

from toolproxy.parsing.events import ArgsDelta, CallEnd, CallStart, Event, ReasoningDelta, TextDelta


class Emitter:
    def __init__(self) -> None:
        self._events: list[Event] = []
        self._next_index = 0
        self._held = {"text": "", "reasoning": ""}
        self._started = {"text": False, "reasoning": False}
        self.count = 0
        """Events emitted so far (the scanner compares it to know whether a region produced output)."""

    def drain(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    # ------------------------------------------------------------------ text channels

    def text(self, text: str) -> None:
        self._channel("text", text)

    def reasoning(self, text: str) -> None:
        self._channel("reasoning", text)

    def _channel(self, channel: str, text: str) -> None:
        if not text:
            return
        if not self._started[channel]:
            text = text.lstrip()
            if not text:
                return
            self._started[channel] = True
        body = text.rstrip()
        if not body:
            self._held[channel] += text
            return
        out = self._held[channel] + body
        self._held[channel] = text[len(body) :]
        self.count += 1
        last = self._events[-1] if self._events else None
        if channel == "text":
            if isinstance(last, TextDelta):
                self._events[-1] = TextDelta(last.text + out)
                return
            self._events.append(TextDelta(out))
        else:
            if isinstance(last, ReasoningDelta):
                self._events[-1] = ReasoningDelta(last.text + out)
                return
            self._events.append(ReasoningDelta(out))

    # ------------------------------------------------------------------ calls

    def call_start(self, name: str) -> int:
        index = self._next_index
        self._next_index += 1
        self._push(CallStart(index, name))
        return index

    def args(self, index: int, text: str) -> None:
        if not text:
            return
        self.count += 1
        last = self._events[-1] if self._events else None
        if isinstance(last, ArgsDelta) and last.index == index:
            self._events[-1] = ArgsDelta(index, last.text + text)
            return
        self._events.append(ArgsDelta(index, text))

    def call_end(self, index: int) -> None:
        self._push(CallEnd(index))

    def _push(self, event: Event) -> None:
        self._events.append(event)
        self.count += 1
