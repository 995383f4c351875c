"""An OpenAI-completions upstream (``POST /v1/completions``) for engines that take a grammar in the request.

The grammar goes into a configurable field (a dotted name nests it):

- llama-cpp-python's server: ``grammar`` (the default)
- vLLM (xgrammar; GBNF-compatible EBNF): ``structured_outputs.grammar`` (``guided_grammar`` before v0.12)
- SGLang: ``ebnf``

toolproxy renders the prompt (pass ``--chat-template`` for the model: the OpenAI API does not expose it).
Lazy grammars (``tool_choice: auto`` with trigger words) have no OpenAI-completions equivalent: such requests are
sent unconstrained and parsed as usual.

Sampling fields beyond OpenAI's are sent only when set, under vLLM's / SGLang's names (``top_k``, ``min_p``,
``repetition_penalty``); log-probabilities are the completions API's (``logprobs: N``), as the engine computes them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

import httpx

from toolproxy.backends._upstream import (
    HttpUpstream,
    Timeouts,
    ended_early,
    http_error,
    token_count,
    unexpected_event,
)
from toolproxy.backends.base import (
    SAMPLING_FIELDS,
    Backend,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    ModelInfo,
    TextPiece,
    TokenLogprob,
    TopLogprob,
)
from toolproxy.backends.llama_server import check_sampling
from toolproxy.errors import BackendError, BackendUnavailable

log = logging.getLogger(__name__)


class OpenAICompletionsBackend(Backend):
    sampling_fields = frozenset(SAMPLING_FIELDS)

    def __init__(self, url: str, info: ModelInfo, *, upstream_model: str, grammar_field: str = "grammar",
                 timeouts: Timeouts | None = None, api_key: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = HttpUpstream(_base(url), timeouts=timeouts or Timeouts(), api_key=api_key, transport=transport)
        self._info = info
        self._model = upstream_model
        self._grammar_path = [part for part in grammar_field.split(".") if part]
        if not self._grammar_path:
            raise ValueError("grammar_field must name a request field")

    @property
    def url(self) -> str:
        return self._http.base_url

    def info(self) -> ModelInfo:
        return self._info

    async def check_health(self) -> bool:
        try:
            await self._http.get_json("/v1/models")
        except (BackendUnavailable, BackendError):
            return False
        return True

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        check_sampling(request)
        body: dict[str, Any] = {
            "model": self._model,
            "prompt": request.prompt,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        for name, wire in (("top_k", "top_k"), ("min_p", "min_p"), ("presence_penalty", "presence_penalty"),
                           ("frequency_penalty", "frequency_penalty"), ("repeat_penalty", "repetition_penalty")):
            if getattr(request, name) != SAMPLING_FIELDS[name]:
                body[wire] = getattr(request, name)
        if request.logit_bias:
            body["logit_bias"] = {str(token): bias for token, bias in request.logit_bias}
        if request.logprobs is not None:
            body["logprobs"] = request.logprobs
        if request.grammar and not request.grammar_triggers:
            target = body
            for part in self._grammar_path[:-1]:
                target = target.setdefault(part, {})
            target[self._grammar_path[-1]] = request.grammar
        return body

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        body = self.body(request)
        produced = [False]
        finish: str | None = None
        usage: dict[str, Any] = {}
        async with self._http.sse("/v1/completions", body, produced=produced) as events:
            async for data in events:
                if not isinstance(data, dict) or not isinstance(data.get("choices", []), list):
                    raise unexpected_event(self.url, data)
                if isinstance(data.get("usage"), dict):
                    usage = data["usage"]
                for choice in data.get("choices") or []:
                    text = choice.get("text") if isinstance(choice, dict) else None
                    logprobs = _logprobs(choice, request.logprobs)
                    if (isinstance(text, str) and text) or logprobs:
                        produced[0] = True
                        yield TextPiece(text if isinstance(text, str) else "", logprobs)
                    if isinstance(choice, dict) and choice.get("finish_reason"):
                        finish = str(choice["finish_reason"])
        if finish is None:
            raise ended_early(self.url, produced[0], "a finish reason")
        yield GenerationDone(
            finish_reason="length" if finish == "length" else "stop",
            prompt_tokens=token_count(usage.get("prompt_tokens")),
            completion_tokens=token_count(usage.get("completion_tokens")),
        )

    async def aclose(self) -> None:
        await self._http.aclose()


def _logprobs(choice: Any, n_top: int | None) -> tuple[TokenLogprob, ...]:
    """The completions API's ``logprobs`` of one streamed choice: tokens as text, no ids (-1)."""
    if n_top is None or not isinstance(choice, dict) or not isinstance(choice.get("logprobs"), dict):
        return ()
    lp = choice["logprobs"]
    tokens, values = lp.get("tokens"), lp.get("token_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list):
        return ()
    tops = lp.get("top_logprobs") if isinstance(lp.get("top_logprobs"), list) else []
    out: list[TokenLogprob] = []
    for i, (token, value) in enumerate(zip(tokens, values, strict=False)):
        alternatives = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
        ranked = sorted(alternatives.items(), key=lambda kv: -kv[1] if isinstance(kv[1], (int, float)) else 0.0)
        top = tuple(TopLogprob(-1, str(t).encode(), float(v)) for t, v in ranked[:n_top]
                    if isinstance(v, (int, float)))
        out.append(TokenLogprob(-1, str(token).encode(), float(value) if isinstance(value, (int, float))
                                else float("-inf"), top))
    return tuple(out)


def _base(url: str) -> str:
    """``http://host:8000/v1`` and ``http://host:8000`` both mean the server root."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def read_info(url: str, *, model_id: str | None = None, context_size: int | None = None,
              chat_template: str | None = None, api_key: str | None = None,
              wait_s: float = 60.0) -> tuple[ModelInfo, str]:
    """(ModelInfo, the upstream's model name) from ``GET /v1/models``, waiting up to ``wait_s`` for it."""
    root = _base(url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + wait_s
    last = "no answer"
    with httpx.Client(base_url=root, timeout=httpx.Timeout(10.0, connect=2.0), headers=headers) as http:
        while True:
            try:
                response = http.get("/v1/models")
                if response.status_code == 200:
                    break
                if response.status_code not in (502, 503, 504):
                    raise http_error(root, response.status_code, response.content)
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if time.monotonic() >= deadline:
                raise BackendUnavailable(f"upstream {root} not ready after {wait_s:.0f} s ({last})")
            time.sleep(0.25)
    try:
        cards = response.json()["data"]
        card = cards[0]
        name = str(card["id"])
        n_ctx = context_size or int(card.get("max_model_len") or 0) or 4096
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise BackendError(f"upstream {root} sent unexpected /v1/models: {exc}", code="upstream_garbage") from exc
    info = ModelInfo(id=model_id or name, context_size=n_ctx, chat_template=chat_template,
                     extra={"upstream": root, "upstream_model": name})
    return info, name
