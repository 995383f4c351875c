"""The model/tool loop over any OpenAI-compatible endpoint (the ``openai`` client).

Each step: call the model with the tools; if it answers without tool calls that is the final answer;
otherwise run its calls (concurrently when it makes several), append them and their results as ``tool``
messages, and go on — at most ``max_steps`` model calls. ``tool_choice`` may differ per step (a plan such as
``["required", "none"]``: step 1 must call a tool, step 2 must answer; the last entry repeats), which is
how tests make a tiny model deterministic on a server that enforces tool_choice by grammar.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openai import AsyncOpenAI

from toolproxy.agent.tools import Tool

Printer = Callable[[str], None]
PREVIEW = 400


@dataclass(frozen=True)
class AgentConfig:
    model: str
    max_steps: int = 8
    tool_choice: tuple[str, ...] = ("auto",)
    """Per-step plan: auto | required | none | a tool name; the last entry repeats."""
    parallel_tool_calls: bool | None = None
    temperature: float | None = 0.0
    max_tokens: int | None = None
    system: str | None = None
    verbose: bool = False


@dataclass(frozen=True)
class CallRecord:
    name: str
    arguments: str
    result: str


@dataclass
class Step:
    index: int
    content: str | None = None
    calls: list[CallRecord] = field(default_factory=list)


@dataclass
class AgentResult:
    answer: str | None
    steps: list[Step]
    finished: bool
    """True when the model gave a final answer; False when ``max_steps`` ran out first."""


def tool_choice_param(spec: str) -> Any:
    if spec in ("auto", "required", "none"):
        return spec
    return {"type": "function", "function": {"name": spec}}


def preview(text: str, verbose: bool) -> str:
    text = text.strip()
    if verbose or len(text) <= PREVIEW:
        return text
    return text[:PREVIEW] + f"... [{len(text) - PREVIEW} more characters]"


async def run_call(tools: dict[str, Tool], name: str, arguments: str) -> str:
    tool = tools.get(name)
    if tool is None:
        return f"Error: there is no tool named {name!r}; the tools are: {', '.join(sorted(tools))}"
    try:
        parsed = json.loads(arguments or "{}")
    except json.JSONDecodeError as exc:
        return f"Error: the arguments are not valid JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(parsed, dict):
        return "Error: the arguments must be a JSON object"
    return await tool.call(parsed)


class Agent:
    def __init__(self, client: AsyncOpenAI, tools: list[Tool], config: AgentConfig,
                 printer: Printer = print) -> None:
        self.client = client
        self.tools = {tool.name: tool for tool in tools}
        self.config = config
        self.say = printer

    def choice_for(self, step: int) -> str:
        plan = self.config.tool_choice or ("auto",)
        return plan[min(step, len(plan) - 1)]

    async def complete(self, messages: list[dict[str, Any]], step: int) -> Any:
        kwargs: dict[str, Any] = {"model": self.config.model, "messages": messages}
        if self.tools:
            kwargs["tools"] = [tool.openai() for tool in self.tools.values()]
            kwargs["tool_choice"] = tool_choice_param(self.choice_for(step))
            if self.config.parallel_tool_calls is not None:
                kwargs["parallel_tool_calls"] = self.config.parallel_tool_calls
        if self.config.temperature is not None:
            kwargs["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            kwargs["max_tokens"] = self.config.max_tokens
        response = await self.client.chat.completions.create(**kwargs)
        return response.choices[0].message

    async def run(self, goal: str) -> AgentResult:
        messages: list[dict[str, Any]] = []
        if self.config.system:
            messages.append({"role": "system", "content": self.config.system})
        messages.append({"role": "user", "content": goal})
        steps: list[Step] = []
        verbose = self.config.verbose
        for index in range(self.config.max_steps):
            if verbose:
                self.say(f"[step {index + 1}] tool_choice={self.choice_for(index)}")
            message = await self.complete(messages, index)
            step = Step(index + 1, message.content)
            steps.append(step)
            calls = list(message.tool_calls or [])
            if not calls:
                self.say(f"step {step.index}: final answer")
                return AgentResult(message.content or "", steps, finished=True)
            if message.content and message.content.strip():
                self.say(f"step {step.index}: {preview(message.content, verbose)}")
            messages.append({
                "role": "assistant",
                "content": message.content,
                "tool_calls": [
                    {"id": c.id, "type": "function",
                     "function": {"name": c.function.name, "arguments": c.function.arguments}}
                    for c in calls
                ],
            })
            for call in calls:
                self.say(f"step {step.index}: -> {call.function.name}({call.function.arguments})")
            results = await asyncio.gather(*(run_call(self.tools, c.function.name, c.function.arguments)
                                             for c in calls))
            for call, result in zip(calls, results, strict=True):
                self.say(f"step {step.index}: <- {call.function.name}: {preview(result, verbose)}")
                step.calls.append(CallRecord(call.function.name, call.function.arguments, result))
                messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        self.say(f"stopped after {self.config.max_steps} steps without a final answer")
        return AgentResult(None, steps, finished=False)
