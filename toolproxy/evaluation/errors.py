"""Typed errors of the evaluation subpackage."""

from __future__ import annotations

from toolproxy.errors import ToolproxyError


class EvalError(ToolproxyError):
    """Base of the evaluation's own errors."""


class EvalSetupError(EvalError):
    """The evaluation cannot start: bfcl-eval missing, unknown category or style, bad arguments."""


class ServerStartError(EvalError):
    """The toolproxy server started for the evaluation did not become healthy."""


class NoResults(EvalError):
    """A results folder holds no usable results (``--style auto-best`` has nothing to choose from)."""
