"""Names in a command: a device's, a service's or a package's, each checked as one word; lists
of them joined by commas and "and"; and the words that are never names (times, options,
sentences, courtesy), so that a word left out never names a machine."""

from __future__ import annotations

import re
import string
from collections.abc import Callable

from bot import say
from bot.understand.catalog import ParamField
from bot.understand.courtesy import COURTESY_WORDS
from bot.understand.typed import unquoted
from bot.understand.when import CONDITION_WORDS, VAGUE_TIME_WORDS, is_time_word

MAX_DEVICE_NAME = 63
MAX_NAME = 128
CONNECTOR = "on"  # between a "name" parameter and the devices: restart nginx on server-01
SEPARATORS = frozenset({",", "and"})
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAY_ABBREVIATIONS = ("mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun")
# Words that order or join sentences ("…then update…", "after the update", "reboot it"): never
# names, so "reboot server-01 and then" reboots no machine called "then".
SENTENCE_WORDS = frozenset({"then", "also", "plus", "afterwards", "it", "them"}) | CONDITION_WORDS
# Words of times and options are never device or package names: "reboot fri at 10:00" must not
# reboot a machine called "fri" because the device was left out.
RESERVED = frozenset(
    {"at", "in", "on", "and", "with", "force", "timeout", "now", "right", "today", "tomorrow"}
    | {
        "the",
        "tonight",
        "noon",
        "midday",
        "midnight",
        "next",
        "this",
        *WEEKDAYS,
        *WEEKDAY_ABBREVIATIONS,
    }
    | VAGUE_TIME_WORDS
    | SENTENCE_WORDS
    | COURTESY_WORDS
)
# Groups are written @web: "reboot all servers" must not reboot a machine called "all".
GROUP_WORDS = frozenset({"all", "every", "everything", "each", "any"})
ARTICLE = "the"  # restart the nginx service on server-02
_CLOCK_WORD = re.compile(r"[0-9]{1,2}(?::[0-9]{2})?(?:am|pm)", re.ASCII)  # 3pm, 9:30am


class Invalid(Exception):
    """A value is wrong; the text path adds an example, the modal path shows it by the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_device_name(name: str) -> str | None:
    """None if `name` can be a device name, else why not (quoting it)."""
    problem = _check_device_chars(name)
    # "reboot server-01." or "server-01:": the end of a sentence, not of the name. The name
    # without that end is checked once, not by recursing: an end that punctuation does not
    # trim ("🚀", "“server-01”") would be checked again for ever. What is left ends in a
    # letter or a digit if it is a name at all, as ".", "_" and "-" are trimmed.
    if name and not name[-1].isalnum():
        trimmed = name.rstrip(string.punctuation)
        if problem is None or (trimmed and _check_device_chars(trimmed) is None):
            return say.grammar.name_bad_end(say.grammar.WHAT_DEVICE, name)
    return problem


def _check_device_chars(name: str) -> str | None:
    return _check_name(name, what=say.grammar.WHAT_DEVICE, extra="._-", max_length=MAX_DEVICE_NAME)


def take_names(
    tokens: list[str], *, what: str, check: Callable[[str], str | None], reserved: frozenset[str]
) -> tuple[list[str], list[str]]:
    """Names separated by commas and/or "and" at the start of `tokens`, and the words after.

    The list ends at the first word after a name that is not a separator; a separator
    must be followed by a name.
    """
    names: list[str] = []
    i = 0
    if not tokens or is_reserved(tokens[0], reserved) or tokens[0] in SEPARATORS:
        return names, tokens
    while True:
        name = unquoted(tokens[i])  # “server-01”: see bot/understand/typed.py
        problem = check(name)
        if problem:
            raise Invalid(problem)
        names.append(name)
        i += 1
        if i >= len(tokens) or tokens[i].lower() not in SEPARATORS:
            return names, tokens[i:]
        separator = tokens[i]
        while i < len(tokens) and tokens[i].lower() in SEPARATORS:
            i += 1
        if i >= len(tokens) or is_reserved(tokens[i], reserved):
            raise Invalid(say.grammar.missing_after_separator(separator, what))


def is_reserved(word: str, reserved: frozenset[str]) -> bool:
    return word.lower() in reserved or bool(_CLOCK_WORD.fullmatch(word.lower()))


def dedupe(names: list[str]) -> tuple[list[str], list[str]]:
    """Each name once, as first written; names are compared ignoring case, as host names are."""
    spellings: dict[str, list[str]] = {}
    for name in names:
        spellings.setdefault(name.lower(), []).append(name)
    notes = [
        say.grammar.duplicate(
            written[0], len(written), others=sorted(set(written[1:]) - {written[0]})
        )
        for written in spellings.values()
        if len(written) > 1
    ]
    return [written[0] for written in spellings.values()], notes


def names_a_device(
    word: str, check: Callable[[str], str | None], not_names: frozenset[str]
) -> bool:
    """Does `word` surely name a device (`web-09`, `cpe.eu`: letters with digits or
    punctuation), not a word of a time phrase (`idle`, `end`, `9.30`)?"""
    return looks_like_name(word, check, not_names) and any(c.isdigit() or c in "-._" for c in word)


def looks_like_name(
    word: str, check: Callable[[str], str | None], not_names: frozenset[str]
) -> bool:
    """Could `word` be one more name the person meant? Never a time word ("december"), nor a
    word of the command or its sentence (`not_names`: "reboot", "then", "after", "with")."""
    return (
        check(word) is None
        and any(c.isalpha() for c in word)
        and not is_time_word(word)
        and word.lower() not in GROUP_WORDS
        and word.lower() not in not_names
    )


def item_checker(f: ParamField) -> Callable[[str], str | None]:
    """The check for a service or package name (`what` is how the person calls it)."""
    what = f.label.lower().removesuffix("s") if f.kind == "name_list" else f.label.lower()

    def check(name: str) -> str | None:
        return _check_name(name, what=what, extra="._-+@:", max_length=MAX_NAME)

    return check


def _check_name(name: str, *, what: str, extra: str, max_length: int) -> str | None:
    if not name:
        return say.grammar.name_empty(what)
    bad = [c for c in dict.fromkeys(name) if not (c.isascii() and (c.isalnum() or c in extra))]
    if bad:
        allowed = say.grammar.DEVICE_CHARS if extra == "._-" else say.grammar.NAME_CHARS
        return say.grammar.name_bad_characters(what, name, bad, allowed)
    if not name[0].isalnum():
        return say.grammar.name_bad_start(what, name)
    if len(name) > max_length:
        return say.grammar.name_too_long(what, name, max_length)
    if is_reserved(name, RESERVED):
        return say.grammar.name_reserved(what, name)
    return None
