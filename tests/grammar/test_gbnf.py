"""The one GBNF lexer (code_segments) and the scans built on it."""

from __future__ import annotations

from toolproxy.grammar.gbnf import code_segments, nesting, rule_refs, synthesised_rules, uses_token_rules


def test_segments_skip_literals_classes_and_comments() -> None:
    text = 'a ::= "x\\"(" b [\\]()<] c # ( <d>\r( e'
    assert list(code_segments(text)) == ["a ::= ", " b ", " c ", "\r( e"]


def test_unterminated_literal_runs_to_the_end() -> None:
    assert list(code_segments('a ::= "abc ( d')) == ["a ::= "]


def test_rule_refs_skip_quantifier_counts() -> None:
    assert rule_refs('"(" item-1{2,15} [a-z]* ( b | c-d )? # e') == ["item-1", "b", "c-d"]


def test_nesting_counts_groups_only() -> None:
    assert nesting('r ::= ( "(((" ( [(] ) ) # (((((') == 2
    assert nesting("r ::= " + "(" * 50, stop_above=10) == 11


def test_token_rules_outside_literals_only() -> None:
    assert uses_token_rules("r ::= !<[12]> x")
    assert not uses_token_rules('r ::= "<tool>" [<] # <x>')


def test_synthesised_rules_as_llama_cpp_counts_them() -> None:
    # a group, a star, an optional: three; {2,5}: three optional repeats; {3}: none; {1,}: one
    assert synthesised_rules('( "a" )* b? c{2,5} d{3} e{1,} "(*+?{1,9}"') == 3 + 3 + 1
