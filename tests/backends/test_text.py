"""StopScanner: the text before a stop string, and which stop string it was."""

from __future__ import annotations

from toolproxy.backends._text import StopScanner


def test_the_stop_string_found_is_known() -> None:
    scanner = StopScanner(("END", "\n\n"))
    assert scanner.feed(b"one\n") == "one"
    assert scanner.feed(b"\ntwo END") == ""
    assert scanner.stopped and scanner.matched == "\n\n" and scanner.text == "one"


def test_no_stop_string_matched() -> None:
    scanner = StopScanner(("END",))
    assert scanner.feed(b"EN") == ""
    assert scanner.flush() == "EN" and scanner.matched is None and not scanner.stopped
