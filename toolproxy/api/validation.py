"""Request-model helpers shared by the adapters: strict models (an unknown field is a 400 naming it, never
ignored) and a check that names an unsupported ``type`` before pydantic tries the union of known ones."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


class Strict(BaseModel):
    """A request shape whose unknown fields are refused (``extra_forbidden``: 400 naming the field). An unknown
    field whose value is ``null`` asks for nothing and is dropped: SDKs send their newer optional fields as null
    when they echo a block back (``model_dump()`` of a response block)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown_nulls(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        known = set(cls.model_fields) | {
            f.alias for f in cls.model_fields.values() if f.alias}
        return {k: v for k, v in value.items() if v is not None or k in known}


def known_types(what: str, supported: tuple[str, ...], *, default: str | None = None) -> BeforeValidator:
    """Refuse a JSON object whose ``type`` is not one of ``supported`` with a message naming it; a missing
    ``type`` becomes ``default`` (when given)."""

    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        kind = value.get("type", default)
        if kind is None and default is not None:
            kind = default
        if kind not in supported:
            raise PydanticCustomError(
                "unsupported_type",
                "{what} type {kind} is not supported by toolproxy (supported: {supported})",
                {"what": what, "kind": repr(kind), "supported": ", ".join(supported)},
            )
        if "type" not in value:
            return {**value, "type": kind}
        return value

    return BeforeValidator(check)


def unsupported(what: str, reason: str = "is not supported by toolproxy") -> PydanticCustomError:
    return PydanticCustomError("unsupported", "{what} {reason}", {"what": what, "reason": reason})


def text_or_list(part_type: str) -> BeforeValidator:
    """A field that takes a string or a list of parts: a string becomes one ``part_type`` part, so the model
    has one shape (and a bad part is reported as itself, not as a failed alternative of a union)."""

    def wrap(value: Any) -> Any:
        return [{"type": part_type, "text": value}] if isinstance(value, str) else value

    return BeforeValidator(wrap)
