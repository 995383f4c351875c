"""Prompting styles, registered by name (lazy ``"module:Class"`` strings: a style is imported on use)."""

from __future__ import annotations

import importlib

from toolproxy.errors import InvalidRequest
from toolproxy.styles.base import CallPolicy, Style, ToolSpec

STYLES: dict[str, str] = {
    "thoughtful_steps": "toolproxy.styles.thoughtful_steps:ThoughtfulSteps",
    "functionary": "toolproxy.styles.functionary:Functionary",
    "mixtral": "toolproxy.styles.mixtral:Mixtral",
    "hermes": "toolproxy.styles.hermes:Hermes",
    # issue 4: one style per model family
    "llama3": "toolproxy.styles.llama3:Llama3",
    "mistral": "toolproxy.styles.mistral:Mistral",
    "mistral_v11": "toolproxy.styles.mistral:MistralV11",
    "functionary_v3.1": "toolproxy.styles.functionary_v3:FunctionaryV31",
    "functionary_v3.2": "toolproxy.styles.functionary_v3:FunctionaryV32",
    "xlam": "toolproxy.styles.xlam:Xlam",
    "pythonic": "toolproxy.styles.pythonic:Pythonic",
    "lfm2": "toolproxy.styles.pythonic:Lfm2",
    "generic": "toolproxy.styles.generic:Generic",
    "short": "toolproxy.styles.inserts:Short",
    "long": "toolproxy.styles.inserts:Long",
    "deepseek": "toolproxy.styles.deepseek:DeepSeek",
    "deepseek_r1": "toolproxy.styles.deepseek:DeepSeekR1",
    "apriel": "toolproxy.styles.apriel:Apriel",
    # issue 15: JSON calls behind each family's own markers
    "gigachat": "toolproxy.styles.families:GigaChat",
    "minimax_m1": "toolproxy.styles.families:MiniMaxM1",
    "nemotron_v2": "toolproxy.styles.families:NemotronV2",
    "command_r": "toolproxy.styles.families:CommandR",
    "kimi_k2": "toolproxy.styles.families:KimiK2",
    "gigachat3": "toolproxy.styles.families:GigaChat3",
    "solar": "toolproxy.styles.families:Solar",
    "apertus": "toolproxy.styles.families:Apertus",
    "harmony": "toolproxy.styles.harmony:Harmony",
    # issue 15: parameters written one by one (raw strings, JSON otherwise)
    "qwen3_coder": "toolproxy.styles.xml_params:Qwen3Coder",
    "seed_oss": "toolproxy.styles.xml_params:SeedOss",
    "glm": "toolproxy.styles.xml_params:Glm",
    "minimax_m2": "toolproxy.styles.xml_params:MiniMaxM2",
    "dsml": "toolproxy.styles.xml_params:Dsml",
    "dsml_v4": "toolproxy.styles.xml_params:DsmlV4",
    "hunyuan": "toolproxy.styles.xml_params:Hunyuan3",
    "minicpm5": "toolproxy.styles.xml_params:MiniCpm5",
    "kimi_k3": "toolproxy.styles.xml_params:KimiK3",
    "minimax_m3": "toolproxy.styles.xml_params:MiniMaxM3",
    "gemma4": "toolproxy.styles.gemma4:Gemma4",
}


def style_names() -> list[str]:
    return sorted(STYLES)


def get_style(name: str) -> Style:
    """A fresh instance of the style ``name``; an unknown name is a 400 listing the known ones."""
    target = STYLES.get(name)
    if target is None:
        raise InvalidRequest(f"unknown style {name!r}; known styles: {', '.join(style_names())}", param="style")
    module, _, cls = target.partition(":")
    style_class = getattr(importlib.import_module(module), cls)
    style: Style = style_class()
    return style


__all__ = ["STYLES", "CallPolicy", "Style", "ToolSpec", "get_style", "style_names"]
