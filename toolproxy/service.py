"""ChatService: request -> style -> prompt + grammar -> backend -> scanner -> OpenAI answer.

Knows nothing of HTTP. Streaming and non-streaming run the same pipeline; non-streaming merges the deltas.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolproxy.assembler import Assembler, merge
from toolproxy.backends.base import SAMPLING_FIELDS, Backend, GenerationDone, GenerationRequest, TextPiece
from toolproxy.backends.base import TokenLogprob as _TokenLogprob
from toolproxy.errors import BackendError, InvalidRequest, UnsupportedSchema
from toolproxy.grammar import schema_to_gbnf
from toolproxy.limits import check_chat_request, check_completion_request, check_grammar
from toolproxy.native import native_prompt
from toolproxy.observer import NullObserver, ServiceObserver
from toolproxy.parsing import Scanner, plain_format
from toolproxy.parsing.scanner import OutputFormat
from toolproxy.protocol import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChoiceLogprobs,
    ChunkChoice,
    Completion,
    CompletionChoice,
    CompletionRequest,
    Delta,
    FinishReason,
    NamedToolChoice,
    TokenLogprob,
    TopLogprob,
    Usage,
)
from toolproxy.reasoning import EFFORT_BUDGETS, call_budgets, fixed_tokens, scan_prefix, think_mode, with_thinking
from toolproxy.reasoning import TAGS as THINK_TAGS
from toolproxy.settings import Settings
from toolproxy.styles import get_style
from toolproxy.styles.base import CallPolicy, Style, ToolSpec
from toolproxy.styles.choice import choose_style
from toolproxy.styles.common import tool_dicts
from toolproxy.styles.derive import DERIVED_STYLE
from toolproxy.styles.examples import with_examples
from toolproxy.templating import fallback_template, render_chat
from toolproxy.tool_schema import normalize_parameters, normalize_schema
from toolproxy.turn_memory import TurnMemory

log = logging.getLogger("toolproxy.service")
FALLBACK_STYLE = "hermes"  # writes any tool (JSON in tags) when the requested style cannot (issue 14)

_JSON_OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}


@dataclass
class Plan:
    """Everything decided before generation starts."""

    model: str
    prompt: str
    prefix: str  # generated-output prefix forced by the style (scanned, not sent back by the backend)
    generation: GenerationRequest
    output_format: OutputFormat
    style: str | None
    relaxed: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_tokens: int = 0


@dataclass(frozen=True)
class Outcome:
    """How an answer ended: the last item of :meth:`ChatService.answer`."""

    finish_reason: FinishReason
    usage: Usage
    stop_sequence: str | None = None  # the request's stop string that ended the text, when one did


Answer = Delta | list[TokenLogprob] | Outcome


@dataclass
class _Shape:
    """What the style decided for one request, before the prompt text exists."""

    messages: list[dict[str, str]]
    grammar: str | None
    output_format: OutputFormat
    prefix: str  # generated-output prefix the prompt ends with
    style: str | None  # the style that wrote the conversation (None: plain chat)
    relaxed: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers: tuple[str, ...] = ()


@dataclass(frozen=True)
class StyleOrigin:
    """Where the default style came from: ``configured`` (``--style``), ``measured`` (``auto-best``),
    ``detected`` (a family's markers in the chat template), ``derived`` (from the template's renderings of probe
    calls) or ``fallback``; ``detail`` names the family, the derived markers, or why."""

    source: str
    detail: str | None


class ChatService:
    def __init__(self, backend: Backend, settings: Settings, *, observer: ServiceObserver | None = None) -> None:
        self._backend = backend
        self._settings = settings
        self._observer: ServiceObserver = observer or NullObserver()  # metrics (issue 9)
        self._info = backend.info()
        self._memory = TurnMemory()  # raw text of our answers with calls, replayed in follow-up prompts
        self._template = self._load_template()
        # issue 4: the model's own template (or --chat-template), None when only the fallback is there; the
        # default style is --style, else the one detected from that template (hermes without a template)
        self._own_template = self._template if (settings.chat_template or self._info.chat_template) else None
        self._style = self._choose_style(settings)
        log.info("default style %r (%s%s)", self._style, self.style_origin.source,
                 f": {self.style_origin.detail}" if self.style_origin.detail else "")

    # ------------------------------------------------------------------ public API

    @property
    def model_id(self) -> str:
        return self._info.id

    def _choose_style(self, settings: Settings) -> str:
        """``--style NAME``; ``auto-best``: the best style measured by ``toolproxy eval`` for this model
        (``--eval-results DIR``); none (or no results for this model): the chat template's choice, detected,
        else derived from it, else the fallback (:func:`~toolproxy.styles.choice.choose_style`). Sets
        :attr:`style_origin`."""
        self._derived: type[Style] | None = None
        if settings.style and settings.style != "auto-best":
            self.style_origin = StyleOrigin("configured", None)
            return settings.style
        if settings.style == "auto-best":
            best = self._measured_style(settings)
            if best is not None:
                self.style_origin = StyleOrigin("measured", f"toolproxy eval results in {settings.eval_results}")
                return best
        choice = choose_style(self._own_template)
        self._derived = choice.derived
        self.style_origin = StyleOrigin(choice.source, choice.detail)
        if settings.style == "auto-best":
            log.warning("no eval results for model %r in %s; using the template's style %r (%s)", self._info.id,
                        settings.eval_results, choice.name, choice.source)
        return choice.name

    def _measured_style(self, settings: Settings) -> str | None:
        """``auto-best``: the best style in ``--eval-results`` for this model, None when it has no results."""
        if not settings.eval_results:
            raise InvalidRequest("--style auto-best needs --eval-results DIR (the output of `toolproxy eval`)",
                                 param="style")
        from toolproxy.evaluation.best import NoResults, best_style

        try:
            return best_style(settings.eval_results, model_id=self._info.id)
        except NoResults:
            return None

    def _get_style(self, name: str) -> Style:
        """The registry's style ``name``, or the one derived from the chat template."""
        if name == DERIVED_STYLE and self._derived is not None:
            return self._derived()
        return get_style(name)

    @property
    def default_style(self) -> str:
        return self._style

    async def chat(self, request: ChatCompletionRequest) -> ChatCompletion:
        plan = self.plan(request)
        deltas: list[Delta] = []
        finish: FinishReason = "stop"
        usage = Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)
        logprobs: list[TokenLogprob] = []
        async for item in self._run(plan):
            if isinstance(item, Delta):
                deltas.append(item)
            elif isinstance(item, list):
                logprobs.extend(item)
            else:
                finish, usage = item.finish_reason, item.usage
        message = merge(deltas)
        wanted = plan.generation.logprobs is not None
        return ChatCompletion(
            id=_completion_id(),
            model=plan.model,
            choices=[Choice(message=message, finish_reason=finish,
                            logprobs=ChoiceLogprobs(content=logprobs) if wanted else None)],
            usage=usage,
        )

    async def chat_stream(self, request: ChatCompletionRequest) -> AsyncGenerator[ChatCompletionChunk, None]:
        """Chunks in OpenAI's order: role first, deltas, a finish chunk, then usage if asked for.

        Planning errors (bad request) are raised before the first chunk is produced."""
        plan = self.plan(request)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        return self._stream(plan, include_usage)

    async def answer(self, request: ChatCompletionRequest) -> AsyncGenerator[Answer, None]:
        """The internal answer the other front doors translate (toolproxy/api): deltas (and token log-probabilities
        when asked for), last an :class:`Outcome`. Planning errors (bad request) are raised here, before any item."""
        return self._run(self.plan(request))

    async def completion(self, request: CompletionRequest) -> Completion:
        check_completion_request(request, self._settings)
        prompt = request.prompt if isinstance(request.prompt, str) else "".join(request.prompt)
        generation = self._generation_request(
            prompt,
            grammar=request.grammar,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=request.stop,
            seed=request.seed,
            sampling=_sampling_options(request),
        )
        text: list[str] = []
        done: GenerationDone | None = None
        async for event in self._backend.generate(generation):
            if isinstance(event, TextPiece):
                text.append(event.text)
            else:
                done = event
        if done is None:
            raise BackendError("the backend ended the generation without a result")
        self._observer.tokens(done.prompt_tokens, done.completion_tokens)
        return Completion(
            id="cmpl-" + uuid.uuid4().hex[:24],
            model=self._info.id,
            choices=[CompletionChoice(text="".join(text), finish_reason=done.finish_reason)],
            usage=_usage(done),
        )

    def completion_stream_request(self, request: CompletionRequest) -> GenerationRequest:
        check_completion_request(request, self._settings)
        prompt = request.prompt if isinstance(request.prompt, str) else "".join(request.prompt)
        return self._generation_request(
            prompt,
            grammar=request.grammar,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=request.stop,
            seed=request.seed,
            sampling=_sampling_options(request),
        )

    @property
    def backend(self) -> Backend:
        return self._backend

    # ------------------------------------------------------------------ planning

    def plan(self, request: ChatCompletionRequest) -> Plan:
        """Limits, then the style's decisions (messages, grammar, output format), then the prompt text."""
        check_chat_request(request, self._settings)  # limits first: before any expensive work
        _check_messages(request.messages)
        request, continuation = _split_continuation(request)
        tools = _tool_specs(request, self._settings.max_tools)
        policy, tools = _policy(request, tools)
        style = self._get_style(request.style or self._style)
        layout = self._settings.json_layout
        policy = dataclasses.replace(policy, layout=style.json_layout if layout == "style" else layout)
        thoughts: int | None = None  # under required/named: the thoughts and raw string values bounded
        if policy.mode == "required" and tools:
            thoughts, value_chars = self._budgets(request, style, tools)
            policy = dataclasses.replace(policy, value_chars=value_chars)

        compile_started = time.perf_counter()
        if policy.mode == "none" or not tools:
            shape = self._shape_without_calls(request, style, tools)
        else:
            shape = self._shape_with_calls(request, style, tools, policy)
        if shape.grammar is not None:
            self._observer.grammar_compiled(time.perf_counter() - compile_started)
            check_grammar(shape.grammar, self._settings)
        calls_possible = policy.mode != "none" and bool(tools)
        if continuation and (calls_possible or _response_format_grammar(request) is not None):
            raise InvalidRequest("continue_final_message continues free text: it cannot be combined with tool "
                                 "calls (use tool_choice none) or response_format", param="continue_final_message")
        prompt = self._prompt(request, shape, tools, policy, thoughts, continuation, _think_tags(style, shape))
        if continuation:
            shape.output_format = dataclasses.replace(shape.output_format, continues=True)

        generation = self._generation_request(
            prompt,
            grammar=shape.grammar,
            max_tokens=request.max_completion_tokens or request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=request.stop,
            seed=request.seed,
            sampling=_sampling_options(request),
        )
        if shape.triggers:
            generation = dataclasses.replace(generation, grammar_triggers=shape.triggers)
        if self._settings.log_content:
            log.info("prompt: %r grammar: %r", prompt, shape.grammar)
        return Plan(
            model=request.model or self._info.id,
            prompt=prompt,
            prefix=shape.prefix,
            generation=generation,
            output_format=shape.output_format,
            style=shape.style,
            relaxed=shape.relaxed,
            max_tokens=generation.max_tokens or 0,
        )

    def _shape_without_calls(self, request: ChatCompletionRequest, style: Style, tools: list[ToolSpec]) -> _Shape:
        """tool_choice none, or no tools: text only (response_format's grammar when asked). The style still
        writes the conversation when tools are offered or the history holds calls; else it is plain chat."""
        response_grammar = _response_format_grammar(request)
        if not (tools or _history_has_calls(request.messages)):
            return _Shape(_plain_messages(request.messages), response_grammar, plain_format(), "", None)
        none = CallPolicy("none")
        messages = style.prepare_messages(self._memory.replay(request.messages), tools, none)
        if response_grammar is not None:
            return _Shape(messages, response_grammar, plain_format(), "", style.name)
        return _Shape(messages, style.grammar(tools, none), style.output_format(tools),
                      style.generation_prefix(tools, none), style.name)

    def _shape_with_calls(
        self, request: ChatCompletionRequest, style: Style, tools: list[ToolSpec], policy: CallPolicy
    ) -> _Shape:
        """Calls possible: worked examples + the conversation in the style, the style's grammar (relaxed for
        refused schemas; lazy on upstreams that prefer it under auto)."""
        try:
            grammar, relaxed = _style_grammar(style, tools, policy)
        except _StyleCannotWrite as exc:  # a valid request all the same: another style writes these tools
            style = self._fallback_style(style, tools, policy, exc)
            grammar, relaxed = _style_grammar(style, tools, policy)
        messages = with_examples(style, self._memory.replay(request.messages), tools, policy)
        triggers: tuple[str, ...] = ()
        if policy.mode == "auto" and self._backend.prefers_lazy_grammar:  # llama-server: free text until a marker
            lazy = style.lazy_grammar(_relaxed_tools(tools, relaxed), policy)
            if lazy is not None:
                grammar, triggers = lazy.grammar, lazy.triggers
        return _Shape(messages, grammar, style.output_format(tools), style.generation_prefix(tools, policy),
                      style.name, relaxed, triggers)

    def _fallback_style(self, style: Style, tools: list[ToolSpec], policy: CallPolicy, why: Exception) -> Style:
        """The server's default style, else hermes (JSON: any tool name), for a request whose style cannot write
        one of its tools (pythonic and a tool named ``get-weather``), logged."""
        for name in dict.fromkeys((self._style, FALLBACK_STYLE)):
            candidate = self._get_style(name)
            if candidate.name == style.name:
                continue
            try:
                _style_grammar(candidate, tools, policy)
            except _StyleCannotWrite:
                continue
            log.warning("style %r cannot write these tools (%s); this request uses style %r", style.name, why,
                        candidate.name)
            return candidate
        raise InvalidRequest(f"tool schema not supported: {why}", param="tools")

    def _prompt(self, request: ChatCompletionRequest, shape: _Shape, tools: list[ToolSpec], policy: CallPolicy,
                thoughts: int | None, continuation: str = "", tags: tuple[str, str] = THINK_TAGS) -> str:
        """The prompt text: the model's own template when it speaks the style (issue 4), else ours, then the
        text the answer continues (``continue_final_message``); a reasoning model's opened ``<think>`` lets the
        grammar admit thinking first (updates ``shape``)."""
        native = native_prompt(
            self._own_template,
            shape.style,
            request.messages,
            tool_dicts(tools) if policy.mode != "none" else None,
            bos=self._info.bos_token,
            eos=self._info.eos_token,
            prefix=shape.prefix,
        )
        prompt = (native if native is not None else self._render(shape.messages) + shape.prefix) + continuation
        thinking = think_mode(prompt, self._own_template, tags) if not shape.prefix and not shape.triggers else None
        if thinking is not None:
            shape.grammar = with_thinking(shape.grammar, thinking, thoughts, tags) if shape.grammar is not None \
                else None
            shape.prefix = scan_prefix(thinking, tags)
        return prompt

    def _budgets(self, request: ChatCompletionRequest, style: Style, tools: list[ToolSpec]) -> tuple[int, int | None]:
        """Under required/named: (characters of thought, characters per raw string value or None) so that the
        thoughts and the call fit ``max_tokens`` (toolproxy/reasoning.py); ``reasoning_budget`` (tokens) wins
        over ``reasoning_effort``, then the server's setting."""
        if request.reasoning_budget is not None:
            budget = request.reasoning_budget
        elif request.reasoning_effort is not None:
            budget = EFFORT_BUDGETS[request.reasoning_effort]
        else:
            budget = self._settings.reasoning_budget
        max_tokens = request.max_completion_tokens or request.max_tokens or self._settings.default_max_tokens
        # a style with think tags of its own is a thinking family (Kimi K3's template builds its tags from pieces)
        thinks = self._own_template is not None and (style.thinking is not None or THINK_TAGS[0] in self._own_template)
        cost = style.call_cost(tools)
        fixed = None if cost is None else (fixed_tokens(cost[0], self._backend.count_tokens(cost[0])), cost[1])
        return call_budgets(budget, max_tokens, fixed, thinks)

    def _render(self, messages: list[dict[str, str]]) -> str:
        return render_chat(
            self._template,
            messages,
            add_generation_prompt=True,
            bos_token=self._info.bos_token,
            eos_token=self._info.eos_token,
        )

    def _load_template(self) -> str:
        if self._settings.chat_template:
            return Path(self._settings.chat_template).read_text(encoding="utf-8")
        if self._info.chat_template:
            return self._info.chat_template
        return fallback_template(self._info.extra.get("architecture"))

    def _generation_request(
        self,
        prompt: str,
        *,
        grammar: str | None,
        max_tokens: int | None,
        temperature: float | None,
        top_p: float | None,
        stop: str | list[str] | None,
        seed: int | None,
        sampling: dict[str, Any] | None = None,
    ) -> GenerationRequest:
        stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
        if len(stops) > self._settings.max_stop or any(not s for s in stops):
            raise InvalidRequest(f"stop: at most {self._settings.max_stop} non-empty strings", param="stop")
        options = sampling or {}
        for name, value in options.items():  # issue 17: honoured by this backend, or a 400 naming the field
            if value != SAMPLING_FIELDS[name] and name not in self._backend.sampling_fields:
                raise InvalidRequest(f"{name} is not supported by this backend", param=name)
        return GenerationRequest(
            prompt=prompt,
            grammar=grammar,
            max_tokens=max_tokens or self._settings.default_max_tokens,
            temperature=0.0 if temperature is None else temperature,
            top_p=1.0 if top_p is None else top_p,
            stop=stops,
            seed=seed,
            **options,
        )

    # ------------------------------------------------------------------ running

    async def _run(self, plan: Plan) -> AsyncGenerator[Answer, None]:
        """Deltas in order; a list of token log-probabilities (when asked for) before the deltas of its text;
        last, the :class:`Outcome` (finish reason, usage, the stop string that ended the text)."""
        scanner = Scanner(plan.output_format)
        assembler = Assembler(plan.relaxed)
        raw: list[str] = [plan.prefix]
        if plan.prefix:
            for delta in assembler.feed(scanner.feed(plan.prefix)):
                yield delta
        done: GenerationDone | None = None
        stream = self._backend.generate(plan.generation)
        waiting = True  # queue depth: until the model's first piece (or the end)
        self._observer.waiting(1)
        try:
            async for event in stream:
                if waiting:
                    waiting = False
                    self._observer.waiting(-1)
                if isinstance(event, TextPiece):
                    raw.append(event.text)
                    if event.logprobs:
                        yield [_wire_logprob(entry) for entry in event.logprobs]
                    for delta in assembler.feed(scanner.feed(event.text)):
                        yield delta
                    if scanner.looping:  # the model repeats its call: stop now, keep the calls it made
                        done = self._stopped_early(plan, "".join(raw[1:]))
                        break
                else:
                    done = event
        finally:
            if waiting:
                self._observer.waiting(-1)
            await stream.aclose()
        for delta in assembler.feed(scanner.finish()):
            yield delta
        for delta in assembler.finish():
            yield delta
        if scanner.dropped_duplicates:
            log.info("model repeated a call %d time(s); the repeats were dropped", scanner.dropped_duplicates)
        problems = [*(f"parse failure at offset {f.offset}: {f.reason}" for f in scanner.failures),
                    *assembler.problems]
        if problems:
            self._observer.parse_failures(len(problems))
            content = self._settings.log_content  # problem texts may quote tool arguments
            log.warning("model output kept as text (%s); raw output: %r",
                        "; ".join(problems) if content else f"{len(problems)} problems",
                        "".join(raw) if content else f"<{sum(map(len, raw))} chars>")
        if done is None:
            raise BackendError("the backend ended the generation without a result")
        self._observer.tokens(done.prompt_tokens, done.completion_tokens)
        finish: FinishReason = done.finish_reason
        if assembler.calls_emitted and finish == "stop":
            finish = "tool_calls"
            if not problems and not scanner.dropped_duplicates:  # only answers the client got in full
                self._memory.remember(assembler.call_ids, "".join(raw).strip(), assembler.calls)
        yield Outcome(finish, _usage(done), done.stop_sequence if finish == "stop" else None)

    def _stopped_early(self, plan: Plan, generated: str) -> GenerationDone:
        """The result of a generation we stopped ourselves (usage counted by the backend's tokenizer)."""
        prompt_tokens = self._backend.count_tokens(plan.generation.prompt) or 0
        completion_tokens = self._backend.count_tokens(generated) or 0
        return GenerationDone(finish_reason="stop", prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    async def _stream(self, plan: Plan, include_usage: bool) -> AsyncGenerator[ChatCompletionChunk, None]:
        cid = _completion_id()
        created = int(time.time())

        pending: list[TokenLogprob] = []  # log-probabilities go with the next chunk (the one of their text)

        def chunk(delta: Delta, finish: FinishReason | None = None) -> ChatCompletionChunk:
            logprobs = ChoiceLogprobs(content=pending[:]) if pending else None
            pending.clear()
            return ChatCompletionChunk(
                id=cid, created=created, model=plan.model,
                choices=[ChunkChoice(delta=delta, finish_reason=finish, logprobs=logprobs)],
            )

        yield chunk(Delta(role="assistant", content=""))
        async for item in self._run(plan):
            if isinstance(item, Delta):
                yield chunk(item)
            elif isinstance(item, list):
                pending.extend(item)
            else:
                yield chunk(Delta(), item.finish_reason)
                if include_usage:
                    yield ChatCompletionChunk(id=cid, created=created, model=plan.model, choices=[], usage=item.usage)


# ---------------------------------------------------------------------- request helpers


def _sampling_options(request: ChatCompletionRequest | CompletionRequest) -> dict[str, Any]:
    """The request's sampling fields beyond temperature/top_p, as :class:`GenerationRequest` fields (only those
    it sets: the others keep their "off" value)."""
    options: dict[str, Any] = {}
    for name in ("top_k", "min_p", "presence_penalty", "frequency_penalty"):
        value = getattr(request, name)
        if value is not None:
            options[name] = value
    repeat = {v for v in (request.repetition_penalty, request.repeat_penalty) if v is not None}
    if len(repeat) > 1:
        raise InvalidRequest("repetition_penalty and repeat_penalty are the same setting: give one",
                             param="repeat_penalty")
    if repeat:
        options["repeat_penalty"] = repeat.pop()
    if request.logit_bias:
        options["logit_bias"] = tuple(sorted(request.logit_bias.items()))
    if isinstance(request, ChatCompletionRequest):
        if request.top_logprobs is not None and not request.logprobs:
            raise InvalidRequest("top_logprobs needs logprobs: true", param="top_logprobs")
        if request.logprobs:
            options["logprobs"] = request.top_logprobs or 0
    return options


def _wire_logprob(entry: _TokenLogprob) -> TokenLogprob:
    return TokenLogprob(
        token=entry.piece.decode("utf-8", errors="replace"), logprob=_finite(entry.logprob), bytes=list(entry.piece),
        top_logprobs=[TopLogprob(token=t.piece.decode("utf-8", errors="replace"), logprob=_finite(t.logprob),
                                 bytes=list(t.piece)) for t in entry.top],
    )


def _finite(logprob: float) -> float:
    """OpenAI writes "effectively impossible" as -9999.0 (JSON has no -inf)."""
    return logprob if logprob > -9999.0 else -9999.0


def _completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def _usage(done: GenerationDone) -> Usage:
    return Usage(
        prompt_tokens=done.prompt_tokens,
        completion_tokens=done.completion_tokens,
        total_tokens=done.prompt_tokens + done.completion_tokens,
    )


def _check_messages(messages: list[ChatMessage]) -> None:
    for i, message in enumerate(messages):
        if isinstance(message.content, list):
            for part in message.content:
                if part.type != "text":
                    raise InvalidRequest(
                        f"messages[{i}]: content part type {part.type!r} is not supported (text only)",
                        param=f"messages[{i}].content",
                    )
        if message.role == "tool" and message.content is None:
            raise InvalidRequest(f"messages[{i}]: a tool message needs content", param=f"messages[{i}].content")
        if message.role == "tool" and message.tool_call_id is None:  # as OpenAI: the id of the call it answers
            raise InvalidRequest(f"messages[{i}]: a message with role 'tool' needs a tool_call_id (the id of the "
                                 "call it answers)", param=f"messages[{i}].tool_call_id")


def _split_continuation(request: ChatCompletionRequest) -> tuple[ChatCompletionRequest, str]:
    """``continue_final_message``: the request without its last message, and that message's text, which the
    prompt ends with (after the assistant turn's opening) so that the answer continues it. The answer holds only
    the continuation, as vLLM and Anthropic's prefill return it."""
    if not request.continue_final_message:
        return request, ""
    last, index = request.messages[-1], len(request.messages) - 1
    if last.role != "assistant" or last.tool_calls or not last.text():
        raise InvalidRequest(f"continue_final_message: messages[{index}] must be an assistant message with text "
                             "(and no tool calls) to continue", param=f"messages[{index}]")
    if index == 0:
        raise InvalidRequest("continue_final_message: a message is needed before the one continued",
                             param="messages")
    return request.model_copy(update={"messages": request.messages[:-1], "continue_final_message": None}), \
        last.text()


def _think_tags(style: Style, shape: _Shape) -> tuple[str, str]:
    """The think tags the grammar admits first: the style's own where its scanner reads them (not for plain chat
    or a response_format answer), else ``<think>``."""
    own = style.thinking
    return own if own is not None and shape.output_format.think == own else THINK_TAGS


def _tool_specs(request: ChatCompletionRequest, max_tools: int) -> list[ToolSpec]:
    tools = request.tools or []
    if len(tools) > max_tools:
        raise InvalidRequest(f"too many tools: {len(tools)} > {max_tools}", param="tools")
    specs: list[ToolSpec] = []
    seen: set[str] = set()
    for tool in tools:
        name = tool.function.name
        if name in seen:
            raise InvalidRequest(f"duplicate tool name {name!r}", param="tools")
        seen.add(name)
        specs.append(
            ToolSpec(
                name=name,
                description=tool.function.description or "",
                parameters=normalize_parameters(tool.function.parameters, tool=name),
            )
        )
    return specs


def _policy(request: ChatCompletionRequest, tools: list[ToolSpec]) -> tuple[CallPolicy, list[ToolSpec]]:
    parallel = request.parallel_tool_calls is not False
    choice = request.tool_choice
    if choice is None:
        return CallPolicy("auto" if tools else "none", parallel), tools
    if isinstance(choice, NamedToolChoice):
        chosen = [t for t in tools if t.name == choice.function.name]
        if not chosen:
            raise InvalidRequest(
                f"tool_choice names {choice.function.name!r}, which is not among the tools",
                param="tool_choice",
            )
        return CallPolicy("required", parallel), chosen
    if choice in ("required", "auto") and not tools:
        if choice == "required":
            raise InvalidRequest("tool_choice 'required' needs at least one tool", param="tool_choice")
        return CallPolicy("none", parallel), tools
    return CallPolicy(choice, parallel), tools


class _StyleCannotWrite(Exception):
    """The style refuses a tool whose schema the grammar compiler accepts (pythonic: a tool name that is not a
    Python name). Never rendered: the service falls back to another style."""


def _style_grammar(
    style: Style, tools: list[ToolSpec], policy: CallPolicy
) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """The style's grammar; tools whose schema the compiler refuses get a relaxed (any object) grammar and
    their arguments are validated with jsonschema after generation instead."""
    relaxed: dict[str, dict[str, Any]] = {}
    current = list(tools)
    for _ in range(len(tools) + 1):
        try:
            return style.grammar(current, policy), relaxed
        except UnsupportedSchema as exc:
            culprit = _find_refused(current, relaxed)
            if culprit is None:  # the schemas compile: it is the style that cannot write a tool (its name)
                raise _StyleCannotWrite(str(exc)) from exc
            log.info("tool %r: %s; using a relaxed grammar + jsonschema validation", culprit.name, exc)
            relaxed[culprit.name] = culprit.parameters
            current = [
                ToolSpec(t.name, t.description, {"type": "object"}) if t.name in relaxed else t for t in current
            ]
    raise InvalidRequest("tool schemas not supported", param="tools")


def _relaxed_tools(tools: list[ToolSpec], relaxed: dict[str, dict[str, Any]]) -> list[ToolSpec]:
    return [ToolSpec(t.name, t.description, {"type": "object"}) if t.name in relaxed else t for t in tools]


def _find_refused(tools: list[ToolSpec], relaxed: dict[str, dict[str, Any]]) -> ToolSpec | None:
    for tool in tools:
        if tool.name in relaxed:
            continue
        try:
            schema_to_gbnf(tool.parameters)
        except UnsupportedSchema:
            return tool
    return None


def _response_format_grammar(request: ChatCompletionRequest) -> str | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return schema_to_gbnf(_JSON_OBJECT_SCHEMA)
    if fmt.json_schema is None or fmt.json_schema.schema_ is None:
        raise InvalidRequest("response_format json_schema needs json_schema.schema", param="response_format")
    schema = normalize_schema(fmt.json_schema.schema_, where="response_format.json_schema.schema")
    try:
        return schema_to_gbnf(schema)
    except UnsupportedSchema as exc:
        raise InvalidRequest(str(exc), param="response_format.json_schema.schema") from exc


def _history_has_calls(messages: list[ChatMessage]) -> bool:
    return any(m.tool_calls or m.role in ("tool", "function") for m in messages)


def _plain_messages(messages: list[ChatMessage]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for message in messages:
        role = "system" if message.role == "developer" else message.role
        out.append({"role": role, "content": message.text()})
    return out
