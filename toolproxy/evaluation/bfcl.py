"""BFCL questions: loaded from the installed ``bfcl-eval`` package's data, turned into OpenAI requests.

``bfcl-eval`` is installed without its (heavy) dependencies: ``pip install --no-deps bfcl-eval``. Only its data
files and its checkers are used (see :mod:`toolproxy.evaluation.checker`).
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolproxy.evaluation.errors import EvalSetupError
from toolproxy.evaluation.extras import MissingDependency

#: Categories with one user turn, scored by BFCL's AST checker against ``possible_answer/``.
AST_CATEGORIES = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
)
#: Categories where the correct answer is *no* tool call.
IRRELEVANCE_CATEGORIES = ("irrelevance", "live_irrelevance")
#: Multi-turn categories (the model's calls are executed against BFCL's simulated APIs, then state-checked).
MULTI_TURN_CATEGORIES = ("multi_turn_base", "multi_turn_long_context", "multi_turn_miss_param")
ALL_CATEGORIES = AST_CATEGORIES + IRRELEVANCE_CATEGORIES + MULTI_TURN_CATEGORIES
DEFAULT_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance", "multi_turn_base")

_TOOL_KEYS = ("name", "description", "parameters")


@dataclass(frozen=True)
class Question:
    """One BFCL test entry, ready to send."""

    category: str
    id: str
    turns: list[list[dict[str, Any]]]  # user messages per turn (single-turn categories: one turn)
    functions: list[dict[str, Any]]  # BFCL function docs, as BFCL ships them
    ground_truth: Any = None  # possible answers (AST) / call strings per turn (multi-turn) / None (irrelevance)
    initial_config: dict[str, Any] = field(default_factory=dict)
    involved_classes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return category_kind(self.category)

    def tools(self) -> list[dict[str, Any]]:
        return openai_tools(self.functions)


def category_kind(category: str) -> str:
    """``ast``, ``irrelevance`` or ``multi_turn``; an unknown category raises :class:`EvalSetupError`."""
    if category in AST_CATEGORIES:
        return "ast"
    if category in IRRELEVANCE_CATEGORIES:
        return "irrelevance"
    if category in MULTI_TURN_CATEGORIES:
        return "multi_turn"
    raise EvalSetupError(f"unknown BFCL category {category!r} (known: {', '.join(ALL_CATEGORIES)})")


def openai_tools(functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """BFCL function docs as OpenAI ``tools``, sent as BFCL writes them (``dict``/``float``/``tuple``/``any``
    types, dotted names): toolproxy normalises such schemas itself, as it must for real clients."""
    return [{"type": "function", "function": {k: f[k] for k in _TOOL_KEYS if k in f}} for f in functions]


def data_dir() -> Path:
    """The ``bfcl_eval/data`` folder of the installed ``bfcl-eval`` package (found without importing it)."""
    try:
        spec = importlib.util.find_spec("bfcl_eval")
    except ValueError:  # in sys.modules without a spec: not importable
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("bfcl_eval", "the BFCL questions")
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not path.is_dir():
        raise EvalSetupError(f"bfcl-eval has no data folder at {path}")
    return path


def _data_file(folder: Path, category: str) -> Path:
    pattern = re.compile(rf"BFCL_v(\d+)_{re.escape(category)}\.json")
    versions = {int(m.group(1)): p for p in folder.glob("BFCL_v*.json") if (m := pattern.fullmatch(p.name))}
    if not versions:
        raise EvalSetupError(f"no BFCL data file for category {category!r} in {folder}")
    return versions[max(versions)]  # the newest BFCL version


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _multi_turn_docs(folder: Path, classes: list[str]) -> list[dict[str, Any]]:
    from toolproxy.evaluation.checker import multi_turn_doc_files

    files = multi_turn_doc_files()
    docs: list[dict[str, Any]] = []
    for name in classes:
        docs.extend(_read_jsonl(folder / "multi_turn_func_doc" / files[name]))
    return docs


def load_category(category: str) -> list[Question]:
    """All questions of one category, in BFCL's order."""
    kind = category_kind(category)
    folder = data_dir()
    entries = _read_jsonl(_data_file(folder, category))
    answers: dict[str, Any] = {}
    if kind != "irrelevance":
        for row in _read_jsonl(_data_file(folder / "possible_answer", category)):
            answers[row["id"]] = row["ground_truth"]
    questions = []
    for entry in entries:
        if kind == "multi_turn":
            classes = list(entry["involved_classes"])
            functions = _multi_turn_docs(folder, classes)
        else:
            classes, functions = [], list(entry["function"])
        questions.append(
            Question(
                category=category,
                id=entry["id"],
                turns=[list(turn) for turn in entry["question"]],
                functions=functions,
                ground_truth=answers.get(entry["id"]),
                initial_config=dict(entry.get("initial_config", {})),
                involved_classes=classes,
            )
        )
    return questions


def sample(questions: list[Question], n: int | None, seed: int) -> list[Question]:
    """A reproducible sample of ``n`` questions (all when ``n`` is None or large), kept in BFCL's order.

    The random stream depends on the seed and the category only, so every style sees the same questions, and
    samples are nested: the first ``n`` of one seeded shuffle, so a larger ``n`` extends a smaller one (and a
    results folder's records are reused)."""
    if n is None or n >= len(questions):
        return list(questions)
    if not questions:
        return []
    order = list(range(len(questions)))
    random.Random(f"{seed}:{questions[0].category}").shuffle(order)
    picked = set(order[:n])
    return [q for i, q in enumerate(questions) if i in picked]


def load_sample(categories: list[str], n: int | None, seed: int,
                per_category: dict[str, int | None] | None = None) -> list[Question]:
    """Seeded samples of each category: ``per_category[c]`` questions where given, else ``n``."""
    per_category = per_category or {}
    out: list[Question] = []
    for category in categories:
        out.extend(sample(load_category(category), per_category.get(category, n), seed))
    return out
