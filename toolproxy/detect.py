"""Automatic style detection: which prompting style a model was trained on, read off its chat template.

The template of a tool-trained model writes earlier tool calls back in the model's own syntax, so the call
markers it contains name the family. Rules are checked in order (the more specific first: Functionary v3.1
templates also contain Llama's ``<|python_tag|>``, Qwen3-Coder's XML calls sit inside ``<tool_call>``).
A model without a template gets ``hermes`` (the project default); a template with no known marker gets
``generic`` (JSON, which any instruct model can write).
"""

from __future__ import annotations

from dataclasses import dataclass

NO_TEMPLATE_STYLE = "hermes"
UNKNOWN_STYLE = "generic"


@dataclass(frozen=True)
class Rule:
    style: str
    all_of: tuple[str, ...]
    family: str


RULES: tuple[Rule, ...] = (
    Rule("mistral", ("[TOOL_CALLS]",), "Mistral / Mixtral / Devstral / Ministral"),
    Rule("functionary_v3.2", (">>>all",), "Functionary v3.2"),
    Rule("functionary_v3.1", ("<function=", "<|python_tag|>"), "Functionary v3.1"),
    Rule("deepseek", ("tool▁call▁begin", "tool▁sep"), "DeepSeek R1 / V3"),
    Rule("llama3", ("<|python_tag|>",), "Llama 3.1 / 3.3"),
    Rule("llama3", ('"parameters": dictionary of argument name',), "Llama 3.2"),
    Rule("pythonic", ("<|tool_call_start|>",), "LFM2 / LFM2.5"),
    Rule("pythonic", ("<|tool_list_start|>",), "LFM2"),
    Rule("pythonic", ("[func_name1(",), "Llama 4 / BFCL prompt"),
    Rule("xlam", ("[BEGIN OF AVAILABLE TOOLS]",), "xLAM"),
    Rule("hermes", ("<tool_call>",), "Hermes / Qwen / Granite / GLM / ..."),
)


def detect_style(chat_template: str | None) -> str:
    """The style name for a model with this chat template (see the module docstring)."""
    if not chat_template:
        return NO_TEMPLATE_STYLE
    for rule in RULES:
        if all(marker in chat_template for marker in rule.all_of):
            return rule.style
    return UNKNOWN_STYLE

