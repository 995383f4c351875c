"""How llama.cpp's OpenMP threads wait between two tokens (``cpu_wait`` / ``TOOLPROXY_CPU_WAIT``).

llama.cpp's CPU backend runs each decode step as one OpenMP parallel region. Between two steps (while Python
picks the next token) libgomp's idle threads either spin or sleep:

- ``passive``: sleep at once (``OMP_WAIT_POLICY=PASSIVE``). Never steals a core, pays a wake-up every token.
- ``active``: spin (``OMP_WAIT_POLICY=ACTIVE``; libgomp spins for ~30e9 iterations: minutes, so an idle
  server keeps burning its cores long after the last request).
- ``spin``: libgomp's own default (300,000 spins, then sleep; 1,000 when there are more threads than CPUs),
  what llama-server runs with.
- an integer N: spin N iterations, then sleep (``GOMP_SPINCOUNT=N``).

The default is ``passive`` (:data:`DEFAULT`): measured with ``python bench/thread_bench.py`` on the shared 2-core
machine under load, spinning collapses (``spin`` 2-13 tok/s, a spin count of 10,000 4-7, llama-server itself 1-9)
where ``passive`` keeps 15-30. ``adaptive_threads`` (:mod:`toolproxy.backends._cpu`: one thread, so no barrier to
spin at, whenever other processes keep a core busy) makes ``spin`` the default instead; it is off by default because
a thread count that follows the machine's load makes two runs of one request differ where llama.cpp's results
depend on the thread count. On a dedicated idle machine ``spin`` (or ``--adaptive-threads``) is the fast choice:
issue 17 measured 35 tok/s passive vs 63 spinning, idle, 2 threads (README, "The embedded backend").
libgomp reads its environment once, when it is loaded (the first ``import llama_cpp``); so this is applied
before that import (:mod:`toolproxy.backends._llama_lib`, and the server's backend factory), and an explicit
``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` in the environment always wins.
"""

from __future__ import annotations

import logging
import os
import re
import sys

log = logging.getLogger(__name__)

DEFAULT = "passive"
_SPIN = re.compile(r"\d{1,12}")


def check(value: str) -> str:
    """``value`` normalised, or ValueError naming the choices."""
    v = value.strip().lower()
    if v in ("passive", "active", "spin") or _SPIN.fullmatch(v):
        return v
    raise ValueError(f"cpu_wait must be passive, active, spin or a spin count (a number), not {value!r}")


def environment(value: str) -> dict[str, str]:
    """The libgomp environment variables for ``value``."""
    v = check(value)
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
    if value is None:
        value = os.environ.get("TOOLPROXY_CPU_WAIT") or DEFAULT
    env = environment(value)
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return False
    if "llama_cpp" in sys.modules:
        if explicit and env:
            log.warning("cpu_wait=%s comes too late: llama.cpp is loaded already", value)
        return False
    os.environ.update(env)
    os.environ["TOOLPROXY_CPU_WAIT"] = check(value)  # later calls (and child processes) keep this choice
    return True
