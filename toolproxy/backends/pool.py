"""Several upstreams serving the same model: load balancing, health checks, failover, conversation affinity.

- **Choice**: the upstream that already holds the longest cached prefix of the prompt (conversation affinity),
  unless it has more than ``affinity_slack`` requests in flight beyond the least busy one; otherwise the
  healthy upstream with the fewest requests in flight (ties rotate).
- **Affinity**: the prompt is cut into ``chunk_chars`` pieces and hashed as a chain (like vLLM's prefix-cache
  blocks / SGLang's cache-aware router). Each served prompt's chain is remembered (LRU, bounded) with its
  upstream; a follow-up turn, whose prompt extends the previous one, matches it up to its last full chunk
  and lands where its prefix is in llama-server's KV cache.
- **Failover**: an upstream that cannot take the request (:class:`BackendUnavailable`: refused, reset, 503
  loading, gone before the first piece of output) is marked down and the next one is tried. Once output has
  been handed to the client, failures are surfaced, never replayed elsewhere.
- **Health**: ``check_health()`` of every upstream every ``health_interval`` seconds revives (or retires) them;
  upstreams marked down are still tried last, in case every mark is stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Protocol

from toolproxy.backends.base import Backend, GenerationEvent, GenerationRequest, ModelInfo
from toolproxy.errors import BackendError, BackendUnavailable

log = logging.getLogger(__name__)


class Upstream(Protocol):
    """An upstream backend a pool can balance: a Backend with a URL and a cheap health probe."""

    @property
    def url(self) -> str: ...

    prefers_lazy_grammar: bool

    def info(self) -> ModelInfo: ...

    def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]: ...

    async def check_health(self) -> bool: ...

    async def aclose(self) -> None: ...


@dataclass
class Member:
    upstream: Upstream
    in_flight: int = 0
    healthy: bool = True
    served: int = 0
    failures: int = 0


class PrefixIndex:
    """Chained hashes of fixed-size prompt chunks -> the member that last served a prompt with that prefix."""

    def __init__(self, *, chunk_chars: int = 256, max_entries: int = 65536) -> None:
        self.chunk_chars = chunk_chars
        self.max_entries = max_entries
        self._owner: OrderedDict[bytes, int] = OrderedDict()

    def chain(self, prompt: str) -> list[bytes]:
        keys: list[bytes] = []
        digest = b""
        data = prompt.encode("utf-8", "surrogatepass")
        size = self.chunk_chars
        for start in range(0, len(data) - size + 1, size):
            digest = hashlib.blake2b(digest + data[start : start + size], digest_size=12).digest()
            keys.append(digest)
        return keys

    def lookup(self, keys: list[bytes]) -> tuple[int | None, int]:
        """(member index, matched chunks) of the deepest known prefix."""
        for depth in range(len(keys), 0, -1):
            owner = self._owner.get(keys[depth - 1])
            if owner is not None:
                return owner, depth
        return None, 0

    def remember(self, keys: list[bytes], owner: int) -> None:
        for key in keys:
            self._owner[key] = owner
            self._owner.move_to_end(key)
        while len(self._owner) > self.max_entries:
            self._owner.popitem(last=False)


class UpstreamPool(Backend):
    def __init__(self, upstreams: Sequence[Upstream], *, health_interval: float = 5.0, affinity_slack: int = 2,
                 chunk_chars: int = 256, max_prefix_entries: int = 65536) -> None:
        if not upstreams:
            raise ValueError("a pool needs at least one upstream")
        self.members = [Member(u) for u in upstreams]
        self.prefers_lazy_grammar = all(u.prefers_lazy_grammar for u in upstreams)
        self.sampling_fields = frozenset.intersection(  # what every member honours
            *(frozenset(getattr(u, "sampling_fields", ())) for u in upstreams))
        self._health_interval = health_interval
        self._slack = affinity_slack
        self._index = PrefixIndex(chunk_chars=chunk_chars, max_entries=max_prefix_entries)
        self._turn = 0
        self._health_task: asyncio.Task[None] | None = None

    def info(self) -> ModelInfo:
        return self.members[0].upstream.info()


    # ------------------------------------------------------------------ choosing

    def order(self, prompt: str) -> tuple[list[int], list[bytes]]:
        """Member indexes in the order to try them, and the prompt's prefix chain."""
        keys = self._index.chain(prompt)
        healthy = [i for i, m in enumerate(self.members) if m.healthy]
        down = [i for i, m in enumerate(self.members) if not m.healthy]
        self._turn += 1
        n = len(self.members)
        rotated = sorted(healthy, key=lambda i: (self.members[i].in_flight, (i - self._turn) % n))
        owner, depth = self._index.lookup(keys)
        if owner is not None and depth and owner in healthy and rotated:
            least = self.members[rotated[0]].in_flight
            if self.members[owner].in_flight <= least + self._slack:
                rotated.remove(owner)
                rotated.insert(0, owner)
        return rotated + down, keys

    # ------------------------------------------------------------------ serving

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        self._ensure_health_checks()
        order, keys = self.order(request.prompt)
        last: BackendUnavailable | None = None
        for index in order:
            member = self.members[index]
            stream = member.upstream.generate(request)
            member.in_flight += 1
            try:
                first = await anext(stream)
            except BackendUnavailable as exc:  # nothing was generated: safe to try the next upstream
                member.in_flight -= 1
                member.failures += 1
                if member.healthy:
                    log.warning("upstream %s unavailable, failing over: %s", member.upstream.url, exc.message)
                member.healthy = False
                last = exc
                await stream.aclose()
                continue
            except StopAsyncIteration:
                member.in_flight -= 1
                raise BackendError(f"upstream {member.upstream.url} ended the answer without a result") from None
            except BaseException:
                member.in_flight -= 1
                await stream.aclose()
                raise
            member.served += 1
            self._index.remember(keys, index)
            try:
                yield first
                async for event in stream:
                    yield event
            finally:
                member.in_flight -= 1
                await stream.aclose()
            return
        detail = f": {last.message}" if last is not None else ""
        raise BackendUnavailable(f"no upstream could take the request ({len(order)} tried){detail}")

    # ------------------------------------------------------------------ health

    def _ensure_health_checks(self) -> None:
        if self._health_interval <= 0:
            return
        loop = asyncio.get_running_loop()
        task = self._health_task
        if task is None or task.done() or task.get_loop() is not loop:
            self._health_task = loop.create_task(self._health_loop(), name="toolproxy-upstream-health")

    async def check_all(self) -> list[bool]:
        """Probe every upstream now; updates and returns their health."""
        results = await asyncio.gather(*(m.upstream.check_health() for m in self.members), return_exceptions=True)
        for member, ok in zip(self.members, results, strict=True):
            healthy = ok is True
            if healthy != member.healthy:
                log.info("upstream %s is %s", member.upstream.url, "up" if healthy else "down")
            member.healthy = healthy
        return [m.healthy for m in self.members]

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval)
            await self.check_all()

    async def aclose(self) -> None:
        task, self._health_task = self._health_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await task
        for member in self.members:
            await member.upstream.aclose()
