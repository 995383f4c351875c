"""Settings -> the Backend: embedded llama.cpp (default), a pool of upstreams (``--upstream``), or a spawned
llama-server (``--spawn-llama-server``)."""

from __future__ import annotations

import shlex
import time
from typing import TYPE_CHECKING

from toolproxy.backends._upstream import Timeouts
from toolproxy.backends.base import Backend
from toolproxy.errors import BackendUnavailable

if TYPE_CHECKING:
    from toolproxy.backends.pool import Upstream
    from toolproxy.settings import Settings


def backend_from_settings(settings: Settings) -> Backend:
    if settings.upstreams and settings.spawn_llama_server:
        raise ValueError("--upstream and --spawn-llama-server exclude each other")
    if settings.upstreams:
        return upstream_pool(settings)
    if settings.spawn_llama_server:
        from toolproxy.backends.spawn import spawn_backend

        return spawn_backend(
            settings.resolved_model_path(),
            binary=settings.llama_server_bin,
            ctx=settings.ctx,
            threads=settings.threads,
            model_id=settings.model_id,
            extra_args=shlex.split(settings.llama_server_args or ""),
            wait_s=max(settings.upstream_wait, 10.0),
            timeouts=_timeouts(settings),
        )
    from toolproxy.backends import _openmp

    # before llama.cpp (and libgomp) is loaded; spinning only where the thread count follows the free cores
    _openmp.configure(settings.cpu_wait or ("spin" if settings.adaptive_threads else None))
    from toolproxy.backends.embedded import EmbeddedBackend

    return EmbeddedBackend(
        settings.resolved_model_path(),
        n_ctx=settings.ctx,
        n_threads=settings.threads,
        model_id=settings.model_id,
        adaptive_threads=settings.adaptive_threads,
        jump_forward=settings.jump_forward,
        parallel=settings.parallel,
    )


def _timeouts(settings: Settings) -> Timeouts:
    return Timeouts(read=settings.upstream_timeout)


def upstream_pool(settings: Settings) -> Backend:
    """All ``settings.upstreams`` behind one :class:`UpstreamPool`; the model's facts are read from the first
    upstream that is ready within ``upstream_wait`` seconds (the others may come up later)."""
    from toolproxy.backends.pool import UpstreamPool

    urls = [url.rstrip("/") for url in settings.upstreams]
    timeouts = _timeouts(settings)
    deadline = time.monotonic() + settings.upstream_wait
    members: list[Upstream] = []
    while True:
        last: BackendUnavailable | None = None
        for url in urls:
            try:
                if settings.upstream_kind == "openai":
                    members = _openai_members(settings, url, urls, timeouts)
                else:
                    members = _llama_members(settings, url, urls, timeouts)
                return UpstreamPool(members)
            except BackendUnavailable as exc:
                last = exc
        if time.monotonic() >= deadline:
            raise BackendUnavailable(
                f"none of the upstreams is ready after {settings.upstream_wait:.0f} s: {last.message if last else ''}"
            )
        time.sleep(0.5)


def _llama_members(settings: Settings, url: str, urls: list[str], timeouts: Timeouts) -> list[Upstream]:
    from toolproxy.backends.llama_server import LlamaServerBackend, read_facts

    facts = read_facts(url, model_id=settings.model_id, api_key=settings.upstream_api_key, wait_s=0.0)
    return [LlamaServerBackend(u, facts, timeouts=timeouts, api_key=settings.upstream_api_key) for u in urls]


def _openai_members(settings: Settings, url: str, urls: list[str], timeouts: Timeouts) -> list[Upstream]:
    from toolproxy.backends.openai_completions import OpenAICompletionsBackend, read_info

    info, name = read_info(url, model_id=settings.model_id, context_size=None, api_key=settings.upstream_api_key,
                           wait_s=0.0)
    return [
        OpenAICompletionsBackend(u, info, upstream_model=name, grammar_field=settings.grammar_field,
                                 timeouts=timeouts, api_key=settings.upstream_api_key)
        for u in urls
    ]
