"""Tools as TypeScript signatures in ``namespace functions { ... }``, the way Functionary renders them.

A port of ``generate_schema_from_functions`` / ``get_parameter_typescript`` from MeetKai's Functionary
(the same macros its v2/v3 chat templates carry, see ``meetkai-functionary-medium-v3.2.jinja``):
``// description`` comments, ``name?: type,`` for optional parameters, enums as unions of literals,
nested objects indented by four spaces, arrays as ``type[]``. ``anyOf`` is read like ``oneOf``.
"""

from __future__ import annotations

import json
from typing import Any

from toolproxy.styles.base import ToolSpec

_NONE = None


def functions_namespace(tools: list[ToolSpec], namespace: str = "functions") -> str:
    out = ["// Supported function definitions that should be called when necessary.\n"]
    out.append(f"namespace {namespace} {{\n\n")
    for tool in tools:
        out.append(f"// {tool.description}\n")
        out.append(f"type {tool.name}")
        params = tool.parameters if isinstance(tool.parameters, dict) else {}
        properties = params.get("properties")
        if isinstance(properties, dict) and properties:
            out.append(" = (_: {")
            out.append(_parameters(properties, params.get("required", []), 0))
            out.append("\n}) => any;\n\n")
        else:
            out.append(" = () => any;\n\n")
    out.append(f"}} // namespace {namespace}")
    return "".join(out)


def _convert(type_name: str) -> str:
    return "number" if type_name in ("integer", "float") else type_name


def _param_type(param: dict[str, Any]) -> str:
    if "type" in param:
        raw = param["type"]
        return _convert(" | ".join(raw) if isinstance(raw, list) else str(raw))
    for key in ("oneOf", "anyOf"):
        if isinstance(param.get(key), list):
            types: list[str] = []
            for sub in param[key]:
                if isinstance(sub, dict) and "type" in sub and str(sub["type"]) not in types:
                    types.append(str(sub["type"]))
            return _convert(" | ".join(types)) if types else "any"
    return "any"


def _literal(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else json.dumps(value)


def _format(param: dict[str, Any]) -> str | None:
    if "format" in param:
        return str(param["format"])
    if isinstance(param.get("oneOf"), list):
        formats = [str(s["format"]) for s in param["oneOf"] if isinstance(s, dict) and "format" in s]
        return " or ".join(formats) if formats else None
    return None


def _info(param: dict[str, Any]) -> str | None:
    """The ``// ...`` comment line of a parameter (None when there is nothing to say)."""
    parts: list[str] = []
    if param.get("description"):
        desc = str(param["description"])
        parts.append(desc if desc.endswith(".") else desc + ".")
    if "default" in param:
        default = param["default"]
        shown = f'"{default}"' if param.get("type") == "string" else _literal(default)
        parts.append(f"Default={shown}.")
    fmt = _format(param)
    if fmt:
        parts.append(f"Format={fmt}")
    for key, label in (
        ("maximum", "Maximum"),
        ("minimum", "Minimum"),
        ("maxLength", "Maximum length"),
        ("minLength", "Minimum length"),
    ):
        if key in param:
            parts.append(f"{label}={param[key]}")
    return "// " + " ".join(parts) if parts else _NONE


def _examples(name: str, param: dict[str, Any], offset: str) -> str:
    examples = param.get("examples")
    if not isinstance(examples, list) or not examples:
        return ""
    lines = [f"Example {name}:", *(str(e).replace("'", '"') for e in examples)]
    return "".join(f"\n{offset}// {line}" for line in lines)


def _array(name: str | None, param: dict[str, Any], depth: int) -> str:
    offset = "    " * depth
    items = param.get("items")
    if not isinstance(items, dict) or not items:
        return f"\n{offset}{name}: []" if name else f"\n{offset}[]"
    item_type = _param_type(items)
    if item_type == "object":
        head = f"\n{offset}{name}: {{" if name else f"\n{offset}{{"
        inner = _parameters(items.get("properties", {}), items.get("required", []), depth + 1)
        return f"{head}{inner}\n{offset}}}[]"
    if item_type == "array":
        inner = _array(None, items, depth + 1)
        return f"\n{inner}[]" if not name else f"\n{offset}{name}: {inner.strip()}[]"
    if isinstance(items.get("enum"), list):
        union = " | ".join(_literal(v) for v in items["enum"])
        return f"({union})[]" if name is None else f"\n{offset}{name}: ({union})[]"
    return f"\n{item_type}[]" if name is None else f"\n{offset}{name}: {item_type}[],"


def _parameters(properties: Any, required: Any, depth: int) -> str:
    if not isinstance(properties, dict):
        return ""
    required = required if isinstance(required, list) else []
    offset = "    " * depth
    out: list[str] = []
    for name, param in properties.items():
        if not isinstance(param, dict):
            continue
        info = _info(param)
        comment = f"\n{offset}{info}" if info else ""
        examples = _examples(name, param, offset)
        declaration = name if name in required else name + "?"
        param_type = _param_type(param)
        if param_type == "object":
            inner = _parameters(param.get("properties", {}), param.get("required", []), depth + 1)
            out.append(f"{comment}{examples}\n{offset}{declaration}: {{{inner}\n{offset}}},")
        elif param_type == "array":
            items = param.get("items")
            if not isinstance(items, dict) or "type" not in items:
                out.append(f"{comment}{examples}\n{offset}{declaration}: [],")
            else:
                array = _array(declaration, param, depth)
                out.append(f"{comment}{examples}{array if array.endswith(',') else array + ','}")
        else:
            if isinstance(param.get("enum"), list):
                param_type = " | ".join(_literal(v) for v in param["enum"])
            if param.get("nullable"):
                param_type += " | null"
            out.append(f"{comment}{examples}\n{offset}{declaration}: {param_type},")
    return "".join(out)
