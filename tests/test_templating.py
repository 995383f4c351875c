"""Sandboxed chat templates: HF helpers work, Python internals are out of reach."""

from __future__ import annotations

import pytest

from toolproxy.templating import TemplateError, fallback_template, render_chat

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
]


def test_gemma_fallback_folds_system_into_first_user_turn() -> None:
    text = render_chat(fallback_template("gemma3"), MESSAGES, bos_token="<bos>")
    assert text == (
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
    )


def test_chatml_fallback() -> None:
    text = render_chat(fallback_template("llama"), MESSAGES[:2])
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_hf_helpers() -> None:
    source = (
        "{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}{{ m | tojson }}{% endfor %}"
        "{{ strftime_now('%Y') | length }}"
    )
    expected = '{"role": "system", "content": "Be brief."}{"role": "user", "content": "Hi"}4'
    assert render_chat(source, MESSAGES) == expected


def test_raise_exception_is_a_clear_error() -> None:
    with pytest.raises(TemplateError, match="only user and assistant"):
        render_chat("{{ raise_exception('only user and assistant roles') }}", MESSAGES)


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.__class__.__init__.__globals__ }}",
        "{{ raise_exception.__globals__['__builtins__']['__import__']('os').system('true') }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
        "{% set x = messages.append({'role': 'user'}) %}",
        "{{ ().__class__.__base__.__subclasses__() }}",
        # more (issue 9): jinja's own globals, attr() / format() detours, mutation, loaders, resource use
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ namespace.__init__.__globals__.os }}",
        "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
        "{{ messages|attr('__class__') }}",
        "{{ '{0.__class__.__mro__}'.format(messages) }}",
        "{{ '{0.__class__}'.format_map({'0': messages}) }}",
        "{{ '%s'|format(messages.__class__) }}",
        "{{ messages.pop() }}",
        "{{ (messages|first).update({'role': 'x'}) }}",
        "{{ raise_exception.__code__ }}",
        "{{ strftime_now.__globals__ }}",
        "{{ self.__dict__ }}",
        "{% import 'os' as os %}{{ os }}",
        "{% include '/etc/passwd' %}",
        "{% extends '/etc/passwd' %}",
        "{% for i in range(10**7) %}{% endfor %}",
    ],
)
def test_injection_payloads_are_blocked(payload: str) -> None:
    """Either the sandbox refuses (TemplateError) or the unsafe attribute renders as nothing."""
    messages = [{"role": "user", "content": "x"}]
    try:
        out = render_chat(payload, messages)
    except TemplateError:
        return
    assert not any(marker in out for marker in ("class", "function", "module", "uid=", "built-in")), out
    assert messages == [{"role": "user", "content": "x"}]


def test_syntax_error_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="does not parse"):
        render_chat("{% for %}", MESSAGES)


def test_generation_tag_and_tojson_of_filtered_iterables() -> None:
    """Hugging Face's ``{% generation %}`` marker renders its body; ``map(...) | tojson`` works (issue 4)."""
    source = (
        "{% for m in messages %}{% generation %}[{{ m.content }}]{% endgeneration %}{% endfor %}"
        "{{ tools | map(attribute='function') | tojson }}"
    )
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert render_chat(source, MESSAGES[:2], tools=tools) == '[Be brief.][Hi][{"name": "f"}]'
