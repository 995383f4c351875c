"""``--parallel 2`` behind real HTTP and the openai client: concurrent tool calls, streamed and not, all valid.

Requests served together are evaluated in other batch shapes than alone (llama.cpp's logits then differ in the
last bits): each answer is checked as a property (a call of a known tool with schema-valid arguments), and the
same request alone on this server is compared with itself only (the same evaluation path).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import jsonschema
import pytest
from openai import AsyncOpenAI

from tests.e2e.test_matrix import TOOLS
from tests.servers import running_server
from toolproxy.app import create_app
from toolproxy.settings import Settings

pytestmark = pytest.mark.slow

SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}  # type: ignore[index]
QUESTIONS = ["What is the weather in Paris?", "What time is it in Tokyo?", "Weather in Oslo, in celsius?",
             "The time in Lima, please."]


@pytest.fixture(scope="module")
def parallel_url(model_path: str) -> Iterator[str]:
    settings = Settings(model=model_path, ctx=2048, threads=2, style="hermes", default_max_tokens=96, parallel=2)
    app = create_app(settings)
    with running_server(app) as url:
        yield url


async def _ask(client: AsyncOpenAI, question: str, stream: bool) -> tuple[str, str]:
    kw = dict(model="m", messages=[{"role": "user", "content": question}], tools=TOOLS, tool_choice="required",
              max_tokens=96, seed=1)
    if not stream:
        answer = await client.chat.completions.create(**kw)  # type: ignore[call-overload]
        call = answer.choices[0].message.tool_calls[0].function
        return call.name, call.arguments
    name, args = "", ""
    async for chunk in await client.chat.completions.create(**kw, stream=True):  # type: ignore[call-overload]
        for tc in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            if tc.index == 0:
                name += tc.function.name or ""
                args += tc.function.arguments or ""
    return name, args


def test_concurrent_tool_calls_are_valid(parallel_url: str) -> None:
    async def main() -> list[tuple[str, str]]:
        async with AsyncOpenAI(base_url=f"{parallel_url}/v1", api_key="x", max_retries=0, timeout=300) as client:
            return await asyncio.gather(*(_ask(client, q, stream=i % 2 == 1) for i, q in enumerate(QUESTIONS * 2)))

    for name, arguments in asyncio.run(main()):
        assert name in SCHEMAS
        jsonschema.validate(json.loads(arguments), SCHEMAS[name])


def test_alone_a_request_repeats_itself(parallel_url: str) -> None:
    async def main() -> list[tuple[str, str]]:
        async with AsyncOpenAI(base_url=f"{parallel_url}/v1", api_key="x", max_retries=0, timeout=300) as client:
            await _ask(client, QUESTIONS[0], stream=False)  # its prompt is then in a sequence's cache
            return [await _ask(client, QUESTIONS[0], stream=False), await _ask(client, QUESTIONS[0], stream=True)]

    plain, streamed = asyncio.run(main())
    # both took the same path (the prompt from the cache, its last token decoded alone): the streamed deltas
    # concatenate to the non-streamed answer
    assert plain == streamed and plain[0] in SCHEMAS
