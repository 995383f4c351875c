"""``toolproxy agent``: a model/tool loop over any OpenAI-compatible endpoint, tool servers, a sandboxed python."""

from __future__ import annotations
