"""The values of a command's options, as typed or from a modal's field: a length (`timeout
10m`), a value of its type (a string, an integer, a number, a boolean), and a value shown as
it would be typed back."""

from __future__ import annotations

import re
from decimal import Decimal

from bot import say
from bot.understand.catalog import ParamField
from bot.understand.names import CONNECTOR, SEPARATORS, Invalid

MAX_DURATION = 24 * 3600
_DURATION = re.compile(r"([0-9]+)\s*([a-z]*)")
DURATION_UNITS = {
    **dict.fromkeys(("", "s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
}
# A string value with spaces or commas is written between quotes; Slack on some systems
# turns "…" into “…” as it is typed.
_QUOTES = {'"': '"', "“": "”"}
INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
_BOOLEANS = {"true": True, "yes": True, "false": False, "no": False}
MAX_VALUE = 1024  # characters of a string value: a bound, like the text's
MAX_INTEGER = 2**63 - 1  # the widest integer a TR-069 parameter (long) holds


def read_duration(f: ParamField, raw: str) -> int:
    lowered = raw.strip().lower()
    if lowered.startswith("-") and _DURATION.fullmatch(lowered[1:]):
        raise Invalid(say.grammar.duration_not_positive(f.label, raw))
    match = _DURATION.fullmatch(lowered)
    if not match or match[2] not in DURATION_UNITS:
        raise Invalid(say.grammar.duration_unreadable(f.label, raw))
    # More digits than the longest duration has is too long, whatever the unit: not read as a
    # number, which past 4,300 digits Python refuses with a ValueError.
    if len(match[1].lstrip("0")) > len(str(MAX_DURATION)):
        raise Invalid(say.grammar.duration_too_long(f.label, raw, MAX_DURATION))
    return check_duration(f, int(match[1]) * DURATION_UNITS[match[2]], raw)


def check_duration(f: ParamField, seconds: int, shown: str) -> int:
    if seconds <= 0:
        raise Invalid(say.grammar.duration_not_positive(f.label, shown))
    if seconds > MAX_DURATION:
        raise Invalid(say.grammar.duration_too_long(f.label, shown, MAX_DURATION))
    return seconds


def read_value(f: ParamField, raw: str, *, quoted: bool) -> object:
    """A value of `f.value_type`; `quoted` when quotes are the text's (`to "two words"`)
    rather than part of what was typed in the modal's field."""
    if f.value_type == "string":
        if quoted and raw[:1] in _QUOTES:
            if len(raw) < 2 or raw[-1] != _QUOTES[raw[0]]:
                raise Invalid(say.grammar.value_unclosed_quote(f.label))
            raw = raw[1:-1]
        if len(raw) > MAX_VALUE:
            raise Invalid(say.grammar.value_too_long(f.label, MAX_VALUE))
        return raw
    lowered = raw.strip().lower()
    if f.value_type == "boolean":
        if lowered not in _BOOLEANS:
            raise Invalid(say.grammar.value_not_boolean(f.label, raw))
        return _BOOLEANS[lowered]
    if f.value_type == "integer" and not INTEGER.fullmatch(lowered):
        raise Invalid(say.grammar.value_not_whole(f.label, value_sample(f)))
    if f.value_type == "number" and not _DECIMAL.fullmatch(lowered):
        raise Invalid(say.grammar.value_not_number(f.label, value_sample(f)))
    digits = lowered.lstrip("+-").split(".")[0]
    if len(digits.lstrip("0")) > len(str(MAX_INTEGER)) or abs(int(digits or "0")) > MAX_INTEGER:
        raise Invalid(say.grammar.value_too_large(f.label, MAX_INTEGER))
    # Below MAX_INTEGER a float is finite; a whole number stays an int, as it was written.
    return float(lowered) if "." in lowered else int(lowered)


def value_sample(f: ParamField) -> str:
    """A value to show in an example: the placeholder if it is one, else one of its type."""
    sample = f.placeholder.strip()
    # Checked here by hand: _read_value's messages show this sample, so it can't ask them.
    short = len(sample.lstrip("+-").split(".")[0]) < len(str(MAX_INTEGER))
    fits = {
        "string": bool(sample) and len(sample) <= MAX_VALUE,
        "integer": bool(INTEGER.fullmatch(sample)) and short,
        "number": bool(_DECIMAL.fullmatch(sample)) and short,
        "boolean": sample.lower() in _BOOLEANS,
    }
    if not fits[f.value_type]:
        return say.grammar.EXAMPLE_VALUES[f.value_type]
    return shown_value(sample) if f.value_type == "string" else sample


def shown_value(value: object) -> str:
    """A value as it would be typed, so that the example reads it back the same."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        shown = repr(value)
        return format(Decimal(shown), "f") if "e" in shown else shown
    if not isinstance(value, str):
        return str(value)
    plain = (
        value
        and value[0] not in _QUOTES
        and not any(c.isspace() or c == "," for c in value)
        and value.lower() not in {CONNECTOR, *SEPARATORS}
    )
    if plain:
        return value
    return f"“{value}”" if '"' in value else f'"{value}"'
