"""A llama.cpp ``llama-server`` upstream: toolproxy renders the prompt, llama-server samples under our grammar.

- ``POST /completion`` with ``stream: true`` and ``cache_prompt: true``: the same tools in the same order give a
  byte-identical prompt prefix, so a follow-up turn only evaluates the new tokens (see bench/cache_bench.py).
- ``tool_choice: auto``: when the request carries ``grammar_triggers`` the grammar is *lazy* - free text until a
  trigger word, then constrained (``grammar_lazy`` + ``grammar_triggers`` as ``{"type": 1 (WORD), "value": ...}``;
  a trigger that is a single token must also be a ``preserved_tokens`` entry, or llama-server refuses it).
- Special tokens the grammar or triggers name (``<tool_call>``, ``[TOOL_CALLS]``, ``<|python_tag|>`` ...) are
  sent as ``preserved_tokens`` so llama-server renders them as text, as the embedded backend does.
- Sampling is what the request asked for, nothing more: llama-server's extra samplers (top-k, min-p, repeat
  penalty) are off unless asked for; penalties, ``logit_bias`` and ``n_probs`` (log-probabilities) are passed on.
  llama-server's log-probabilities are its pre-sampling ones: softmax of the raw logits, grammar not applied.
- ``/props`` gives the chat template, context size and BOS/EOS; ``/health`` readiness (503 while loading).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
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
from toolproxy.errors import BackendError, BackendUnavailable, InvalidRequest

log = logging.getLogger(__name__)

TRIGGER_TYPE_WORD = 1  # common_grammar_trigger_type: TOKEN=0, WORD=1, PATTERN=2, PATTERN_FULL=3

# llama.cpp's built-in default (common/chat.cpp CHATML_TEMPLATE_SRC): what /props reports for a model that
# ships no template. toolproxy then uses its own fallback template, exactly as with the embedded backend.
LLAMA_CPP_DEFAULT_TEMPLATE = (
    "{%- for message in messages -%}\n"
    "  {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "  {{- '<|im_start|>assistant\n' -}}\n"
    "{%- endif -%}"
)

_GBNF_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
_MARKER = re.compile(r"<\|?[^\s<>]{1,40}\|?>|\[[A-Z_]{2,30}\]|<\|[^\s]{1,40}\|>")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "[": "[", "]": "]"}


@dataclass(frozen=True)
class ServerFacts:
    """What toolproxy needs to know about the model behind a llama-server (read once, at start-up)."""

    info: ModelInfo
    bos_token_id: int | None = None
    slots: int = 1


class LlamaServerBackend(Backend):
    prefers_lazy_grammar = True  # llama-server supports grammar_lazy + grammar_triggers
    sampling_fields = frozenset(SAMPLING_FIELDS)
    """One llama-server. Build it with :func:`connect` (waits for readiness, reads ``/props``)."""

    def __init__(self, url: str, facts: ServerFacts, *, timeouts: Timeouts | None = None,
                 api_key: str | None = None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = HttpUpstream(url, timeouts=timeouts or Timeouts(), api_key=api_key, transport=transport)
        self._facts = facts
        self.last_timings: dict[str, Any] | None = None  # llama-server's timings of the last finished answer

    @property
    def url(self) -> str:
        return self._http.base_url

    def info(self) -> ModelInfo:
        return self._facts.info

    async def check_health(self) -> bool:
        """True when the server answers ``/health`` with 200 (503 while loading, or unreachable: False)."""
        try:
            await self._http.get_json("/health")
        except (BackendUnavailable, BackendError):
            return False
        return True

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        """The ``/completion`` request body for ``request``."""
        check_sampling(request)
        body: dict[str, Any] = {
            "prompt": self._prompt(request.prompt),
            "n_predict": -1 if request.max_tokens is None else request.max_tokens,
            "stream": True,
            "cache_prompt": True,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "top_k": _top_k(request),
            "min_p": request.min_p,
            "repeat_penalty": request.repeat_penalty,
            "seed": -1 if request.seed is None else request.seed,
            "stop": list(request.stop),
        }
        if request.presence_penalty or request.frequency_penalty or request.repeat_penalty != 1.0:
            body["presence_penalty"] = request.presence_penalty
            body["frequency_penalty"] = request.frequency_penalty
            body["repeat_last_n"] = request.penalty_last_n
        if request.logit_bias:
            body["logit_bias"] = [[token, bias] for token, bias in request.logit_bias]
        if request.logprobs is not None:
            body["n_probs"] = max(1, request.logprobs)  # 0 would send no probabilities at all
        markers = preserved_markers(request.grammar or "", request.grammar_triggers)
        if markers:
            body["preserved_tokens"] = markers
        if request.grammar:
            body["grammar"] = request.grammar
            if request.grammar_triggers:
                body["grammar_lazy"] = True
                body["grammar_triggers"] = [{"type": TRIGGER_TYPE_WORD, "value": w} for w in request.grammar_triggers]
        return body

    def _prompt(self, prompt: str) -> str | list[int | str]:
        # llama-server prepends BOS to a string prompt when the model wants one; our templates render it too.
        # A leading BOS *id* turns that off (tokenize_mixed), so the model sees exactly one BOS either way.
        bos = self._facts.info.bos_token
        if bos and self._facts.bos_token_id is not None and prompt.startswith(bos):
            rest = prompt[len(bos):]
            return [self._facts.bos_token_id, rest] if rest else [self._facts.bos_token_id]
        return prompt

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        body = self.body(request)
        produced = [False]
        done: GenerationDone | None = None
        async with self._http.sse("/completion", body, produced=produced) as events:
            async for data in events:
                if done is not None:
                    continue  # read the response to its end: httpx then keeps the connection for the next request
                if not isinstance(data, dict) or not isinstance(data.get("content", ""), str):
                    raise unexpected_event(self.url, data)
                content = data.get("content", "")
                logprobs = _logprobs(data, request.logprobs)
                if content or logprobs:
                    produced[0] = True
                    yield TextPiece(content, logprobs)
                if data.get("stop") is True:
                    done = self._done(data)
                    yield done
        if done is None:
            raise ended_early(self.url, produced[0], "a final event")

    def _done(self, data: dict[str, Any]) -> GenerationDone:
        timings = data.get("timings")
        self.last_timings = timings if isinstance(timings, dict) else None
        stop_type = data.get("stop_type")
        length = stop_type == "limit" or data.get("truncated") is True
        word = data.get("stopping_word")
        return GenerationDone(
            finish_reason="length" if length else "stop",
            prompt_tokens=token_count(data.get("tokens_evaluated")),
            completion_tokens=token_count(data.get("tokens_predicted")),
            stop_sequence=word if stop_type == "word" and isinstance(word, str) and word else None,
        )

    async def aclose(self) -> None:
        await self._http.aclose()


def _top_k(request: GenerationRequest) -> int:
    """Greedy (temperature 0) without log-probabilities: top_k 1, the same token as no truncation, but
    llama-server's sampler chain then works on one candidate instead of the whole vocabulary (measured on the
    bundled model's 262k vocabulary, 1 thread: 27.8 -> 23.5 CPU ms per token; bench/proxy_bench.py)."""
    if request.temperature <= 0 and request.top_k == 0 and request.logprobs is None:
        return 1
    return request.top_k


def _logprobs(data: dict[str, Any], n_top: int | None) -> tuple[TokenLogprob, ...]:
    """The ``completion_probabilities`` of one streamed event (llama-server's OpenAI-like format)."""
    if n_top is None:
        return ()
    entries = data.get("completion_probabilities")
    if not isinstance(entries, list):
        return ()
    out: list[TokenLogprob] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        tops = entry.get("top_logprobs")
        top = tuple(_top_logprob(t) for t in (tops if isinstance(tops, list) else [])[:n_top] if isinstance(t, dict))
        first = _top_logprob(entry)
        out.append(TokenLogprob(first.token_id, first.piece, first.logprob, top))
    return tuple(out)


def _top_logprob(entry: dict[str, Any]) -> TopLogprob:
    raw = entry.get("bytes")
    if isinstance(raw, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw):
        piece = bytes(raw)
    else:
        piece = str(entry.get("token") or "").encode()
    token_id = entry.get("id")
    logprob = entry.get("logprob")
    return TopLogprob(token_id if isinstance(token_id, int) else -1, piece,
                      float(logprob) if isinstance(logprob, (int, float)) else float("-inf"))


def check_sampling(request: GenerationRequest) -> None:
    """The checks the embedded backend makes, so a bad request is a 400 whichever backend serves it."""
    if request.max_tokens is not None and request.max_tokens < 0:
        raise InvalidRequest("max_tokens must not be negative", param="max_tokens")
    if not (math.isfinite(request.temperature) and request.temperature >= 0.0):
        raise InvalidRequest("temperature must be a number >= 0", param="temperature")
    if not (math.isfinite(request.top_p) and 0.0 <= request.top_p <= 1.0):
        raise InvalidRequest("top_p must be between 0 and 1", param="top_p")
    if not request.prompt:
        raise InvalidRequest("the prompt is empty", param="prompt")
    if request.top_k < 0:
        raise InvalidRequest("top_k must be >= 0 (0: off)", param="top_k")
    if not (math.isfinite(request.min_p) and 0.0 <= request.min_p <= 1.0):
        raise InvalidRequest("min_p must be between 0 and 1", param="min_p")
    for name in ("presence_penalty", "frequency_penalty"):
        if not (math.isfinite(getattr(request, name)) and -2.0 <= getattr(request, name) <= 2.0):
            raise InvalidRequest(f"{name} must be between -2 and 2", param=name)
    if not (math.isfinite(request.repeat_penalty) and request.repeat_penalty > 0.0):
        raise InvalidRequest("repeat_penalty must be a number > 0 (1: off)", param="repeat_penalty")
    for token, bias in request.logit_bias:
        if token < 0 or not (math.isfinite(bias) and -100.0 <= bias <= 100.0):
            raise InvalidRequest("logit_bias maps token ids to a bias between -100 and 100", param="logit_bias")
    if request.logprobs is not None and not 0 <= request.logprobs <= 20:
        raise InvalidRequest("top_logprobs must be between 0 and 20", param="top_logprobs")


def preserved_markers(grammar: str, triggers: tuple[str, ...]) -> list[str]:
    """Trigger words plus the marker-like literals of ``grammar`` (``<tool_call>``, ``[TOOL_CALLS]`` ...), sorted.

    llama-server keeps only those that are a single token, and renders exactly those special tokens as text."""
    found = set(triggers)
    for match in _GBNF_LITERAL.finditer(grammar):
        text = _unescape(match.group(1))
        if _MARKER.fullmatch(text):
            found.add(text)
    return sorted(found)


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            width = {"x": 2, "u": 4, "U": 8}.get(nxt)
            if width is not None:
                try:
                    out.append(chr(int(text[i + 2 : i + 2 + width], 16)))
                    i += 2 + width
                    continue
                except ValueError:
                    pass
        out.append(ch)
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------- start-up (synchronous)


def wait_ready(url: str, *, wait_s: float, api_key: str | None = None, client: httpx.Client | None = None) -> None:
    """Block until ``GET /health`` answers 200, or raise :class:`BackendUnavailable` after ``wait_s`` seconds."""
    own = client is None
    http = client or _sync_client(url, api_key)
    deadline = time.monotonic() + wait_s
    last = "no answer"
    try:
        while True:
            try:
                response = http.get("/health")
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if time.monotonic() >= deadline:
                raise BackendUnavailable(f"upstream {url} not ready after {wait_s:.0f} s ({last})")
            time.sleep(0.25)
    finally:
        if own:
            http.close()


def read_facts(url: str, *, model_id: str | None = None, api_key: str | None = None,
               wait_s: float = 60.0) -> ServerFacts:
    """Wait for readiness, then read the model's template, context size and BOS/EOS from ``/props``."""
    with _sync_client(url, api_key) as http:
        wait_ready(url, wait_s=wait_s, client=http)
        try:
            response = http.get("/props")
            if response.status_code >= 400:
                raise http_error(url, response.status_code, response.content)
            props = response.json()
            settings = props.get("default_generation_settings") or {}
            template = props.get("chat_template") or None
            if template == LLAMA_CPP_DEFAULT_TEMPLATE:
                template = None
            bos = str(props.get("bos_token") or "")
            info = ModelInfo(
                id=model_id or _model_name(props),
                context_size=int(settings.get("n_ctx") or 0) or 4096,
                chat_template=template,
                bos_token=bos,
                eos_token=str(props.get("eos_token") or ""),
                extra={"upstream": url, "build_info": str(props.get("build_info") or "")},
            )
            bos_id = _single_token(http, bos) if bos else None
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"upstream {url} failed while reading /props ({type(exc).__name__})") from exc
        except (ValueError, TypeError, AttributeError) as exc:
            raise BackendError(f"upstream {url} sent unexpected /props: {exc}", code="upstream_garbage") from exc
    return ServerFacts(info=info, bos_token_id=bos_id, slots=int(props.get("total_slots") or 1))


def connect(url: str, *, model_id: str | None = None, api_key: str | None = None, wait_s: float = 60.0,
            timeouts: Timeouts | None = None) -> LlamaServerBackend:
    """A backend for the llama-server at ``url`` (waits up to ``wait_s`` for it to be ready)."""
    facts = read_facts(url, model_id=model_id, api_key=api_key, wait_s=wait_s)
    return LlamaServerBackend(url, facts, timeouts=timeouts, api_key=api_key)


def _sync_client(url: str, api_key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(base_url=url.rstrip("/"), timeout=httpx.Timeout(10.0, connect=2.0), headers=headers)


def _single_token(http: httpx.Client, text: str) -> int | None:
    response = http.post("/tokenize", json={"content": text, "add_special": False, "parse_special": True})
    if response.status_code >= 400:
        return None
    tokens = response.json().get("tokens")
    if isinstance(tokens, list) and len(tokens) == 1 and isinstance(tokens[0], int):
        return tokens[0]
    return None


def _model_name(props: dict[str, Any]) -> str:
    path = str(props.get("model_path") or "")
    if path:
        return Path(path).stem
    return str(props.get("model_alias") or "llama-server")
