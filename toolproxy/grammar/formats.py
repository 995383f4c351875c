"""JSON Schema ``format`` -> GBNF expression over the JSON-encoded string content.

Every format is written once as an anchored ECMA-262 regex over *decoded* characters (the ``_REGEXES``
table) and compiled by the pattern translator, so JSON escaping is handled in one place. Where the exact
language needs counting the translator cannot do (total hostname length, leap seconds at every possible
offset, IDNA rules) the regex is a documented sound subset: everything it admits is valid.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from toolproxy.grammar.regex import pattern_to_gbnf

__all__ = ["FORMATS", "format_regex", "format_to_gbnf"]

# --- dates and times (RFC 3339 section 5.6, leap years and leap seconds included) -----------------
_LEAP_YEAR = r"(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_DATE = (
    r"(?:\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
    r"|02-(?:0[1-9]|1\d|2[0-8]))|" + _LEAP_YEAR + r"-02-29)"
)
_HOUR = r"(?:[01]\d|2[0-3])"
_FRAC = r"(?:\.\d+)?"
_NUM_OFFSET = r"[+-]" + _HOUR + r":[0-5]\d"
_OFFSET_MINUTES = (0, 15, 30, 45)  # leap seconds are admitted at offsets with these minutes


def _leap_second_times() -> str:
    """``hh:mm:60`` is valid only when it is 23:59:60 UTC; enumerate (local time, offset) pairs."""
    by_local: dict[str, list[str]] = {"23:59": ["[Zz]", r"[+-]00:00"]}
    for sign in (1, -1):
        for hours in range(24):
            for minutes in _OFFSET_MINUTES:
                if hours == minutes == 0:
                    continue
                local = (23 * 60 + 59 + sign * (hours * 60 + minutes)) % (24 * 60)
                key = f"{local // 60:02d}:{local % 60:02d}"
                offset = ("\\+" if sign > 0 else "-") + f"{hours:02d}:{minutes:02d}"
                by_local.setdefault(key, []).append(offset)
    branches = [f"{local}:60{_FRAC}(?:{'|'.join(offsets)})" for local, offsets in sorted(by_local.items())]
    return "(?:" + "|".join(branches) + ")"


def _time() -> str:
    return f"(?:{_HOUR}:[0-5]\\d:[0-5]\\d{_FRAC}(?:[Zz]|{_NUM_OFFSET})|{_leap_second_times()})"


# --- durations (RFC 3339 appendix A) ----------------------------------------------------------------
_DUR_TIME = r"T(?:\d+H(?:\d+M(?:\d+S)?)?|\d+M(?:\d+S)?|\d+S)"
_DURATION = r"P(?:(?:\d+D|\d+M(?:\d+D)?|\d+Y(?:\d+M(?:\d+D)?)?)(?:" + _DUR_TIME + ")?|" + _DUR_TIME + r"|\d+W)"

# --- IP addresses (RFC 2673 dotted quad without leading zeros, RFC 4291 section 2.2) ----------------
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"(?:{_OCTET}\.){{3}}{_OCTET}"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6 = (
    rf"(?:(?:{_H16}:){{6}}{_LS32}|::(?:{_H16}:){{5}}{_LS32}|(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}"
    rf"|(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}"
    rf"|(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}"
    rf"|(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}|(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}"
    rf"|(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}|(?:(?:{_H16}:){{0,6}}{_H16})?::)"
)

# --- host names (RFC 1123 labels of 1-63 characters, at most 253 characters in all) -----------------
_LD = "[A-Za-z0-9]"
_LDH = "[A-Za-z0-9-]"
# (labels at most, longest label) tiers whose worst case stays within 253 characters.
_HOST_TIERS = ((4, 63), (8, 30), (16, 14), (32, 6), (127, 1))


def _label(longest: int, ld: str = _LD, ldh: str = _LDH) -> str:
    if longest == 1:
        return ld
    return f"{ld}(?:{ldh}{{0,{longest - 2}}}{ld})?"


def _hostname(ld: str = _LD, ldh: str = _LDH, dot: str = r"\.", label: Callable[[int], str] | None = None) -> str:
    make = label or (lambda n: _label(n, ld, ldh))
    tiers = [f"{make(63)}(?:{dot}{make(63)}){{0,2}}(?:{dot}{make(61)})?"]
    for count, longest in _HOST_TIERS[1:]:
        tiers.append(f"{make(longest)}(?:{dot}{make(longest)}){{0,{count - 1}}}")
    return "(?:" + "|".join(tiers) + ")"


def _idn_ascii_label(longest: int) -> str:
    """An LDH label without ``--`` in positions 3-4 (those must be valid A-labels, not checked here)."""
    if longest < 5:
        return _label(longest)
    return (
        f"(?:{_LD}(?:{_LDH}?{_LD})?|{_LD}{_LDH}{_LDH}{_LD}"
        f"|{_LD}{_LDH}(?:{_LD}{_LDH}|-{_LD}){_LDH}{{0,{longest - 5}}}{_LD})"
    )


# --- e-mail (RFC 5321 Mailbox; local part within 64 characters via tiers) --------------------------
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]"
_QUOTED_LOCAL = r'"(?:[ !#-\[\]-~]|\\[ -~]){0,31}"'


def _email(atext: str, domain: str) -> str:
    tiers = [(1, 64), (2, 31), (3, 20), (8, 7)]
    dot_strings = "|".join(f"{atext}{{1,{n}}}(?:\\.{atext}{{1,{n}}}){{0,{k - 1}}}" for k, n in tiers)
    literal = rf"\[(?:{_IPV4}|IPv6:{_IPV6})\]"
    return f"(?:{dot_strings}|{_QUOTED_LOCAL})@(?:{domain}|{literal})"


# --- URIs and IRIs (RFC 3986 appendix A, RFC 3987 section 2.2) ------------------------------------
_UCSCHAR = (
    r"\u00A0-\uD7FF\uF900-\uFDCF\uFDF0-\uFFEF\u{10000}-\u{1FFFD}\u{20000}-\u{2FFFD}\u{30000}-\u{3FFFD}"
    r"\u{40000}-\u{4FFFD}\u{50000}-\u{5FFFD}\u{60000}-\u{6FFFD}\u{70000}-\u{7FFFD}\u{80000}-\u{8FFFD}"
    r"\u{90000}-\u{9FFFD}\u{A0000}-\u{AFFFD}\u{B0000}-\u{BFFFD}\u{C0000}-\u{CFFFD}\u{D0000}-\u{DFFFD}"
    r"\u{E1000}-\u{EFFFD}"
)
_IPRIVATE = r"\uE000-\uF8FF\u{F0000}-\u{FFFFD}\u{100000}-\u{10FFFD}"


def _uri(*, iri: bool, reference: bool) -> str:
    unreserved = r"A-Za-z0-9\-._~" + (_UCSCHAR if iri else "")
    sub = r"!$&'()*+,;="
    pct = r"%[0-9A-Fa-f]{2}"
    pchar = rf"(?:[{unreserved}{sub}:@]|{pct})"
    query = rf"(?:[{unreserved}{sub}:@/?{_IPRIVATE if iri else ''}]|{pct})*"
    fragment = rf"(?:[{unreserved}{sub}:@/?]|{pct})*"
    segment, segment_nz = f"{pchar}*", f"{pchar}+"
    segment_nz_nc = rf"(?:[{unreserved}{sub}@]|{pct})+"
    ip_literal = rf"\[(?:{_IPV6}|v[0-9A-Fa-f]+\.[{unreserved}{sub}:]+)\]"
    reg_name = rf"(?:[{unreserved}{sub}]|{pct})*"
    authority = rf"(?:(?:[{unreserved}{sub}:]|{pct})*@)?(?:{ip_literal}|{reg_name})(?::\d*)?"
    abempty = f"(?:/{segment})*"
    absolute = f"/(?:{segment_nz}(?:/{segment})*)?"
    hier = f"(?://{authority}{abempty}|{absolute}|{segment_nz}(?:/{segment})*)?"
    tail = rf"(?:\?{query})?(?:#{fragment})?"
    uri = f"[A-Za-z][A-Za-z0-9+\\-.]*:{hier}{tail}"
    if not reference:
        return uri
    relative = f"(?://{authority}{abempty}|{absolute}|{segment_nz_nc}(?:/{segment})*)?{tail}"
    return f"(?:{uri}|{relative})"


def _uri_template() -> str:
    pct = r"%[0-9A-Fa-f]{2}"
    literal = rf"(?:[!#$&(-;=?-\[\]_a-z~{_UCSCHAR}{_IPRIVATE}]|{pct})"
    varchar = rf"(?:[A-Za-z0-9_]|{pct})"
    varspec = rf"{varchar}(?:\.?{varchar})*(?::[1-9]\d{{0,3}}|\*)?"
    expression = rf"\{{[+#./;?&=,!@|]?{varspec}(?:,{varspec})*\}}"
    return f"(?:{literal}|{expression})*"


# --- JSON pointers (RFC 6901, draft-bhutton-relative-json-pointer-00) ------------------------------
_JSON_POINTER = r"(?:/(?:[^~/]|~[01])*)*"
_RELATIVE_JSON_POINTER = rf"(?:0|[1-9]\d*)(?:#|{_JSON_POINTER})"

# --- regular expressions: a sound subset of ECMA-262 patterns (no nested groups, simple classes) ---
_RX_CHAR = r"(?:[^\\^$.*+?()\[\]{}|/]|\\[\\^$.*+?()\[\]{}|/\-dDwWsStnrfv]|\.)"
_RX_CLASS = r"\[\^?(?:[^\\\]\[-]|\\[\\\]\[\-^dDwWsStnrfv]|a-z|A-Z|0-9)+\]"
_RX_QUANT = r"(?:[*+?]|\{\d{1,3}(?:,\d{0,3})?\})?"
_RX_PIECE = rf"(?:{_RX_CHAR}|{_RX_CLASS}){_RX_QUANT}"
_RX_GROUP = rf"\((?:\?:)?(?:{_RX_PIECE})+(?:\|(?:{_RX_PIECE})+)*\){_RX_QUANT}"
_REGEX = rf"\^?(?:{_RX_PIECE}|{_RX_GROUP})*\$?"


def _table() -> dict[str, str]:
    date, time = _DATE, _time()
    host = _hostname()
    idn_host = _hostname(dot=r"[.\u3002\uFF0E\uFF61]", label=_idn_ascii_label)
    idn_atext = _ATEXT[:-1] + r"\u0080-\uD7FF\uE000-\u{10FFFF}]"
    return {
        "date": date,
        "time": time,
        "date-time": f"{date}[Tt]{time}",
        "duration": _DURATION,
        "uuid": r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}",
        "ipv4": _IPV4,
        "ipv6": _IPV6,
        "hostname": host,
        "idn-hostname": idn_host,
        "email": _email(_ATEXT, host),
        "idn-email": _email(idn_atext, host),
        "uri": _uri(iri=False, reference=False),
        "uri-reference": _uri(iri=False, reference=True),
        "iri": _uri(iri=True, reference=False),
        "iri-reference": _uri(iri=True, reference=True),
        "uri-template": _uri_template(),
        "json-pointer": _JSON_POINTER,
        "relative-json-pointer": _RELATIVE_JSON_POINTER,
        "regex": _REGEX,
    }


FORMATS = frozenset(
    ("date", "time", "date-time", "duration", "uuid", "ipv4", "ipv6", "hostname", "idn-hostname", "email",
     "idn-email", "uri", "uri-reference", "iri", "iri-reference", "uri-template", "json-pointer",
     "relative-json-pointer", "regex")
)


def format_regex(fmt: str) -> str | None:
    """The anchored ECMA-262 regex used for ``fmt`` (None for an unknown format)."""
    if fmt not in FORMATS:
        return None
    return "^" + _table()[fmt] + "$"


def format_to_gbnf(fmt: str, *, pointer: str) -> str | None:
    """GBNF expression for the JSON-encoded content of strings valid for ``fmt``; None when unknown
    (an unknown format is an annotation only)."""
    return _compiled(fmt) if fmt in FORMATS else None


@functools.cache
def _compiled(fmt: str) -> str:
    return pattern_to_gbnf("^" + _table()[fmt] + "$", pointer="")
