"""POST/GET/DELETE /v1/responses on the scripted backend: the translation both ways, the stream's events,
the store, and 400s naming what is not supported."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import HERMES_CALL, WEATHER
from tests.hardening.conftest import Proxy, openai_error
from toolproxy.backends.scripted import Script


def create(proxy: Proxy, **body: Any) -> httpx.Response:
    body.setdefault("input", "What is the weather in Paris?")
    return httpx.post(f"{proxy.url}/v1/responses", json=body, timeout=30)


def events(response: httpx.Response) -> list[dict[str, Any]]:
    """The SSE stream as (event name checked against the payload's type) payloads."""
    out: list[dict[str, Any]] = []
    name = None
    for line in response.text.splitlines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            payload = json.loads(line[6:])
            assert payload["type"] == name
            out.append(payload)
    return out


def test_text_answer(fresh: Proxy) -> None:
    body = create(fresh, instructions="Be brief.", tool_choice="none", tools=[WEATHER]).json()
    assert body["object"] == "response" and body["id"].startswith("resp_")
    assert body["status"] == "completed"
    [item] = body["output"]
    assert item["type"] == "message" and item["role"] == "assistant" and item["status"] == "completed"
    assert item["content"] == [{"type": "output_text", "text": "Hello there.", "annotations": [], "logprobs": []}]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert body["tool_choice"] == "none" and body["tools"][0]["name"] == "get_weather"
    prompt = fresh.backend.requests[-1].prompt  # type: ignore[union-attr]
    assert "Be brief." in prompt and "What is the weather in Paris?" in prompt


def test_function_call_item(fresh: Proxy) -> None:
    fresh.script = Script(text=HERMES_CALL)
    body = create(fresh, tools=[WEATHER], tool_choice={"type": "function", "name": "get_weather"}).json()
    [call] = body["output"]
    assert call["type"] == "function_call" and call["id"].startswith("fc_")
    assert call["call_id"].startswith("call_") and call["name"] == "get_weather"
    assert json.loads(call["arguments"]) == {"city": "Paris"}
    assert body["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert fresh.backend.requests[-1].grammar  # type: ignore[union-attr]


def test_stream_events_reassemble_to_the_response(fresh: Proxy) -> None:
    fresh.script = Script(text="Let me check. " + HERMES_CALL, chunk_size=2)
    stream = events(create(fresh, tools=[WEATHER], stream=True))
    kinds = [e["type"] for e in stream]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert [e["sequence_number"] for e in stream] == list(range(len(stream)))
    final = stream[-1]["response"]
    message, call = final["output"]
    text = "".join(e["delta"] for e in stream if e["type"] == "response.output_text.delta")
    args = "".join(e["delta"] for e in stream if e["type"] == "response.function_call_arguments.delta")
    assert text == message["content"][0]["text"] == "Let me check."
    assert args == call["arguments"] and json.loads(args) == {"city": "Paris"}
    done = [e["item"] for e in stream if e["type"] == "response.output_item.done"]
    assert done == final["output"]
    added = [e for e in stream if e["type"] == "response.output_item.added"]
    assert [e["output_index"] for e in added] == [0, 1]
    assert kinds.index("response.content_part.added") < kinds.index("response.output_text.delta")
    assert kinds.index("response.output_text.done") < kinds.index("response.content_part.done")
    assert "response.function_call_arguments.done" in kinds


def test_stream_and_non_stream_agree(fresh: Proxy) -> None:
    fresh.script = Script(text=HERMES_CALL)
    plain = create(fresh, tools=[WEATHER], tool_choice="required").json()
    streamed = events(create(fresh, tools=[WEATHER], tool_choice="required", stream=True))[-1]["response"]

    def shape(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in item.items() if k not in ("id", "call_id")} for item in output]

    assert shape(plain["output"]) == shape(streamed["output"])


def test_max_output_tokens_is_incomplete(fresh: Proxy) -> None:
    fresh.script = Script(text="Hello", finish_reason="length")
    body = create(fresh, max_output_tokens=2).json()
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_output_tokens"}
    assert fresh.backend.requests[-1].max_tokens == 2  # type: ignore[union-attr]
    stream = events(create(fresh, max_output_tokens=2, stream=True))
    assert stream[-1]["type"] == "response.incomplete"


def test_text_format_json_schema_is_a_grammar(fresh: Proxy) -> None:
    fresh.script = Script(text='{"city": "Paris"}')
    fmt = {"type": "json_schema", "name": "place", "schema": WEATHER["parameters"], "strict": True}
    body = create(fresh, text={"format": fmt}).json()
    assert body["output"][0]["content"][0]["text"] == '{"city": "Paris"}'
    assert body["text"]["format"]["name"] == "place"
    assert "city" in (fresh.backend.requests[-1].grammar or "")  # type: ignore[union-attr]
    create(fresh, text={"format": {"type": "json_object"}})
    assert fresh.backend.requests[-1].grammar  # type: ignore[union-attr]


def test_items_round_trip_into_the_prompt(fresh: Proxy) -> None:
    items = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21 C"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "And so?"}]},
    ]
    assert create(fresh, input=items, tools=[WEATHER]).status_code == 200
    prompt = fresh.backend.requests[-1].prompt  # type: ignore[union-attr]
    assert "sunny, 21 C" in prompt and "And so?" in prompt and "Paris" in prompt


def test_previous_response_id_continues_and_get_delete(fresh: Proxy) -> None:
    fresh.script = Script(text=HERMES_CALL)
    first = create(fresh, tools=[WEATHER], tool_choice="required").json()
    call = first["output"][0]
    fresh.script = Script(text="It is sunny.")
    second = create(fresh, previous_response_id=first["id"], tools=[WEATHER],
                    input=[{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}]).json()
    assert second["previous_response_id"] == first["id"]
    prompt = fresh.backend.requests[-1].prompt  # type: ignore[union-attr]
    assert "What is the weather in Paris?" in prompt and "sunny" in prompt
    got = httpx.get(f"{fresh.url}/v1/responses/{second['id']}")
    assert got.status_code == 200 and got.json() == second
    deleted = httpx.delete(f"{fresh.url}/v1/responses/{second['id']}")
    assert deleted.json() == {"id": second["id"], "object": "response", "deleted": True}
    assert openai_error(httpx.get(f"{fresh.url}/v1/responses/{second['id']}"), 404)["type"] == "not_found_error"
    assert httpx.delete(f"{fresh.url}/v1/responses/{second['id']}").status_code == 404
    error = openai_error(create(fresh, previous_response_id=second["id"]), 400)
    assert error["param"] == "previous_response_id" and error["code"] == "previous_response_not_found"


def test_store_false_is_not_kept(fresh: Proxy) -> None:
    body = create(fresh, store=False).json()
    assert httpx.get(f"{fresh.url}/v1/responses/{body['id']}").status_code == 404


def test_restart_keeps_stored_responses(tmp_path: Any) -> None:
    from tests.hardening.conftest import start_proxy
    from toolproxy.settings import Settings

    settings = Settings(style="hermes", responses_db=str(tmp_path / "r.sqlite3"))
    with start_proxy(settings) as first:
        stored = create(first, input="My name is Ada.").json()
    with start_proxy(settings) as second:
        assert httpx.get(f"{second.url}/v1/responses/{stored['id']}").json() == stored
        assert create(second, previous_response_id=stored["id"], input="My name?").status_code == 200
        assert "My name is Ada." in second.backend.requests[-1].prompt  # type: ignore[union-attr]


@pytest.mark.parametrize(("body", "param", "words"), [
    ({"tools": [{"type": "web_search"}]}, "tools.0", "'web_search'"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]},
     "input.0.message.content.0", "'input_image'"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
     "input.0.message.content.0", "'input_file'"),
    ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].id", "'x' not found"),
    ({"input": [{"type": "computer_call_output", "call_id": "x"}]}, "input.0", "'computer_call_output'"),
    ({"tool_choice": {"type": "allowed_tools", "tools": []}}, "tool_choice", "'allowed_tools'"),
    ({"include": ["message.output_text.logprobs"]}, "include", "logprobs"),
    ({"frequency_penalty": 1}, "frequency_penalty", "Extra inputs"),
    ({"background": True}, "background", ""),
    ({"input": []}, "input", "at least one"),
    ({"tool_choice": "required"}, "tool_choice", "at least one tool"),
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice", "'nope'"),
    ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema", "schema"),
    ({"max_output_tokens": 0}, "max_output_tokens", ""),
    ({"max_output_tokens": 10**6}, "max_output_tokens", "max_output_tokens too large"),
    ({"tools": [{**WEATHER, "parameters": {"properties": {"a": {"type": "string", "pattern": "(a+)+$"}}}}]},
     "tools[0].parameters", "catastrophic"),
])
def test_unsupported_is_a_400_naming_the_field(fresh: Proxy, body: dict[str, Any], param: str, words: str) -> None:
    error = openai_error(create(fresh, **body), 400)
    assert error["param"] == param, error
    assert words in error["message"], error


def test_stream_failure_is_response_failed(fresh: Proxy) -> None:
    fresh.script = Script(text="Hello there, world.", fail_after=2)
    stream = events(create(fresh, stream=True))
    kinds = [e["type"] for e in stream]
    assert kinds[-2:] == ["error", "response.failed"]
    assert stream[-1]["response"]["status"] == "failed" and stream[-1]["response"]["error"]["message"]


THOUGHTFUL = 'I know this.", "next_step": {"result": "Sunny."}}'  # after the style's forced prefix


def test_reasoning_item_when_the_style_thinks(fresh: Proxy) -> None:
    fresh.script = Script(text=THOUGHTFUL)
    plain = create(fresh, tools=[WEATHER], style="thoughtful_steps").json()
    reasoning, message = plain["output"]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert reasoning["content"] == [{"type": "reasoning_text", "text": "I know this."}]
    assert message["content"][0]["text"] == "Sunny."
    stream = events(create(fresh, tools=[WEATHER], style="thoughtful_steps", stream=True))
    thought = "".join(e["delta"] for e in stream if e["type"] == "response.reasoning_text.delta")
    assert thought == "I know this." and stream[-1]["response"]["output"][0]["content"] == reasoning["content"]


def _two_turns(proxy: Proxy) -> tuple[dict[str, Any], dict[str, Any]]:
    proxy.script = Script(text=HERMES_CALL)
    first = create(proxy, tools=[WEATHER], tool_choice="required").json()
    proxy.script = Script(text="It is sunny.")
    second = create(proxy, previous_response_id=first["id"], tools=[WEATHER],
                    input=[{"type": "function_call_output", "call_id": first["output"][0]["call_id"],
                            "output": "sunny"}]).json()
    return first, second


def test_input_items_list_the_whole_context_in_pages(fresh: Proxy) -> None:
    first, second = _two_turns(fresh)
    url = f"{fresh.url}/v1/responses/{second['id']}/input_items"
    listed = httpx.get(url, params={"order": "asc"}).json()
    kinds = [item["type"] for item in listed["data"]]
    assert kinds == ["message", "function_call", "function_call_output"] and listed["has_more"] is False
    message, call, output = listed["data"]
    assert message["role"] == "user" and message["content"] == [{"type": "input_text",
                                                                  "text": "What is the weather in Paris?"}]
    assert call == first["output"][0]  # the previous response's output item, as it was answered
    assert output["output"] == "sunny" and output["id"].startswith("fco_") and output["status"] == "completed"
    assert listed["first_id"] == message["id"] and listed["last_id"] == output["id"]
    newest_first = httpx.get(url).json()["data"]  # order desc is the default
    assert newest_first == listed["data"][::-1]
    page = httpx.get(url, params={"limit": 1, "order": "asc", "after": message["id"]}).json()
    assert page["data"] == [call] and page["has_more"] is True
    first_items = httpx.get(f"{fresh.url}/v1/responses/{first['id']}/input_items").json()["data"]
    assert first_items == [message]  # ids are kept with the items, so the same item has the same id


def test_input_items_through_the_openai_sdk(fresh: Proxy) -> None:
    from openai import OpenAI

    _, second = _two_turns(fresh)
    client = OpenAI(base_url=f"{fresh.url}/v1", api_key="unused", max_retries=0)
    items = list(client.responses.input_items.list(second["id"], order="asc", limit=2))  # the SDK pages on
    assert [item.type for item in items] == ["message", "function_call", "function_call_output"]


@pytest.mark.parametrize(("params", "param"), [({"limit": 0}, "limit"), ({"limit": "x"}, "limit"),
                                               ({"limit": 101}, "limit"), ({"order": "up"}, "order"),
                                               ({"after": "msg_nope"}, "after"), ({"include": "web"}, "include")])
def test_input_items_bad_query_is_a_400(fresh: Proxy, params: dict[str, Any], param: str) -> None:
    _, second = _two_turns(fresh)
    assert openai_error(httpx.get(f"{fresh.url}/v1/responses/{second['id']}/input_items", params=params),
                        400)["param"] == param
    assert openai_error(httpx.get(f"{fresh.url}/v1/responses/resp_nope/input_items"), 404)["param"] == "response_id"


def test_item_reference_replays_a_stored_item(fresh: Proxy) -> None:
    first, _ = _two_turns(fresh)
    call = first["output"][0]
    fresh.script = Script(text="Sunny again.")
    body = create(fresh, tools=[WEATHER], store=False, input=[
        {"role": "user", "content": "Weather in Paris?"}, {"type": "item_reference", "id": call["id"]},
        {"type": "function_call_output", "call_id": call["call_id"], "output": "rainy, 12 C"}])
    assert body.status_code == 200
    prompt = fresh.backend.requests[-1].prompt  # type: ignore[union-attr]
    assert "get_weather" in prompt and "Paris" in prompt and "rainy, 12 C" in prompt
    error = openai_error(create(fresh, input=[{"type": "item_reference", "id": "fc_nope"}]), 400)
    assert error["param"] == "input[0].id" and error["code"] == "item_not_found"
