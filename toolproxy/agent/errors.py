"""Typed errors of the agent subpackage."""

from __future__ import annotations

from toolproxy.errors import ToolproxyError


class AgentError(ToolproxyError):
    """Base of the agent's own errors (bad tool sources, unreachable endpoints, ...)."""


class ToolLoadError(AgentError):
    """A tools source (Python module or OpenAPI URL) cannot be turned into tools."""


class SandboxUnavailable(AgentError):
    """No isolation mechanism works on this machine (and ``--unsafe-no-sandbox`` was not given)."""


class SandboxProtocolError(AgentError):
    """The sandboxed interpreter broke the framed pipe protocol (it is killed and restarted)."""
