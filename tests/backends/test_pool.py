"""UpstreamPool on scripted llama-server fakes (loopback HTTP): balancing, failover before the first token only,
conversation affinity, health checks; and through toolproxy, each upstream fault as a clear OpenAI-shaped error
with the proxy staying up."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.backends.fake_upstream import TEXT, FakeUpstream, collect, dead_url, fakes, pool_of, servers
from tests.servers import running_server
from toolproxy.app import create_app
from toolproxy.backends.llama_server import LlamaServerBackend, read_facts
from toolproxy.backends.pool import PrefixIndex, UpstreamPool
from toolproxy.errors import BackendError, BackendUnavailable
from toolproxy.settings import Settings

__all__ = ["fakes", "servers"]  # fixtures


# ---------------------------------------------------------------------- the pool


async def test_failover_when_an_upstream_is_dead(fakes: list[tuple[FakeUpstream, str]]) -> None:
    (fake_a, url_a), _ = fakes
    pool = pool_of([dead_url(), url_a], live=url_a)
    for _ in range(6):
        assert await collect(pool) == TEXT
    assert [m.healthy for m in pool.members] == [False, True]
    assert len(fake_a.bodies) == 6
    await pool.aclose()


@pytest.mark.parametrize("mode", ["loading", "die_before_first"])
async def test_failover_before_the_first_token(fakes: list[tuple[FakeUpstream, str]], mode: str) -> None:
    (fake_a, url_a), (fake_b, url_b) = fakes
    fake_a.mode = mode  # type: ignore[assignment]
    pool = pool_of([url_a, url_b], live=url_b)
    for _ in range(4):
        assert await collect(pool) == TEXT
    assert fake_b.finished == 4
    await pool.aclose()


async def test_no_replay_after_the_first_token(fakes: list[tuple[FakeUpstream, str]]) -> None:
    (fake_a, url_a), (fake_b, url_b) = fakes
    fake_a.mode = fake_b.mode = "die_mid"
    pool = pool_of([url_a, url_b], live=url_a)
    with pytest.raises(BackendError):
        await collect(pool)
    assert len(fake_a.bodies) + len(fake_b.bodies) == 1  # the half-streamed answer was not sent elsewhere
    await pool.aclose()


async def test_all_down_is_unavailable() -> None:
    live = FakeUpstream(name="live")
    with running_server(live.app()) as url:
        pool = pool_of([dead_url(), dead_url()], live=url)
        with pytest.raises(BackendUnavailable) as info:
            await collect(pool)
        assert "2 tried" in info.value.message
        await pool.aclose()


async def test_least_in_flight(fakes: list[tuple[FakeUpstream, str]]) -> None:
    (fake_a, url_a), (fake_b, url_b) = fakes
    fake_a.delay = fake_b.delay = 0.02
    pool = pool_of([url_a, url_b], live=url_a)
    # distinct prompts (no shared prefix): pure load balancing
    await asyncio.gather(*(collect(pool, prompt=f"{i} " * 200) for i in range(8)))
    assert (len(fake_a.bodies), len(fake_b.bodies)) == (4, 4)
    assert [m.in_flight for m in pool.members] == [0, 0]
    await pool.aclose()


async def test_conversation_affinity(fakes: list[tuple[FakeUpstream, str]]) -> None:
    (fake_a, url_a), (_, url_b) = fakes
    pool = pool_of([url_a, url_b], live=url_a, chunk_chars=64)
    prompts = {c: f"<system>tools</system><user>conversation {c}: " + "question " * 40 for c in "xyzw"}

    def served_by(prompt: str) -> str:
        return "a" if fake_a.bodies and fake_a.bodies[-1]["prompt"] == prompt else "b"

    home = {}
    for c, prompt in prompts.items():
        await collect(pool, prompt=prompt)
        home[c] = served_by(prompt)
    assert sorted(home.values()) == ["a", "a", "b", "b"]  # new conversations are spread
    for _ in range(3):  # each follow-up turn extends its prompt and goes back where the prefix is cached
        for c in prompts:
            prompts[c] += "<assistant>an answer</assistant><user>and then? " + "more " * 10
            await collect(pool, prompt=prompts[c])
            assert served_by(prompts[c]) == home[c], c
    await pool.aclose()


def test_prefix_index() -> None:
    index = PrefixIndex(chunk_chars=8, max_entries=4)
    keys = index.chain("abcdefgh" * 3 + "xyz")
    assert len(keys) == 3  # only full chunks
    index.remember(keys, 1)
    assert index.lookup(index.chain("abcdefgh" * 3 + "more and more")) == (1, 3)
    assert index.lookup(index.chain("abcdefgh" + "different.......")) == (1, 1)
    assert index.lookup(index.chain("zzzzzzzzzzzzzzzz")) == (None, 0)
    index.remember(index.chain("q" * 16), 0)
    assert len(index._owner) == 4  # bounded: the oldest entries go


async def test_health_checks_revive(fakes: list[tuple[FakeUpstream, str]]) -> None:
    (fake_a, url_a), (_, url_b) = fakes
    fake_a.mode = "loading"
    pool = pool_of([url_a, url_b], live=url_b)
    assert await pool.check_all() == [False, True]
    fake_a.mode = "ok"
    assert await pool.check_all() == [True, True]
    await pool.aclose()


async def test_background_health_loop(fakes: list[tuple[FakeUpstream, str]]) -> None:
    (fake_a, url_a), (_, url_b) = fakes
    facts = read_facts(url_b, wait_s=5.0)
    pool = UpstreamPool([LlamaServerBackend(u, facts) for u in (url_a, url_b)], health_interval=0.05)
    fake_a.mode = "loading"
    assert await collect(pool) == TEXT  # starts the loop (and fails over if it lands on a)
    for _ in range(100):
        if not pool.members[0].healthy:
            break
        await asyncio.sleep(0.02)
    assert not pool.members[0].healthy
    await pool.aclose()


# ---------------------------------------------------------------------- through toolproxy


TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def _chat(url: str, *, stream: bool = False, **extra: object) -> httpx.Response:
    body = {"model": "m", "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": TOOLS,
            "stream": stream, **extra}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=30)


@pytest.fixture(scope="module")
def proxied(servers: list[tuple[FakeUpstream, str]]) -> Iterator[tuple[str, FakeUpstream]]:
    """toolproxy in front of one fake upstream (the fault injector) with a short read timeout."""
    fake, url = servers[0]
    fake.mode = "ok"  # module-scoped: set up before the per-test reset
    settings = Settings(upstreams=[url], upstream_timeout=0.5, upstream_wait=5.0, style="hermes",
                        default_max_tokens=64)
    with running_server(create_app(settings)) as proxy:
        yield proxy, fake


@pytest.mark.parametrize(
    ("mode", "status", "error_type"),
    [
        ("loading", 503, "service_unavailable"),
        ("die_before_first", 503, "service_unavailable"),
        ("die_mid", 502, "backend_error"),
        ("stall", 502, "backend_error"),
        ("garbage", 502, "backend_error"),
    ],
)
def test_proxy_faults(fakes: list[tuple[FakeUpstream, str]], proxied: tuple[str, FakeUpstream], mode: str,
                      status: int, error_type: str) -> None:
    proxy, fake = proxied
    fake.mode = mode  # type: ignore[assignment]
    fake.stall_s = 2.0
    response = _chat(proxy)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["type"] == error_type
    # streaming: an error event, then [DONE] (or the error status before the stream starts)
    streamed = _chat(proxy, stream=True)
    if streamed.status_code == 200:
        events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        assert json.loads(events[-2])["error"]["type"] == error_type
    else:
        assert streamed.status_code == status
        assert streamed.json()["error"]["type"] == error_type
    # the proxy stays up and serves again once the upstream does
    fake.mode = "ok"
    assert httpx.get(proxy + "/health").status_code == 200
    assert _chat(proxy).status_code == 200


def test_proxy_refused_connection() -> None:
    upstream = contextlib.ExitStack()
    url = upstream.enter_context(running_server(FakeUpstream(name="x").app()))
    settings = Settings(upstreams=[url], upstream_wait=5.0, style="hermes", default_max_tokens=32)
    with running_server(create_app(settings)) as proxy:
        upstream.close()  # the upstream goes away after start-up: connection refused
        response = _chat(proxy)
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "service_unavailable"
        assert httpx.get(proxy + "/health").status_code == 200


def test_proxy_two_upstreams_one_dead(fakes: list[tuple[FakeUpstream, str]]) -> None:
    (fake_a, url_a), _ = fakes
    settings = Settings(upstreams=[dead_url(), url_a], upstream_wait=5.0, style="hermes", default_max_tokens=32)
    with running_server(create_app(settings)) as proxy:
        for stream in (False, True, False, True, False, True):
            response = _chat(proxy, stream=stream)
            assert response.status_code == 200
            assert "error" not in response.text
    assert len(fake_a.bodies) == 6


@pytest.mark.parametrize(("style", "trigger"), [("hermes", "<tool_call>"), ("mixtral", "[TOOL_CALLS]")])
def test_auto_sends_a_lazy_grammar_required_a_strict_one(
    fakes: list[tuple[FakeUpstream, str]], proxied: tuple[str, FakeUpstream], style: str, trigger: str
) -> None:
    """tool_choice auto: free text until the call marker (llama.cpp's lazy grammar, the grammar starting at
    the trigger); required: the full grammar, not lazy."""
    url, fake = proxied
    fake.bodies.clear()
    assert _chat(url, tool_choice="auto", style=style).status_code == 200
    body = fake.bodies[-1]
    assert body["grammar_lazy"] is True
    assert [t["value"] for t in body["grammar_triggers"]] == [trigger]
    assert body["grammar"].startswith("root ::=") and trigger.replace("[", "").replace("]", "")[:4] in body["grammar"]
    assert _chat(url, tool_choice="required", style=style).status_code == 200
    assert "grammar_lazy" not in fake.bodies[-1] and fake.bodies[-1]["grammar"]
