"""Golden grammars for typical tool schemas: readable, deterministic, and accepted by llama.cpp.

Regenerate after an intended change with ``TOOLPROXY_REGEN_GOLDEN=1 pytest tests/grammar/test_golden.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.grammar.oracle import Oracle
from toolproxy.grammar import schema_to_gbnf

HERE = Path(__file__).parent / "golden"
SCHEMAS = sorted((HERE / "schemas").glob("*.json"))


@pytest.mark.parametrize("path", SCHEMAS, ids=[p.stem for p in SCHEMAS])
def test_golden(path: Path, oracle: Oracle) -> None:
    grammar = schema_to_gbnf(json.loads(path.read_text(encoding="utf-8")))
    golden = HERE / f"{path.stem}.gbnf"
    if os.environ.get("TOOLPROXY_REGEN_GOLDEN"):
        golden.write_text(grammar, encoding="utf-8")
    assert grammar == golden.read_text(encoding="utf-8")
    assert oracle.grammar(grammar) is not None, "llama.cpp must parse the golden grammar"
