"""BFCL's own checkers wired in: known-right answers pass, known-wrong ones fail (no model involved)."""

from __future__ import annotations

import sys

import pytest

from toolproxy.evaluation import bfcl, checker


def _question(category: str, qid: str) -> bfcl.Question:
    return next(q for q in bfcl.load_category(category) if q.id == qid)


def _pick(params: dict) -> dict:
    """First accepted value of each parameter (nested dicts too); optional ones ("" accepted first) left out."""
    out = {}
    for key, accepted in params.items():
        if accepted and accepted[0] != "":
            value = accepted[0]
            out[key] = _pick(value) if isinstance(value, dict) else value
    return out


def _first_answer(ground_truth: list[dict]) -> list[dict]:
    """A correct answer built from BFCL's possible answers."""
    return [{name: _pick(params)} for call in ground_truth for name, params in call.items()]


@pytest.mark.parametrize("category", ["simple_python", "multiple", "parallel", "parallel_multiple"])
def test_ground_truth_answers_pass_and_changed_ones_fail(category: str) -> None:
    questions = bfcl.load_category(category)[:15]
    for q in questions:
        right = _first_answer(q.ground_truth)
        assert checker.check_ast(category, q.functions, right, q.ground_truth).valid, q.id
    q = questions[0]
    right = _first_answer(q.ground_truth)
    ((name, args),) = right[0].items()
    assert not checker.check_ast(category, q.functions, [{name + "_x": args}, *right[1:]], q.ground_truth).valid
    assert not checker.check_ast(category, q.functions, [], q.ground_truth).valid


def test_dotted_names_kept_and_values_checked() -> None:
    q = _question("simple_python", "simple_python_1")  # math.factorial(number=5)
    assert q.functions[0]["name"] == "math.factorial"
    assert q.tools()[0]["function"]["name"] == "math.factorial"  # sent as BFCL writes it
    assert q.tools()[0]["function"]["parameters"]["type"] == "dict"
    assert checker.check_ast("simple_python", q.functions, [{"math.factorial": {"number": 5}}], q.ground_truth).valid
    wrong = checker.check_ast("simple_python", q.functions, [{"math.factorial": {"number": 6}}], q.ground_truth)
    assert not wrong.valid and wrong.error_type == "value_error:others"
    underscored = checker.check_ast("simple_python", q.functions, [{"math_factorial": {"number": 5}}],
                                    q.ground_truth)
    assert not underscored.valid


def test_parallel_order_does_not_matter() -> None:
    q = bfcl.load_category("parallel")[0]
    right = _first_answer(q.ground_truth)
    assert len(right) >= 2
    assert checker.check_ast("parallel", q.functions, list(reversed(right)), q.ground_truth).valid
    assert not checker.check_ast("parallel", q.functions, right[:1], q.ground_truth).valid


def test_irrelevance_is_right_only_without_a_call() -> None:
    assert checker.check_irrelevance([]).valid
    assert not checker.check_irrelevance([{"f": {}}]).valid


def test_checker_import_does_not_load_model_handlers() -> None:
    checker.ensure_available()
    assert not any(name.startswith("bfcl_eval.model_handler") for name in sys.modules)


def test_multi_turn_ground_truth_replay_passes_and_a_short_one_fails() -> None:
    q = bfcl.load_category("multi_turn_base")[0]
    names = {f["name"] for f in q.functions}
    with checker.MultiTurnSession(q.id, q.initial_config, q.involved_classes, names) as session:
        replay = [[[call] for call in turn] for turn in q.ground_truth]
        assert session.score(replay, q.ground_truth).valid
        short = [replay[0][:1], *[[] for _ in q.ground_truth[1:]]]
        verdict = session.score(short, q.ground_truth)
        assert not verdict.valid and verdict.error_type is not None


def test_multi_turn_executes_only_offered_functions() -> None:
    q = bfcl.load_category("multi_turn_base")[0]
    with checker.MultiTurnSession(q.id, q.initial_config, q.involved_classes, {"cd", "ls"}) as session:
        out = session.execute([("cd", {"folder": "document"}), ("ls", {}), ("__import__", {"name": "os"})])
    assert "document" in out[0]
    assert "final_report.pdf" in out[1]
    assert out[2].startswith("Error during execution: unknown function")


def test_sample_is_seeded_and_per_category() -> None:
    a = [q.id for q in bfcl.load_sample(["simple_python", "irrelevance"], 5, seed=3)]
    b = [q.id for q in bfcl.load_sample(["simple_python", "irrelevance"], 5, seed=3)]
    c = [q.id for q in bfcl.load_sample(["simple_python"], 5, seed=4)]
    assert a == b and len(a) == 10
    assert a[:5] != c
    assert sum(i.startswith("irrelevance_") for i in a) == 5
    small = {q.id for q in bfcl.load_sample(["simple_python"], 3, seed=3)}
    assert small < set(a[:5])  # nested: a larger sample extends a smaller one (records are reused)
    sized = bfcl.load_sample(["simple_python", "irrelevance"], 5, seed=3, per_category={"irrelevance": 2})
    assert [q.category for q in sized].count("irrelevance") == 2


def test_unknown_category_is_a_setup_error() -> None:
    from toolproxy.evaluation.errors import EvalSetupError

    with pytest.raises(EvalSetupError):
        bfcl.category_kind("simple_cobol")
