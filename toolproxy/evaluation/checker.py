"""BFCL's own checkers, imported without ``bfcl-eval``'s heavy dependencies.

``bfcl_eval.eval_checker.ast_eval.ast_checker`` imports ``bfcl_eval.constants.model_config``, which imports every
model handler BFCL ships (anthropic, google, mistral, ... SDKs). The checker uses that module for one thing only:
whether a model's API turned dots in function names into underscores. toolproxy returns names as the client sent
them, so a small stand-in module answering "no" for every model is put into ``sys.modules`` before the import.
"""

from __future__ import annotations

import functools
import re
import sys
import types
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from toolproxy.evaluation.extras import missing

MODEL_NAME = "toolproxy"
_MODEL_CONFIG = "bfcl_eval.constants.model_config"
_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class _ModelConfig:
    underscore_to_dot: bool = False


class _AnyModelConfig(dict[str, _ModelConfig]):
    """``MODEL_CONFIG_MAPPING`` stand-in: every model name maps to a config that keeps dotted names."""

    def __missing__(self, key: str) -> _ModelConfig:
        return _ModelConfig()


@dataclass(frozen=True)
class Verdict:
    valid: bool
    error_type: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Bfcl:
    ast_checker: Callable[..., dict[str, Any]]
    python: Any  # bfcl_eval.constants.enums.Language.PYTHON
    execute: Callable[..., tuple[list[str], dict[str, Any]]]
    multi_turn_checker: Callable[..., dict[str, Any]]
    multi_turn_irrelevance_checker: Callable[..., dict[str, Any]]
    instances: dict[str, Any]  # the globals() where BFCL's executor keeps API instances between turns
    doc_files: dict[str, str]


@functools.cache
def _bfcl() -> _Bfcl:
    """Import BFCL's checkers once (the stand-in module is installed only if the real one is not loaded)."""
    if _MODEL_CONFIG not in sys.modules:
        stub = types.ModuleType(_MODEL_CONFIG, "toolproxy stand-in: no model handlers")
        stub.MODEL_CONFIG_MAPPING = _AnyModelConfig()  # type: ignore[attr-defined]
        sys.modules[_MODEL_CONFIG] = stub
    try:
        from bfcl_eval.constants.enums import Language
        from bfcl_eval.constants.executable_backend_config import MULTI_TURN_FUNC_DOC_FILE_MAPPING
        from bfcl_eval.eval_checker.ast_eval import ast_checker as ast_mod
        from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_checker as mt_mod
        from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils as mt_utils
    except ImportError as exc:
        raise missing(exc, "BFCL's checker") from exc
    return _Bfcl(
        ast_checker=ast_mod.ast_checker,
        python=Language.PYTHON,
        execute=mt_utils.execute_multi_turn_func_call,
        multi_turn_checker=mt_mod.multi_turn_checker,
        multi_turn_irrelevance_checker=mt_mod.multi_turn_irrelevance_checker,
        instances=vars(mt_utils),
        doc_files=dict(MULTI_TURN_FUNC_DOC_FILE_MAPPING),
    )


def ensure_available() -> None:
    """Raise :class:`EvalSetupError` now (before any model work) if BFCL's checker cannot be imported."""
    _bfcl()


def multi_turn_doc_files() -> dict[str, str]:
    """BFCL's class name -> function-doc file name (``multi_turn_func_doc/``)."""
    return _bfcl().doc_files


def check_ast(category: str, functions: list[dict[str, Any]], calls: list[dict[str, Any]],
              ground_truth: list[dict[str, Any]]) -> Verdict:
    """Score one answer with BFCL's AST checker. ``calls`` is ``[{name: {arg: value}}, ...]`` (BFCL's shape)."""
    if not calls:
        return Verdict(False, "no_tool_call", "the model made no tool call")
    bfcl = _bfcl()
    try:
        result = bfcl.ast_checker(functions, calls, ground_truth, bfcl.python, category, MODEL_NAME)
    except Exception as exc:  # BFCL's checker is third-party code: a crash on odd output is a wrong answer
        return Verdict(False, "checker_exception", f"{type(exc).__name__}: {exc}")
    if result.get("valid"):
        return Verdict(True)
    errors = result.get("error") or []
    return Verdict(False, str(result.get("error_type")), "; ".join(str(e) for e in errors)[:500] or None)


def check_irrelevance(calls: list[dict[str, Any]]) -> Verdict:
    """BFCL's irrelevance rule: correct iff the model made no call."""
    if calls:
        return Verdict(False, "irrelevance:made_call", f"{len(calls)} call(s) made")
    return Verdict(True)


def call_string(name: str, arguments: dict[str, Any]) -> str:
    """A call as BFCL's multi-turn executor expects it (``f(a='x',b=1)``, as BFCL's own FC handlers write it)."""
    return f"{name}({','.join(f'{k}={v!r}' for k, v in arguments.items())})"


class MultiTurnSession:
    """Executes a model's calls against BFCL's simulated APIs (GorillaFileSystem, TwitterAPI, ...) for one entry.

    BFCL's executor keeps API instances in its module globals under a name derived from the model name and the
    entry id; a unique model name per session keeps runs apart, and :meth:`close` removes them again.
    """

    def __init__(self, entry_id: str, initial_config: dict[str, Any], involved_classes: list[str],
                 allowed_names: set[str]) -> None:
        self._bfcl = _bfcl()
        self._model = f"toolproxy_{uuid.uuid4().hex}"
        self._entry_id = entry_id
        self._config = initial_config
        self._classes = involved_classes
        self._allowed = {n for n in allowed_names if _SAFE_NAME.match(n)}

    def execute(self, calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
        """Run calls (name, arguments) in order; returns one result string per call.

        Only names of offered functions are executed (BFCL's executor ``eval``s the call string; the arguments
        are rendered with ``repr`` so they are plain literals)."""
        results: list[str] = []
        for name, arguments in calls:
            if name not in self._allowed:
                results.append(f"Error during execution: unknown function {name!r}")
                continue
            out, _ = self._bfcl.execute(
                [call_string(name, arguments)], self._config, self._classes, self._model, self._entry_id,
                long_context="long_context" in self._entry_id, is_evaL_run=False,
            )
            results.extend(out)
        return results

    def score(self, decoded: list[list[list[str]]], ground_truth: list[list[str]]) -> Verdict:
        """BFCL's multi-turn verdict: per turn, the state and results of the model's calls against the truth's."""
        category = self._entry_id.rsplit("_", 1)[0]
        try:
            irrelevance = self._bfcl.multi_turn_irrelevance_checker(decoded, ground_truth)
            if not irrelevance.get("valid"):
                return Verdict(False, str(irrelevance.get("error_type")), str(irrelevance.get("error_message")))
            result = self._bfcl.multi_turn_checker(decoded, ground_truth, {
                "initial_config": self._config, "involved_classes": self._classes, "id": self._entry_id,
            }, category, self._model)
        except Exception as exc:  # third-party checker (it asserts internally): a crash is a wrong answer
            return Verdict(False, "checker_exception", f"{type(exc).__name__}: {exc}")
        if result.get("valid"):
            return Verdict(True)
        return Verdict(False, str(result.get("error_type")), str(result.get("error_message"))[:500])

    def close(self) -> None:
        prefix = re.sub(r"[-./:]", "_", self._model)
        for key in [k for k in self._bfcl.instances if k.startswith(prefix)]:
            del self._bfcl.instances[key]

    def __enter__(self) -> MultiTurnSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
