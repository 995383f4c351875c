"""A scripted backend for tests that need to inject faults (stall, die, garbage) or exact model output.

Like httpx's MockTransport: a handler decides what the "model" says for each request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from toolproxy.backends.base import (
    SAMPLING_FIELDS,
    Backend,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    TextPiece,
)
from toolproxy.errors import BackendError


@dataclass
class Script:
    """What the scripted model does for one request."""

    text: str = ""
    chunk_size: int = 3
    delay: float = 0.0  # seconds between pieces
    fail_after: int | None = None  # raise BackendError after this many pieces
    finish_reason: str = "stop"
    stop_sequence: str | None = None  # reported as the stop string that ended the text


Handler = Callable[[GenerationRequest], Script]


class ScriptedBackend(Backend):
    sampling_fields = frozenset(SAMPLING_FIELDS)  # recorded in ``requests``; the text is scripted anyway

    def __init__(self, handler: Handler, *, model_id: str = "scripted", context_size: int = 4096,
                 architecture: str = "gemma3") -> None:
        self._handler = handler
        self._info = ModelInfo(id=model_id, context_size=context_size, bos_token="<bos>", eos_token="<eos>",
                               extra={"architecture": architecture})
        self.requests: list[GenerationRequest] = []
        self.active = 0  # generations in progress (tests assert it drops back to 0)
        self.cancelled = 0

    def info(self) -> ModelInfo:
        return self._info

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        self.requests.append(request)
        script = self._handler(request)
        self.active += 1
        finished = False
        try:
            pieces = [script.text[i : i + script.chunk_size] for i in range(0, len(script.text), script.chunk_size)]
            for n, piece in enumerate(pieces):
                if script.fail_after is not None and n >= script.fail_after:
                    raise BackendError("scripted backend failure")
                if script.delay:
                    await asyncio.sleep(script.delay)
                yield TextPiece(piece)
            finished = True
            yield GenerationDone(
                finish_reason="length" if script.finish_reason == "length" else "stop",
                prompt_tokens=len(request.prompt) // 4,
                completion_tokens=len(pieces),
                stop_sequence=script.stop_sequence,
            )
        finally:
            self.active -= 1
            if not finished:
                self.cancelled += 1


def constant(text: str, **kwargs: object) -> Handler:
    """A handler that always answers ``text``."""

    def handler(_: GenerationRequest) -> Script:
        return Script(text=text, **kwargs)  # type: ignore[arg-type]

    return handler
