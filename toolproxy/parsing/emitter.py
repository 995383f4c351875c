"""Where the scanner's parts put their events: numbering of calls, whitespace trimming, merging.

Text and reasoning are trimmed the same way on both paths: whitespace at the very start of a channel is
dropped, trailing whitespace is held back and only emitted once non-blank text follows (so whitespace
around call markers never becomes a stray ``"\\n"`` content). Consecutive deltas of the same kind are
merged, so one ``feed`` yields few events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from toolproxy.parsing.events import ArgsDelta, CallEnd, CallStart, Event, ReasoningDelta, TextDelta


@dataclass
class _Call:
    name: str
    held: bool
    index: int = -1
    args: list[str] = field(default_factory=list)
    ended: bool = False
    complete: bool = False
    dropped: bool = False


class Emitter:
    def __init__(self, *, dedupe: bool = True, continues: bool = False) -> None:
        self._events: list[Event] = []
        self._next_index = 0
        self._dedupe = dedupe
        self._calls: list[_Call] = []
        self.dropped = 0
        """Duplicate calls dropped so far."""
        self._held = {"text": "", "reasoning": ""}
        self._started = {"text": continues, "reasoning": False}  # continued text keeps its leading space
        self.count = 0
        """Events emitted so far (the scanner compares it to know whether a region produced output)."""

    @property
    def activity(self) -> int:
        """Changes so far (events emitted or calls dropped): the scanner compares it to know whether a
        region produced anything."""
        return self.count + self.dropped

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
    #
    # Bodies address calls by a *handle*; the emitted index is assigned when the CallStart goes out, so
    # indexes stay dense when a duplicate is dropped. With ``dedupe``, a call to a tool already called in
    # this answer is held until it ends: an exact repeat (same name, same arguments) is dropped, and so is
    # a cut-off call whose arguments are a prefix of an earlier call's (small models repeat their call
    # until max_tokens). Calls to tools not called before stream incrementally.

    def call_start(self, name: str) -> int:
        handle = len(self._calls)
        call = _Call(name, held=self._dedupe and any(c.name == name for c in self._calls))
        self._calls.append(call)
        if not call.held:
            call.index = self._start(name)
        return handle

    def args(self, handle: int, text: str) -> None:
        if not text:
            return
        call = self._calls[handle]
        call.args.append(text)
        if call.held:
            return
        index = call.index
        self.count += 1
        last = self._events[-1] if self._events else None
        if isinstance(last, ArgsDelta) and last.index == index:
            self._events[-1] = ArgsDelta(index, last.text + text)
            return
        self._events.append(ArgsDelta(index, text))

    def whole_call(self, name: str, arguments: str) -> None:
        """A call read whole at once (its closing marker came with it): start, arguments, end."""
        handle = self.call_start(name)
        self.args(handle, arguments)
        self.call_end(handle)

    def call_end(self, handle: int, *, complete: bool = True) -> None:
        """``complete`` False: the call was cut off or broken (its arguments may be partial)."""
        call = self._calls[handle]
        call.complete = complete
        call.ended = True
        if call.held:
            call.held = False
            arguments = "".join(call.args)
            if self._repeats(call, arguments):
                call.dropped = True
                self.dropped += 1
                return
            call.index = self._start(call.name)
            if arguments:
                self._push(ArgsDelta(call.index, arguments))
        self._push(CallEnd(call.index))

    def discard_held(self) -> None:
        """Forget held calls (their raw text is being emitted as content instead)."""
        for call in self._calls:
            if call.held and not call.ended:
                call.held = False
                call.ended = True
                call.dropped = True

    def _repeats(self, call: _Call, arguments: str) -> bool:
        for other in self._calls:
            if other is call or other.name != call.name or not other.complete or other.dropped:
                continue
            earlier = "".join(other.args)
            if arguments == earlier if call.complete else earlier.startswith(arguments):
                return True
        return False

    def _start(self, name: str) -> int:
        index = self._next_index
        self._next_index += 1
        self._push(CallStart(index, name))
        return index

    def _push(self, event: Event) -> None:
        self._events.append(event)
        self.count += 1
