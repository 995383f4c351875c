"""Automatic style detection: which prompting style a model was trained on, read off its chat template.

The template of a tool-trained model writes earlier tool calls back in the model's own syntax, so the call
markers it contains name the family. Rules are checked in order (the more specific first: Functionary v3.1
templates also contain Llama's ``<|python_tag|>``, Qwen3-Coder's XML calls sit inside ``<tool_call>``).
A model without a template gets ``hermes`` (the project default); a template with no known marker gets
``functionary``: measured with ``toolproxy eval`` (BFCL simple_python, seed 0) it is the best style, or tied
for best, on both bundled models (SmolLM2-135M-Instruct, 20 questions: functionary 40%, thoughtful_steps 40%,
hermes 35%, generic 25%; gemma-3-270m, 50 questions: functionary 38%, hermes and thoughtful_steps 36%,
generic 34%); ``generic``, the fallback before, was the worst on both.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_TEMPLATE_STYLE = "hermes"
UNKNOWN_STYLE = "functionary"


@dataclass(frozen=True)
class Rule:
    style: str
    all_of: tuple[str, ...]
    family: str
    exact: bool = True
    """The template writes calls exactly in the style's syntax (so the model's own template may render the
    conversation for that style). False: the style is the nearest one, the family's real syntax differs
    (e.g. XML arguments inside ``<tool_call>``): the style renders the conversation itself."""


RULES: tuple[Rule, ...] = (
    Rule("mistral_v11", ("[TOOL_CALLS]", "[CALL_ID]"), "Mistral Small 3.2 / Devstral (ids in calls)", exact=False),
    Rule("mistral_v11", ("[TOOL_CALLS]", "[ARGS]"), "Ministral 3 / Magistral"),
    Rule("mistral", ("[TOOL_CALLS]",), "Mistral Nemo / Mixtral"),
    Rule("functionary_v3.2", (">>>all",), "Functionary v3.2"),
    Rule("functionary_v3.1", ("<function=", "<|python_tag|>"), "Functionary v3.1"),
    # exact=False: one R1 distill template renders a call only when the message's content is None
    Rule("deepseek_r1", ("tool▁call▁begin", "```json"), "DeepSeek R1 (function<sep>NAME + ```json```)", exact=False),
    Rule("deepseek", ("tool▁call▁begin", "tool▁sep"), "DeepSeek V3.1"),
    Rule("llama3", ("<|python_tag|>",), "Llama 3.1 / 3.3"),
    Rule("llama3", ('"parameters": dictionary of argument name',), "Llama 3.2"),
    Rule("lfm2", ("<|tool_call_start|>",), "LFM2.5"),
    Rule("lfm2", ("<|tool_list_start|>",), "LFM2 (calls in the content)", exact=False),
    Rule("pythonic", ("[func_name1(",), "Llama 4 / BFCL prompt"),
    Rule("apriel", ("<tool_calls>[",), "Apriel 1.5 / 1.6"),
    Rule("minimax_m1", ("<tool_calls>",), "MiniMax M1 (one JSON call per line)"),
    Rule("kimi_k2", ("<|tool_call_argument_begin|>",), "Kimi K2"),
    Rule("command_r", ("<|START_ACTION|>",), "Command R7B / Command A"),
    Rule("nemotron_v2", ("<TOOLCALL>",), "Nemotron Nano v2"),
    Rule("gigachat", ("<|function_call|>",), "GigaChat 3.1"),
    Rule("gigachat3", ("'function call'", "<|role_sep|>"), "GigaChat 3 (a call is a message of its own)"),
    Rule("solar", ("<|tool_call:name|>",), "Solar Open (call id before the name)"),
    Rule("apertus", ("<|tools_prefix|>",), "Apertus (name-keyed call objects)"),
    Rule("harmony", ("<|start|>assistant to=", "<|constrain|> json"), "llm-jp 4.1 (Harmony, constrain)", exact=False),
    Rule("harmony", ("<|start|>assistant to=", "<|channel|>"), "gpt-oss (Harmony)"),
    Rule("xlam", ("[BEGIN OF AVAILABLE TOOLS]",), "xLAM"),
    Rule("seed_oss", ("<seed:tool_call>", "<parameter="), "Seed-OSS (XML parameters)"),
    Rule("minimax_m3", ("]<]minimax[>[", '<invoke name="'), "MiniMax M3 (invoke, nested elements)"),
    Rule("kimi_k3", ("'<|open|>'", "open_tag('argument'"), "Kimi K3 (tagged call / argument elements)"),
    Rule("minimax_m2", ("<minimax:tool_call>", '<invoke name="'), "MiniMax M2 (XML invoke)"),
    Rule("dsml", ("\uff5cDSML\uff5c", "'function_calls>"), "DeepSeek V3.2 (DSML invoke)"),
    Rule("dsml_v4", ("\uff5cDSML\uff5c", "'tool_calls>"), "DeepSeek V4 (DSML invoke)"),
    Rule("gemma4", ("<|tool_call>", '<|"|>'), "Gemma 4 (call:NAME{k:<|\"|>v<|\"|>})"),
    Rule("minicpm5", ('<function name="', '<param name="', "CDATA"), "MiniCPM5 (<function name=..><param name=..>)"),
    Rule("hunyuan", ("tool_sep{}>", "HYTK = ':opensource'"), "Hunyuan 3 (Hy3, <tool_call:opensource> tags)"),
    Rule("qwen3_coder", ("<tool_call>", "<function=", "<parameter="), "Qwen3-Coder / Qwen3.5 / Nemotron 3 (XML)"),
    Rule("glm", ("<tool_call>", "<arg_key>", "<arg_value>"), "GLM 4.5+ / Ling / Laguna (XML arguments)"),
    Rule("hermes", ("<tool_call>",), "Hermes / Qwen 2.5-3 / Granite 4 / ..."),
)


def match(chat_template: str | None) -> Rule | None:
    """The first rule whose markers are all in the template (None: no template, or no known marker)."""
    if not chat_template:
        return None
    return next((r for r in RULES if all(marker in chat_template for marker in r.all_of)), None)


def detect_style(chat_template: str | None) -> str:
    """The style name for a model with this chat template (see the module docstring)."""
    rule = match(chat_template)
    if rule is not None:
        return rule.style
    return NO_TEMPLATE_STYLE if not chat_template else UNKNOWN_STYLE


def native_style(chat_template: str | None) -> str | None:
    """The style whose exact syntax the template writes (None when none does): only then does the model's
    own template render the conversation for that style."""
    rule = match(chat_template)
    return rule.style if rule is not None and rule.exact else None


@dataclass(frozen=True)
class Detection:
    """What detection made of a template, as ``GET /v1/models`` and the start-up log report it."""

    style: str
    source: str  # "detected" (a family's markers; exact or nearest), or "fallback" (no template / no markers)
    family: str | None  # the rule's family, or why the fallback was taken
    exact: bool  # the template writes calls exactly in the style's syntax (it renders the conversation itself)


def explain(chat_template: str | None) -> Detection:
    """:func:`detect_style`, with where the style came from."""
    rule = match(chat_template)
    if rule is not None:
        return Detection(rule.style, "detected", rule.family, rule.exact)
    if not chat_template:
        return Detection(NO_TEMPLATE_STYLE, "fallback", "the model has no chat template", False)
    return Detection(UNKNOWN_STYLE, "fallback", "the chat template writes no known tool-call syntax", False)
