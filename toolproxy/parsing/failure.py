"""The error a body parser raises at the first character that does not fit its body."""

from __future__ import annotations


class BodyFailure(Exception):
    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason
