"""The call syntax spoken for a chat template (issue 15): the family detected from its markers
(:func:`toolproxy.detect.explain`), else the syntax derived from its renderings of probe calls
(:func:`toolproxy.styles.derive.derive`), else detection's fallback. One choice, made here for the service
(its default style, ``GET /v1/models`` and the start-up log) and the round-trip test alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolproxy.detect import explain
from toolproxy.styles import get_style
from toolproxy.styles.base import Style
from toolproxy.styles.derive import DERIVED_STYLE, derive


@dataclass(frozen=True)
class StyleChoice:
    """``name``: a registered style, or :data:`~toolproxy.styles.derive.DERIVED_STYLE`; ``source``:
    ``detected``, ``derived`` or ``fallback``; ``detail``: the family, the derived markers, or why the fallback;
    ``derived``: the derived style's class (None unless ``source`` is ``derived``)."""

    name: str
    source: str
    detail: str | None
    derived: type[Style] | None = None

    def style(self) -> Style:
        """A fresh instance of the chosen style."""
        return self.derived() if self.derived is not None else get_style(self.name)


def choose_style(chat_template: str | None) -> StyleChoice:
    """The detected style; when detection falls back and there is a template, the derived one if its
    renderings match a supported shape; else the fallback."""
    detection = explain(chat_template)
    if detection.source == "fallback" and chat_template:
        found = derive(chat_template)
        if found is not None:
            return StyleChoice(DERIVED_STYLE, "derived", found.detail(), found.style_class())
    return StyleChoice(detection.style, detection.source, detection.family)
