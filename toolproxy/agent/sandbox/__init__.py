"""Sandboxed, stateful Python interpreter sessions (CodeAct) for the agent's ``python`` tool."""

from __future__ import annotations

from toolproxy.agent.sandbox.backends import (
    BACKENDS,
    BwrapBackend,
    DockerBackend,
    SandboxBackend,
    UnsafeBackend,
    UnshareBackend,
    select_backend,
)
from toolproxy.agent.sandbox.limits import Limits
from toolproxy.agent.sandbox.manager import SessionManager
from toolproxy.agent.sandbox.session import Observation, SandboxSession

__all__ = [
    "BACKENDS",
    "BwrapBackend",
    "DockerBackend",
    "Limits",
    "Observation",
    "SandboxBackend",
    "SandboxSession",
    "SessionManager",
    "UnsafeBackend",
    "UnshareBackend",
    "select_backend",
]
