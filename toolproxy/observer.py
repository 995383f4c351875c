"""What the service reports while it works (grammar compile time, parse failures, tokens, queueing).

:class:`ChatService` takes an optional :class:`ServiceObserver`; the default does nothing. The Prometheus
implementation lives in :mod:`toolproxy.metrics` (the service never imports it). Observers are called on the
event loop and must be cheap and never raise.
"""

from __future__ import annotations

from typing import Protocol


class ServiceObserver(Protocol):
    def grammar_compiled(self, seconds: float) -> None:
        """A request's grammar was built (cached compiles count too: what the request waited)."""

    def parse_failures(self, count: int) -> None:
        """Model output that could not be parsed as the style's calls and was kept as text."""

    def tokens(self, prompt: int, completion: int) -> None:
        """A generation finished with these token counts."""

    def waiting(self, delta: int) -> None:
        """+1 when a request starts waiting for the model, -1 when its first piece arrived (or it gave up)."""


class NullObserver:
    """The default: observes nothing."""

    def grammar_compiled(self, seconds: float) -> None:
        return None

    def parse_failures(self, count: int) -> None:
        return None

    def tokens(self, prompt: int, completion: int) -> None:
        return None

    def waiting(self, delta: int) -> None:
        return None
