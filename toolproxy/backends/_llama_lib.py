"""``llama_cpp``, imported with the process settings the embedded backend needs. Import it from here.

llama.cpp's CPU backend runs on OpenMP. With libgomp's default wait policy its idle threads spin between
two tokens; on a machine whose cores are shared (CI, a busy host, our own Python thread choosing the next
token) that spinning steals the cores: measured here, decoding was 6-10x slower under load (about 1 s
instead of 0.14 s per token). ``OMP_WAIT_POLICY=PASSIVE`` makes them sleep; the cost is one wake-up per
token. It only takes effect if set before libgomp is loaded (the first ``import llama_cpp``), hence this
module; an explicit setting in the environment is kept.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import llama_cpp  # after the environment is set, on purpose

__all__ = ["llama_cpp"]
