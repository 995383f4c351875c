"""Request ids in every log line; no prompt / tool-argument content in logs unless ``log_content``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from tests.hardening.conftest import TOOLS, start_proxy
from toolproxy.backends.scripted import Script
from toolproxy.logging import CONTENT_LOGGERS, LOG_FORMAT, RequestIdFilter, silence_content_loggers
from toolproxy.settings import Settings

SECRET = "SECRET-c0ffee-7731"


class Capture(logging.Handler):
    """Formatted lines of every record from every logger, through the request-id filter."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.addFilter(RequestIdFilter())
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    def clear(self) -> None:
        """Forget what was logged so far (the server's start-up lines carry no request id)."""
        self.records.clear()
        self.lines.clear()


@pytest.fixture
def capture() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    old_level = root.level
    toolproxy_logger = logging.getLogger("toolproxy")
    old_tp_level = toolproxy_logger.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    toolproxy_logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        toolproxy_logger.setLevel(old_tp_level)


def _noisy_requests(url: str, proxy_script: list[Script], request_id: str | None = None) -> list[httpx.Response]:
    """Requests that make the server log: unparseable output kept as text, a stream that fails mid-way."""
    headers = {"X-Request-ID": request_id} if request_id else {}
    responses = []
    for stream in (False, True):
        responses.append(httpx.post(f"{url}/v1/chat/completions", headers=headers, timeout=30, json={
            "messages": [{"role": "user", "content": f"my password is {SECRET}"}], "tools": TOOLS, "stream": stream}))
    return responses


def test_request_id_is_echoed_and_in_every_log_line(capture: Capture) -> None:
    with start_proxy() as proxy:
        proxy.script = Script(text=f'<tool_call>{{"nam {SECRET}</tool_call>', chunk_size=4)
        capture.clear()
        responses = _noisy_requests(proxy.url, [], request_id="client-id-42")
        proxy.script = Script(text=f"partial {SECRET} answer", chunk_size=2, fail_after=2)
        failed = httpx.post(f"{proxy.url}/v1/chat/completions", headers={"X-Request-ID": "client-id-43"},
                            json={"messages": [{"role": "user", "content": "hi"}], "stream": True}, timeout=30)
    assert [r.headers["x-request-id"] for r in responses] == ["client-id-42", "client-id-42"]
    assert failed.headers["x-request-id"] == "client-id-43" and "backend_error" in failed.text
    ours = [r for r in capture.records if r.name.startswith("toolproxy")]
    assert len(ours) >= 3, capture.lines  # two "kept as text" warnings and the stream failure
    assert {getattr(r, "request_id", None) for r in ours} <= {"client-id-42", "client-id-43"}, capture.lines
    assert any(getattr(r, "request_id", None) == "client-id-43" for r in ours)  # logged inside the SSE task
    assert all("[client-id-4" in line for line in capture.lines if " toolproxy." in line)


@pytest.mark.parametrize("incoming", [None, "", "has space", "x" * 129, "new\\nline", "<script>"])
def test_missing_or_insane_request_ids_are_replaced(incoming: str | None) -> None:
    with start_proxy() as proxy:
        headers = {} if incoming is None else {"X-Request-ID": incoming}
        ids = {httpx.get(f"{proxy.url}/health", headers=headers, timeout=10).headers["x-request-id"] for _ in range(2)}
    assert len(ids) == 2  # a fresh one each time
    for rid in ids:
        assert rid.startswith("req-") and len(rid) == 28 and rid != incoming


@pytest.mark.parametrize("log_content", [False, True])
def test_content_is_logged_only_with_log_content(capture: Capture, log_content: bool) -> None:
    """Everything at DEBUG (as with ``--log-level debug``), with the policy ``configure_logging`` applies."""
    levels = {name: logging.getLogger(name).level for name in CONTENT_LOGGERS}
    silence_content_loggers(log_content)
    try:
        _check_content_logging(capture, log_content)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _check_content_logging(capture: Capture, log_content: bool) -> None:
    with start_proxy(Settings(log_content=log_content)) as proxy:
        proxy.script = Script(text=f'<tool_call>{{"nam {SECRET}</tool_call>', chunk_size=4)
        _noisy_requests(proxy.url, [])
        proxy.script = Script(text=f'<tool_call>{{"name": "get_weather", "arguments": {{"city": "{SECRET}"}}}}'
                                   "</tool_call>")
        ok = httpx.post(f"{proxy.url}/v1/chat/completions", timeout=30, json={
            "messages": [{"role": "user", "content": SECRET}], "tools": TOOLS})
        assert SECRET in ok.text  # the answer carries it ...
        proxy.script = Script(text=f"partial {SECRET} answer", chunk_size=2, fail_after=2)
        httpx.post(f"{proxy.url}/v1/chat/completions", timeout=30, json={
            "messages": [{"role": "user", "content": SECRET}], "stream": True})
    text = "\n".join(capture.lines)
    assert capture.lines  # the server did log
    if log_content:
        assert SECRET in text  # ... so this test can see content when it is logged
    else:
        assert SECRET not in text, [line for line in capture.lines if SECRET in line]
