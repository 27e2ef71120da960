"""Naming many devices at once: ranges (`server-01..server-20`), groups (`@web`) and the
bound on how many one request may name.

A range counts on the number that ends a name. Its first end decides the padding: a number
written with a leading zero (`server-08`) pads every name to its width, one without
(`web-1`) pads none. The second end is either a whole name with the same prefix
(`server-08..server-10`) or only the number (`server-08..10`). Anything else (a range that
counts down, ends with different prefixes, ends padded differently) is refused with a
sentence and a range that reads, never guessed.

A group is written `@web`: `@` can never be part of a device name (see
`names.check_device_name`), so a group cannot shadow a device, whatever it is called.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from bot import say

RANGE_MARK = ".."
# "…" (U+2026): what keyboards and autocorrect make of typed dots. Never read as RANGE_MARK,
# since nothing else is mended (bot/understand/typed.py), but a range written with it is
# answered with the range to write.
ELLIPSIS = "\u2026"
GROUP_SIGIL = "@"
DEFAULT_MAX_DEVICES = 500
# Each operation is one POST and one row, so operations are bounded too: by default twice the
# devices (two services on each device of the largest request, or ten on a fifth of them).
OPERATIONS_PER_DEVICE = 2
# What `[limits]` may raise them to: past this a request is a fleet migration, not a command.
CEILING_DEVICES = 10_000
CEILING_OPERATIONS = 20_000
# A range shorter than this is shown name by name: `web-01, web-02` reads better as it is.
RUN_SHOWN_AS_RANGE = 3

_NUMBERED = re.compile(r"(.*?)([0-9]+)", re.ASCII)  # the prefix, and the number that ends it
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
GROUP_NAME = re.compile(r"[a-z][a-z0-9_-]*", re.ASCII)
MAX_GROUP_NAME = 63


@dataclass(frozen=True, kw_only=True)
class Limits:
    """`[limits]`: how many devices, and operations (devices × services), one request may make."""

    max_devices: int = DEFAULT_MAX_DEVICES
    max_operations: int = DEFAULT_MAX_DEVICES * OPERATIONS_PER_DEVICE


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, kw_only=True)
class Naming:
    """What a request may name besides single devices: the site's groups (name, lower case,
    → members, each once, in the file's order) and the limits."""

    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    limits: Limits = DEFAULT_LIMITS


DEFAULT_NAMING = Naming()


class BadRange(Exception):
    """A range that cannot be read; `reason` says why, `example` is one that reads (or "")."""

    def __init__(self, reason: str, example: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.example = example


@dataclass(frozen=True, kw_only=True)
class Range:
    prefix: str
    first: int
    last: int
    width: int  # the padding: every number is written with at least this many digits

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def name(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.width}d}"

    def names(self) -> Iterator[str]:
        return (self.name(n) for n in range(self.first, self.last + 1))

    @property
    def text(self) -> str:
        return f"{self.name(self.first)}{RANGE_MARK}{self.name(self.last)}"


def is_range(word: str) -> bool:
    return RANGE_MARK in word


def with_two_dots(word: str) -> str | None:
    """`server-01..20` for `server-01…20`: the range a word with one ellipsis was meant to
    be, if it reads as one once the ellipsis is two dots; else None."""
    if word.count(ELLIPSIS) != 1:
        return None
    meant = word.replace(ELLIPSIS, RANGE_MARK)
    try:
        read_range(meant)
    except BadRange:
        return None
    return meant


def is_group(word: str) -> bool:
    return word.startswith(GROUP_SIGIL)


def read_range(word: str) -> Range:
    """The range `word` spells (`server-01..server-20`, `server-08..10`); raises BadRange.
    Its ends are not checked as device names here: the grammar does that."""
    left, _, right = word.partition(RANGE_MARK)
    start = _NUMBERED.fullmatch(left)
    if start is None or not start[1] or right.startswith(".") or not right:
        raise BadRange(say.grammar.range_unreadable(word))
    prefix, first_digits = start[1], start[2]
    if _DIGITS.fullmatch(right):
        last_digits, short = right, True  # server-08..10
    else:
        end = _NUMBERED.fullmatch(right)
        if end is None:
            raise BadRange(say.grammar.range_unreadable(word))
        if end[1].lower() != prefix.lower():
            raise BadRange(say.grammar.range_mixed_prefix(word, left, right), _example(prefix))
        last_digits, short = end[2], False
    first, last = int(first_digits), int(last_digits)
    if last < first:
        turned = f"{prefix}{last_digits}{RANGE_MARK}{prefix}{first_digits}"
        raise BadRange(say.grammar.range_reversed(word), turned)
    padded = len(first_digits) > 1 and first_digits.startswith("0")
    width = len(first_digits) if padded else 1
    if f"{last:0{width}d}" != last_digits and not (short and not last_digits.startswith("0")):
        # server-1..server-010, server-001..server-20: which padding was meant is unclear.
        wide = max(len(first_digits), len(last_digits))
        fixed = Range(prefix=prefix, first=first, last=last, width=wide)
        raise BadRange(say.grammar.range_padding(word, left, f"{prefix}{last_digits}"), fixed.text)
    return Range(prefix=prefix, first=first, last=last, width=width)


def _example(prefix: str) -> str:
    return f"{prefix}01{RANGE_MARK}{prefix}20"


def compress(names: Sequence[str]) -> list[str | Range]:
    """The names as written, with each run of three or more that count up by one as the Range
    that spells exactly that run (`server-001..server-500`): expanding the result gives
    `names` back, in the same order."""
    shown: list[str | Range] = []
    i = 0
    while i < len(names):
        run = _run_from(names, i)
        if run is not None and run.count >= RUN_SHOWN_AS_RANGE:
            shown.append(run)
            i += run.count
        else:
            shown.append(names[i])
            i += 1
    return shown


def _run_from(names: Sequence[str], start: int) -> Range | None:
    numbered = _NUMBERED.fullmatch(names[start])
    if numbered is None or not numbered[1]:
        return None
    prefix, digits = numbered[1], numbered[2]
    width = len(digits) if len(digits) > 1 and digits.startswith("0") else 1
    first = int(digits)
    run = Range(prefix=prefix, first=first, last=first, width=width)
    # Exactly what read_range gives back: the same prefix, spelled the same, one more each time.
    while start + run.count < len(names) and names[start + run.count] == run.name(run.last + 1):
        run = Range(prefix=prefix, first=first, last=run.last + 1, width=width)
    return run


def compressed(names: Sequence[str]) -> list[str]:
    """`compress` as text: `["server-001..server-500", "lb-01"]`."""
    return [piece.text if isinstance(piece, Range) else piece for piece in compress(names)]


def group_name_problem(name: str) -> str | None:
    """None if `name` can be a group's name in `[groups]`, else why not."""
    if name.startswith(GROUP_SIGIL):
        return say.grammar.group_name_sigil(name)
    if len(name) > MAX_GROUP_NAME or not GROUP_NAME.fullmatch(name.lower()):
        return say.grammar.group_name_bad(name, MAX_GROUP_NAME)
    return None
