"""A scripted llama-server imitation on loopback, for the faults a real one will not produce on demand:
loading (503), dying before or in the middle of an answer, stalling, sending garbage.

It speaks llama-server's ``/health``, ``/props``, ``/tokenize`` and streaming ``/completion`` (and OpenAI's
``/v1/models`` + streaming ``/v1/completions`` for the openai kind), answering ``FakeUpstream.text``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.servers import free_port, running_server
from toolproxy.backends._upstream import Timeouts
from toolproxy.backends.base import GenerationDone, GenerationRequest, TextPiece
from toolproxy.backends.llama_server import LlamaServerBackend, read_facts
from toolproxy.backends.pool import UpstreamPool

TEXT = "Hello from the fake upstream."
Mode = Literal["ok", "loading", "die_before_first", "die_mid", "stall", "garbage", "http_500", "bad_request"]


class _Die(Exception):
    """Raised inside a streaming body: uvicorn then drops the connection without finishing the response."""


@dataclass
class FakeUpstream:
    name: str = "fake"
    mode: Mode = "ok"
    text: str = TEXT
    piece_chars: int = 4
    delay: float = 0.0  # seconds between pieces
    stall_s: float = 5.0
    n_ctx: int = 4096
    chat_template: str | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)  # every /completion body received
    ports: list[int] = field(default_factory=list)  # the client port of each, to see connection reuse
    finished: int = 0  # answers streamed to their end
    disconnected: int = 0  # answers abandoned by the client (toolproxy closed the stream)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/health")
        async def health() -> Response:
            if self.mode == "loading":
                return _llama_error(503, "Loading model", "unavailable_error")
            return JSONResponse({"status": "ok"})

        @app.get("/props")
        async def props() -> Response:
            return JSONResponse({
                "default_generation_settings": {"n_ctx": self.n_ctx, "params": {}},
                "total_slots": 1,
                "model_path": f"/models/{self.name}.gguf",
                "chat_template": self.chat_template or "",
                "bos_token": "<bos>",
                "eos_token": "<eos>",
                "build_info": "fake",
            })

        @app.post("/tokenize")
        async def tokenize(request: Request) -> Response:
            body = await request.json()
            return JSONResponse({"tokens": [2] if body.get("content") == "<bos>" else [7, 8, 9]})

        @app.post("/completion")
        async def completion(request: Request) -> Response:
            body = await request.json()
            self.bodies.append(body)
            self.ports.append(request.client.port if request.client else 0)
            failure = self._failure()
            if failure is not None:
                return failure
            return StreamingResponse(self._llama_stream(body), media_type="text/event-stream")

        @app.get("/v1/models")
        async def models() -> Response:
            if self.mode == "loading":
                return _llama_error(503, "Loading model", "unavailable_error")
            return JSONResponse({"object": "list", "data": [{"id": self.name, "object": "model",
                                                             "max_model_len": self.n_ctx}]})

        @app.post("/v1/completions")
        async def completions(request: Request) -> Response:
            body = await request.json()
            self.bodies.append(body)
            failure = self._failure()
            if failure is not None:
                return failure
            return StreamingResponse(self._openai_stream(body), media_type="text/event-stream")

        return app

    def _failure(self) -> Response | None:
        if self.mode == "loading":
            return _llama_error(503, "Loading model", "unavailable_error")
        if self.mode == "http_500":
            return _llama_error(500, "something broke", "server_error")
        if self.mode == "bad_request":
            return _llama_error(400, "the request exceeds the available context size", "exceed_context_size_error")
        return None

    def _pieces(self, body: dict[str, Any]) -> list[str]:
        limit = body.get("n_predict", body.get("max_tokens", -1))
        pieces = [self.text[i : i + self.piece_chars] for i in range(0, len(self.text), self.piece_chars)]
        return pieces[:limit] if isinstance(limit, int) and limit >= 0 else pieces

    async def _frames(self, body: dict[str, Any], event: Any, final: Any) -> AsyncIterator[str]:
        pieces = self._pieces(body)
        try:
            if self.mode == "garbage":
                yield "data: <html>this is not json</html>\n\n"
                return
            if self.mode == "die_before_first":
                yield ": ping\n\n"
                raise _Die
            for n, piece in enumerate(pieces):
                if self.mode == "stall" and n == 1:
                    await asyncio.sleep(self.stall_s)
                if self.mode == "die_mid" and n == 2:
                    raise _Die
                if self.delay:
                    await asyncio.sleep(self.delay)
                yield "data: " + json.dumps(event(piece)) + "\n\n"
            yield "data: " + json.dumps(final(pieces)) + "\n\n"
            self.finished += 1
        except (asyncio.CancelledError, GeneratorExit):
            self.disconnected += 1
            raise

    def _llama_stream(self, body: dict[str, Any]) -> AsyncIterator[str]:
        def event(piece: str) -> dict[str, Any]:
            return {"content": piece, "stop": False, "tokens": [1]}

        def final(pieces: list[str]) -> dict[str, Any]:
            limited = len(pieces) < len(self._pieces({}))
            return {"content": "", "stop": True, "stop_type": "limit" if limited else "eos", "truncated": False,
                    "tokens_evaluated": len(str(body.get("prompt"))) // 4, "tokens_predicted": len(pieces),
                    "timings": {"cache_n": 0, "prompt_n": 10, "predicted_n": len(pieces)}}

        return self._frames(body, event, final)

    def _openai_stream(self, body: dict[str, Any]) -> AsyncIterator[str]:
        def event(piece: str) -> dict[str, Any]:
            return {"choices": [{"index": 0, "text": piece, "finish_reason": None}]}

        def final(pieces: list[str]) -> dict[str, Any]:
            limited = len(pieces) < len(self._pieces({}))
            return {"choices": [{"index": 0, "text": "", "finish_reason": "length" if limited else "stop"}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": len(pieces)}}

        async def frames() -> AsyncIterator[str]:
            async for frame in self._frames(body, event, final):
                yield frame
            yield "data: [DONE]\n\n"

        return frames()


def _llama_error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "message": message, "type": kind}}, status_code=status)


# ---------------------------------------------------------------------- fixtures and helpers for the tests


@pytest.fixture(scope="module")
def servers() -> Iterator[list[tuple[FakeUpstream, str]]]:
    fakes = [FakeUpstream(name="a"), FakeUpstream(name="b")]
    with running_server(fakes[0].app()) as url_a, running_server(fakes[1].app()) as url_b:
        yield [(fakes[0], url_a), (fakes[1], url_b)]


@pytest.fixture
def fakes(servers: list[tuple[FakeUpstream, str]]) -> list[tuple[FakeUpstream, str]]:
    for fake, _ in servers:  # a fresh script for every test
        fake.mode, fake.delay, fake.text, fake.stall_s = "ok", 0.0, TEXT, 5.0
        fake.bodies.clear()
        fake.ports.clear()
        fake.finished = fake.disconnected = 0
    return servers


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there: connection refused


def member(url: str, *, read_timeout: float = 10.0) -> LlamaServerBackend:
    facts = read_facts(url, wait_s=5.0)
    return LlamaServerBackend(url, facts, timeouts=Timeouts(connect=1.0, read=read_timeout))


def pool_of(urls: list[str], *, live: str, read_timeout: float = 10.0, **kwargs: object) -> UpstreamPool:
    facts = read_facts(live, wait_s=5.0)
    members = [LlamaServerBackend(u, facts, timeouts=Timeouts(connect=1.0, read=read_timeout)) for u in urls]
    return UpstreamPool(members, health_interval=0, **kwargs)  # type: ignore[arg-type]


async def collect(pool: UpstreamPool | LlamaServerBackend, prompt: str = "Hi", **kwargs: object) -> str:
    text: list[str] = []
    done: GenerationDone | None = None
    async for event in pool.generate(GenerationRequest(prompt=prompt, **kwargs)):  # type: ignore[arg-type]
        if isinstance(event, TextPiece):
            text.append(event.text)
        else:
            done = event
    assert done is not None
    return "".join(text)
