"""How llama.cpp's OpenMP threads wait between two tokens (``cpu_wait`` / ``TOOLPROXY_CPU_WAIT``).

llama.cpp's CPU backend runs each decode step as one OpenMP parallel region. Between two steps (while Python
picks the next token) libgomp's idle threads either spin or sleep:

- ``passive``: sleep at once (``OMP_WAIT_POLICY=PASSIVE``). Never steals a core, pays a wake-up every token.
- ``active``: spin (``OMP_WAIT_POLICY=ACTIVE``; libgomp spins for ~30e9 iterations: minutes, so an idle
  server keeps burning its cores long after the last request).
- ``spin``: libgomp's own default (300,000 spins, then sleep; 1,000 when there are more threads than CPUs),
  what llama-server runs with.
- an integer N: spin N iterations, then sleep (``GOMP_SPINCOUNT=N``).
- ``auto`` (the default, :data:`DEFAULT`): ``spin`` when, at start-up, other processes keep less than half a
  core busy (:func:`toolproxy.backends._cpu.busy_elsewhere`, 0.25 s of ``/proc/stat``), else ``passive``. Measured
  with ``python bench/thread_bench.py`` on the 2-core machine, 2 threads (README, "The embedded backend"): idle,
  ``spin`` 76.5 tok/s = 1.66x llama-server's 46.0, ``passive`` 35.0 = 0.76x; beside one CPU-bound neighbour
  ``spin`` 28.0 = 1.58x llama-server's 17.8, ``passive`` 37.5 = 2.11x (auto's pick there); on a machine loaded
  by several busy processes spinning collapsed (``spin`` 2-13 tok/s, llama-server itself 1-9) where ``passive``
  kept 15-30. The choice is made once (libgomp reads it once) and logged; the wait policy changes speed only.

``adaptive_threads`` (:mod:`toolproxy.backends._cpu`: one thread, so no barrier to spin at, whenever other
processes keep a core busy) makes ``spin`` the default instead; it is off by default because a thread count that
follows the machine's load makes two runs of one request differ where llama.cpp's results depend on the thread
count.

libgomp reads its environment once, when it is loaded (the first ``import llama_cpp``); so this is applied
before that import (:mod:`toolproxy.backends._llama_lib`, and the server's backend factory), and an explicit
``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` in the environment always wins.
"""

from __future__ import annotations

import logging
import os
import re
import sys

from toolproxy.backends._cpu import busy_elsewhere

log = logging.getLogger(__name__)

DEFAULT = "auto"
AUTO_BUSY = 0.5  # auto spins while other processes keep fewer cores than this busy
_SPIN = re.compile(r"\d{1,12}")


def check(value: str) -> str:
    """``value`` normalised, or ValueError naming the choices."""
    v = value.strip().lower()
    if v in ("auto", "passive", "active", "spin") or _SPIN.fullmatch(v):
        return v
    raise ValueError(f"cpu_wait must be auto, passive, active, spin or a spin count (a number), not {value!r}")


def resolve(value: str) -> str:
    """``value`` normalised, ``auto`` replaced by ``spin`` or ``passive`` from the machine's load now."""
    v = check(value)
    if v != "auto":
        return v
    others = busy_elsewhere()
    return "spin" if others is not None and others < AUTO_BUSY else "passive"


def environment(value: str) -> dict[str, str]:
    """The libgomp environment variables for ``value`` (``auto`` resolved now)."""
    v = resolve(value)
    if v == "passive":
        return {"OMP_WAIT_POLICY": "PASSIVE"}
    if v == "active":
        return {"OMP_WAIT_POLICY": "ACTIVE"}
    if v == "spin":
        return {}
    return {"GOMP_SPINCOUNT": v}


def configure(value: str | None) -> bool:
    """Set the environment for ``value`` (None: ``TOOLPROXY_CPU_WAIT``, else the default) unless the environment
    says otherwise itself or llama.cpp is loaded already. True when the setting took effect."""
    explicit = value is not None
    v = check(value if value is not None else os.environ.get("TOOLPROXY_CPU_WAIT") or DEFAULT)
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return False
    if "llama_cpp" in sys.modules:
        if explicit and v != "spin":  # spin is libgomp's own default: nothing would change
            log.warning("cpu_wait=%s comes too late: llama.cpp is loaded already", v)
        return False
    chosen = resolve(v)
    if v == "auto":
        log.info("cpu_wait auto: %s (other processes %s)", chosen,
                 "idle" if chosen == "spin" else "keep a core busy, or the load is unknown")
    os.environ.update(environment(chosen))
    os.environ["TOOLPROXY_CPU_WAIT"] = chosen  # later calls (and child processes) keep this choice
    return True
