"""How many threads llama.cpp may use right now: the cores the *other* processes leave free (``adaptive_threads``).

llama.cpp's CPU backend splits every operation of a decode step over its threads and waits for all of them at a
barrier (an OpenMP barrier: hundreds per token). With a core taken by another process, one of our threads is
descheduled at every other barrier and the step waits for it: two threads on one free core decode slower than
one thread alone. So, every ``interval`` seconds, the CPU time our cores spent busy (``/proc/stat``) minus our
own process's CPU time gives the cores the others keep busy; we use the rest (at least 1, at most
the configured thread count). On an idle machine that is every thread; beside a CPU-bound neighbour on two
cores, one. Where ``/proc/stat`` cannot be read the configured count is kept.
"""

from __future__ import annotations

import os
import time


def _busy_seconds(cores: frozenset[int]) -> float | None:
    """CPU seconds ``cores`` spent busy since boot (their ``cpuN`` lines of ``/proc/stat``), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            lines = [line.split() for line in f if line.startswith("cpu") and line[3:4].isdigit()]
    except OSError:
        return None
    ticks = 0
    for fields in lines:
        if int(fields[0][3:]) not in cores:
            continue
        values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
        ticks += sum(values) - values[3] - (values[4] if len(values) > 4 else 0)
    return ticks / (os.sysconf("SC_CLK_TCK") or 100) if lines else None


def _own_cores() -> frozenset[int]:
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return frozenset(range(os.cpu_count() or 1))


def busy_elsewhere(window: float = 0.25) -> float | None:
    """How many of our cores other processes keep busy, measured over ``window`` seconds (None: unknown)."""
    cores = _own_cores()
    start, ours, wall = _busy_seconds(cores), time.process_time(), time.monotonic()
    if start is None:
        return None
    time.sleep(window)
    end = _busy_seconds(cores)
    if end is None:
        return None
    return max(0.0, (end - start) - (time.process_time() - ours)) / max(1e-6, time.monotonic() - wall)


class ThreadGovernor:
    """Chooses the thread count from the cores other processes leave free (re-measured every ``interval``)."""

    def __init__(self, max_threads: int, *, interval: float = 0.5) -> None:
        self.max_threads = max_threads
        self.interval = interval
        self._cores = _own_cores()
        self._last: tuple[float, float, float] | None = None  # (wall, machine busy, our CPU)
        self.threads = max_threads

    def update(self) -> int:
        """The thread count to use now (cheap: re-measures at most every ``interval`` seconds)."""
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < self.interval:
            return self.threads
        busy = _busy_seconds(self._cores)
        ours = time.process_time()
        if busy is None:
            return self.threads
        if self._last is not None:
            wall = now - self._last[0]
            others = max(0.0, (busy - self._last[1]) - (ours - self._last[2])) / wall  # cores busy elsewhere
            free = len(self._cores) - others
            self.threads = max(1, min(self.max_threads, int(free + 0.25)))
        self._last = (now, busy, ours)
        return self.threads
