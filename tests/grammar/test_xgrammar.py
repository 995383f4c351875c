"""vLLM / SGLang compatibility: toolproxy's GBNF, compiled by xgrammar (their grammar engine), accepts and rejects
exactly what llama.cpp's engine does, over the whole JSON-Schema-Test-Suite corpus.

xgrammar's package ``__init__`` imports torch and transformers (hundreds of MB, only needed for token masks);
its grammar compiler and matcher are plain C++ behind ``xgrammar.base._core``. :func:`xgrammar_core` loads those
pieces alone, so the test needs only ``pip install --no-deps xgrammar apache-tvm-ffi``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import shared_dir
from tests.grammar.jsts import all_groups, variants
from tests.grammar.oracle import Oracle
from toolproxy.errors import UnsupportedSchema
from toolproxy.grammar import schema_to_gbnf


def xgrammar_core() -> Any:
    """xgrammar's C++ core (Grammar compiler + matcher) without the torch-importing package ``__init__``."""
    if "xgrammar" not in sys.modules:
        spec = importlib.util.find_spec("xgrammar")
        if spec is None or not spec.submodule_search_locations:
            missing = "xgrammar is not installed (pip install --no-deps xgrammar apache-tvm-ffi)"
            if os.environ.get("CI"):
                pytest.fail(f"CI must run the xgrammar compatibility test: {missing}")
            pytest.skip(missing)
        package = types.ModuleType("xgrammar")
        package.__path__ = list(spec.submodule_search_locations)
        package.__package__ = "xgrammar"
        sys.modules["xgrammar"] = package
    importlib.import_module("xgrammar.load_binding")
    return importlib.import_module("xgrammar.base")._core


class XGrammar:
    """String acceptance with xgrammar: the whole text must be accepted and the grammar must have terminated."""

    def __init__(self) -> None:
        core = xgrammar_core()
        self._core = core
        tokenizer = core.TokenizerInfo([], 0, None, None, False)  # no vocabulary: string matching only
        self._compiler = core.GrammarCompiler(tokenizer, 1, False, -1)

    def compile(self, gbnf: str) -> Any:
        return self._compiler.compile_grammar_from_strings(gbnf, "root")

    def accepts(self, compiled: Any, text: str) -> bool:
        matcher = self._core.GrammarMatcher(compiled, None, True, -1, None)
        return bool(matcher.accept_string(text, False) and matcher.is_terminated())


@dataclass
class Agreement:
    grammars: int = 0  # toolproxy grammars llama.cpp parsed
    compiled: int = 0  # ... that xgrammar compiled too
    strings: int = 0
    agreed: int = 0
    compile_failures: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)


GROUPS = all_groups(shared_dir()) if shared_dir().is_dir() else []


@pytest.fixture(scope="module")
def agreement(oracle: Oracle) -> Agreement:
    engine = XGrammar()
    result = Agreement()
    for name, group in GROUPS:
        schema = group["schema"]
        try:
            gbnf = schema_to_gbnf(schema)
        except UnsupportedSchema:
            continue
        reference = oracle.grammar(gbnf)
        if reference is None:
            continue
        result.grammars += 1
        with reference:
            try:
                compiled = engine.compile(gbnf)
            except RuntimeError as exc:
                result.compile_failures.append(f"{name}: {str(exc).splitlines()[0][:160]}")
                continue
            result.compiled += 1
            for test in group["tests"]:
                for text in variants(test["data"], schema)[:2]:  # as given and in schema property order
                    result.strings += 1
                    expected = reference.accepts(text)
                    if engine.accepts(compiled, text) == expected:
                        result.agreed += 1
                    else:
                        result.disagreements.append(f"{name}: {text!r} llama.cpp={expected}")
    print(
        f"\nxgrammar vs llama.cpp on the JSON-Schema-Test-Suite: grammars compiled {result.compiled}/"
        f"{result.grammars}, same verdict on {result.agreed}/{result.strings} strings"
    )
    for line in [*result.compile_failures, *result.disagreements][:20]:
        print("  ", line)
    return result


@pytest.mark.slow
def test_xgrammar_compiles_toolproxy_grammars(agreement: Agreement, shared: Path) -> None:
    assert agreement.grammars >= 300  # the corpus really ran
    assert agreement.compile_failures == []


@pytest.mark.slow
def test_xgrammar_agrees_with_llama_cpp(agreement: Agreement) -> None:
    assert agreement.strings >= 1500
    assert agreement.disagreements == []


def test_xgrammar_engine_sanity() -> None:
    engine = XGrammar()
    compiled = engine.compile('root ::= "{" space "\\"a\\"" space ":" space [0-9]{1,3} space "}"\nspace ::= " "?')
    assert engine.accepts(compiled, '{"a": 12}')
    assert not engine.accepts(compiled, '{"a": 1234}')
    assert not engine.accepts(compiled, '{"a": 1')  # a prefix is not a match
    with pytest.raises(RuntimeError):
        engine.compile("root ::= undefined-rule")
