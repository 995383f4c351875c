"""Chat deltas regrouped into blocks: a change of kind closes the open block, each call is its own block."""

from __future__ import annotations

from toolproxy.api.answer import BlockDelta, BlockStart, BlockStop, _Grouper
from toolproxy.protocol import Delta, DeltaFunctionCall, DeltaToolCall


def call_start(index: int, call_id: str, name: str) -> Delta:
    return Delta(tool_calls=[DeltaToolCall(index=index, id=call_id, type="function",
                                           function=DeltaFunctionCall(name=name, arguments=""))])


def call_args(index: int, text: str) -> Delta:
    return Delta(tool_calls=[DeltaToolCall(index=index, function=DeltaFunctionCall(arguments=text))])


def test_blocks() -> None:
    grouper = _Grouper()
    deltas = [Delta(role="assistant", content=""), Delta(reasoning_content="hm"), Delta(content="Hi"),
              Delta(content="!"), call_start(0, "call_a", "f"), call_args(0, '{"x"'), call_args(0, ": 1}"),
              call_start(1, "call_b", "g"), call_args(1, "{}")]
    events = [event for delta in deltas for event in grouper.delta(delta)] + grouper.close()
    assert events == [
        BlockStart(0, "reasoning"), BlockDelta(0, "hm"), BlockStop(0),
        BlockStart(1, "text"), BlockDelta(1, "Hi"), BlockDelta(1, "!"), BlockStop(1),
        BlockStart(2, "call", "call_a", "f"), BlockDelta(2, '{"x"'), BlockDelta(2, ": 1}"), BlockStop(2),
        BlockStart(3, "call", "call_b", "g"), BlockDelta(3, "{}"), BlockStop(3),
    ]
    assert grouper.close() == []
