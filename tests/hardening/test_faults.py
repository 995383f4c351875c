"""Faults: upstream killed mid-stream, client gone mid-stream, upstream slow. Each must leave no stuck
request (backend counters, in-flight gauges), no leaked asyncio task on the server's loop, and the next
request must succeed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.backends.fake_upstream import FakeUpstream
from tests.conftest import REPO_ROOT
from tests.hardening.conftest import HERMES_CALL, TOOLS, USER, Proxy
from tests.servers import free_port, running_server
from toolproxy.app import create_app
from toolproxy.backends._upstream import Timeouts
from toolproxy.backends.base import Backend
from toolproxy.backends.llama_server import LlamaServerBackend, read_facts
from toolproxy.backends.scripted import Script
from toolproxy.settings import Settings


def _settle(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _sse_data(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


def _assert_clean(proxy: Proxy, baseline_tasks: int) -> None:
    """Nothing in flight, no extra task on the server's loop."""
    assert _settle(lambda: proxy.tasks() <= baseline_tasks), (proxy.tasks(), baseline_tasks)
    metrics = proxy.metrics()
    assert metrics["toolproxy_streams_in_flight"] == 0
    assert metrics["toolproxy_queue_depth"] == 0
    assert metrics["toolproxy_requests_in_flight"] == 1  # the scrape


# --------------------------------------------------------------------------- client gone


def test_client_gone_mid_stream_cancels_the_generation(fresh: Proxy) -> None:
    baseline = fresh.tasks()
    assert fresh.backend is not None
    cancelled = fresh.backend.cancelled
    fresh.script = Script(text="word " * 400, chunk_size=5, delay=0.02)  # ~8 s if nobody stopped it
    started = time.monotonic()
    with httpx.stream("POST", f"{fresh.url}/v1/chat/completions", timeout=30,
                      json={"messages": USER, "stream": True}) as response:
        lines = 0
        for line in response.iter_lines():
            lines += line.startswith("data: ")
            if lines >= 3:
                break  # and hang up
    assert _settle(lambda: fresh.backend is not None and fresh.backend.active == 0, timeout=5)
    assert time.monotonic() - started < 5  # stopped, not run to its end
    assert fresh.backend.cancelled == cancelled + 1
    _assert_clean(fresh, baseline)
    fresh.script = Script(text="next")
    assert fresh.chat().json()["choices"][0]["message"]["content"] == "next"


def test_many_clients_gone_mid_stream(fresh: Proxy) -> None:
    baseline = fresh.tasks()
    fresh.script = Script(text=HERMES_CALL * 50, chunk_size=3, delay=0.01)
    for _ in range(10):
        with httpx.stream("POST", f"{fresh.url}/v1/chat/completions", timeout=30,
                          json={"messages": USER, "tools": TOOLS, "stream": True}) as response:
            for n, _line in enumerate(response.iter_lines()):
                if n >= 4:
                    break
    assert _settle(lambda: fresh.backend is not None and fresh.backend.active == 0)
    _assert_clean(fresh, baseline)
    fresh.script = Script(text=HERMES_CALL)
    assert fresh.chat(tools=TOOLS).json()["choices"][0]["finish_reason"] == "tool_calls"


def test_client_gone_during_a_plain_request_cancels_the_generation(fresh: Proxy) -> None:
    """A non-streaming client that gives up: uvicorn alone would let the model generate for nobody; the
    disconnect watcher cancels the request and the backend generation is closed."""
    baseline = fresh.tasks()
    assert fresh.backend is not None
    cancelled = fresh.backend.cancelled
    fresh.script = Script(text="slow " * 100, chunk_size=5, delay=0.05)  # ~5 s if nobody stopped it
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{fresh.url}/v1/chat/completions", json={"messages": USER}, timeout=0.5)
    assert _settle(lambda: fresh.backend is not None and fresh.backend.active == 0, timeout=10)
    assert time.monotonic() - started < 3, "the generation ran on after the client left"
    assert fresh.backend.cancelled == cancelled + 1
    _assert_clean(fresh, baseline)
    fresh.script = Script(text="after")
    assert fresh.chat().json()["choices"][0]["message"]["content"] == "after"
    metrics = fresh.metrics()
    assert metrics['toolproxy_requests_total{endpoint="/v1/chat/completions",status="499"}'] >= 1


# --------------------------------------------------------------------------- upstream dies / stalls


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream(name="hardening", text='<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}'
                                                "</tool_call>", piece_chars=6)
    with running_server(fake.app()) as url:
        yield fake, url


@pytest.fixture(scope="module")
def fronted(upstream: tuple[FakeUpstream, str]) -> Iterator[Proxy]:
    """toolproxy in front of the fake llama-server, with a 1 s read timeout (an upstream silent longer fails)."""
    _, url = upstream
    holder: dict[str, Proxy] = {}

    def factory(_: Settings) -> Backend:
        import asyncio

        holder["proxy"].loop = asyncio.get_running_loop()
        return LlamaServerBackend(url, read_facts(url, wait_s=5.0), timeouts=Timeouts(connect=1.0, read=1.0))

    app = create_app(Settings(style="hermes"), backend_factory=factory)
    holder["proxy"] = Proxy(url="", app=app)
    with running_server(app) as proxy_url:
        holder["proxy"].url = proxy_url
        yield holder["proxy"]


@pytest.fixture
def fake(upstream: tuple[FakeUpstream, str]) -> FakeUpstream:
    found = upstream[0]
    found.mode, found.delay, found.stall_s = "ok", 0.0, 5.0
    return found


def _works(proxy: Proxy) -> None:
    body = proxy.chat(tools=TOOLS).json()
    assert body["choices"][0]["finish_reason"] == "tool_calls", body
    assert json.loads(body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}


FAILED = ("backend_error", "service_unavailable")  # 502 mid-answer; 503 when nothing was answered yet


@pytest.mark.parametrize("mode", ["die_mid", "die_before_first", "garbage", "stall"])
def test_upstream_failure_mid_stream(fronted: Proxy, fake: FakeUpstream, mode: str) -> None:
    _works(fronted)
    baseline = fronted.tasks()
    fake.mode = mode  # type: ignore[assignment]
    fake.stall_s = 3.0  # > the 1 s read timeout
    started = time.monotonic()
    streamed = fronted.chat(tools=TOOLS, stream=True)
    data = _sse_data(streamed.text)
    assert data[-1] == "[DONE]"
    error = json.loads(data[-2])["error"]
    assert error["type"] in FAILED, error
    plain = fronted.chat(tools=TOOLS)
    assert plain.status_code in (502, 503), plain.text
    assert plain.json()["error"]["type"] in FAILED
    assert time.monotonic() - started < 8  # bounded by the read timeout, not by the stall
    _assert_clean(fronted, baseline)
    fake.mode = "ok"
    _works(fronted)


def test_slow_upstream_within_the_timeout_is_served(fronted: Proxy, fake: FakeUpstream) -> None:
    baseline = fronted.tasks()
    fake.delay = 0.2  # slow but never silent for 1 s
    streamed = fronted.chat(tools=TOOLS, stream=True)
    data = _sse_data(streamed.text)
    assert data[-1] == "[DONE]" and all('"error"' not in d for d in data)
    _assert_clean(fronted, baseline)


def test_upstream_gone_entirely(fake: FakeUpstream) -> None:
    """The upstream server is shut down between requests (connection refused): a clean 502/503, no hang."""
    fake.mode = "ok"
    server = running_server(fake.app())
    url = server.__enter__()
    facts = read_facts(url, wait_s=5.0)

    def factory(_: Settings) -> Backend:
        return LlamaServerBackend(url, facts, timeouts=Timeouts(connect=1.0, read=1.0))

    with running_server(create_app(Settings(style="hermes"), backend_factory=factory)) as proxy_url:
        ok = httpx.post(f"{proxy_url}/v1/chat/completions", json={"messages": USER, "tools": TOOLS}, timeout=30)
        assert ok.status_code == 200
        server.__exit__(None, None, None)  # the upstream dies
        gone = httpx.post(f"{proxy_url}/v1/chat/completions", json={"messages": USER, "tools": TOOLS}, timeout=30)
        assert gone.status_code in (502, 503), gone.text
        assert gone.json()["error"]["type"] in ("backend_error", "service_unavailable")
        streamed = httpx.post(f"{proxy_url}/v1/chat/completions", timeout=30,
                              json={"messages": USER, "tools": TOOLS, "stream": True})
        assert streamed.status_code in (200, 502, 503)
        if streamed.status_code == 200:
            assert _sse_data(streamed.text)[-1] == "[DONE]" and '"error"' in streamed.text


def test_upstream_process_killed_mid_stream() -> None:
    """A real upstream process (the fake llama-server under uvicorn) is SIGKILLed while toolproxy streams
    from it: the client gets an error event and [DONE], nothing is left running, the next request is refused
    cleanly (503/502), not hung."""
    port = free_port()
    code = ("import uvicorn; from tests.backends.fake_upstream import FakeUpstream; "
            f"uvicorn.run(FakeUpstream(text='word ' * 200, piece_chars=5, delay=0.05).app(), host='127.0.0.1', "
            f"port={port}, log_level='warning')")
    upstream = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        facts = read_facts(url, wait_s=60.0)
        holder: dict[str, Proxy] = {}

        def factory(_: Settings) -> Backend:
            import asyncio

            holder["proxy"].loop = asyncio.get_running_loop()
            return LlamaServerBackend(url, facts, timeouts=Timeouts(connect=1.0, read=5.0))

        app = create_app(Settings(style="hermes"), backend_factory=factory)
        holder["proxy"] = Proxy(url="", app=app)
        with running_server(app) as proxy_url:
            proxy = holder["proxy"]
            proxy.url = proxy_url
            baseline = proxy.tasks()
            started = time.monotonic()
            data: list[str] = []
            with httpx.stream("POST", f"{proxy_url}/v1/chat/completions", timeout=30,
                              json={"messages": USER, "stream": True}) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        data.append(line[6:])
                    if len(data) == 5:
                        upstream.send_signal(signal.SIGKILL)
            assert time.monotonic() - started < 10
            assert data[-1] == "[DONE]"
            assert json.loads(data[-2])["error"]["type"] in FAILED
            _assert_clean(proxy, baseline)
            after = httpx.post(f"{proxy_url}/v1/chat/completions", json={"messages": USER}, timeout=30)
            assert after.status_code in (502, 503)
            assert after.json()["error"]["type"] in FAILED
    finally:
        upstream.kill()
        upstream.wait(timeout=10)
