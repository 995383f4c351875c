"""The compiler is a pure function of a schema: toolproxy/grammar imports nothing from toolproxy but errors
(and itself), and does no I/O beyond reading its own static fragment files."""

from __future__ import annotations

import ast
from pathlib import Path

GRAMMAR = Path(__file__).resolve().parents[2] / "toolproxy" / "grammar"
ALLOWED = ("toolproxy.grammar", "toolproxy.errors")
FORBIDDEN_MODULES = ("httpx", "urllib.request", "requests", "socket", "http.client", "aiohttp")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_grammar_imports_only_errors_from_toolproxy() -> None:
    for path in sorted(GRAMMAR.glob("*.py")):
        for name in _imports(path):
            if name.startswith("toolproxy"):
                assert name.startswith(ALLOWED), f"{path.name} imports {name}"
            assert not name.startswith(FORBIDDEN_MODULES), f"{path.name} imports {name} (no network I/O)"
