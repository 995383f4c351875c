"""``llama_cpp``, imported with the process settings the embedded backend needs. Import it from here.

llama.cpp's CPU backend runs on OpenMP, and how its idle threads wait between two tokens (spin or sleep)
decides both the idle speed and what happens on a machine whose cores are shared (CI, a busy host, our own
Python thread choosing the next token): see :mod:`toolproxy.backends._openmp` (setting ``cpu_wait``). It only
takes effect if set before libgomp is loaded (the first ``import llama_cpp``), hence this module; an explicit
setting in the environment is kept.
"""

from __future__ import annotations

from toolproxy.backends import _openmp

_openmp.configure(None)  # TOOLPROXY_CPU_WAIT, else the default; a no-op when already configured

import llama_cpp  # noqa: E402 - after the environment is set, on purpose

__all__ = ["llama_cpp"]
