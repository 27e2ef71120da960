"""Command text (`/ops reboot server-01, server-02 at 14:00`) to a Command.

The operation and its devices are read first, word by word, from the catalog; only
what is left is handed to `when` as the time phrase.  Nothing is guessed: input that
does not fit is refused with the reason and a correct example.
"""

from __future__ import annotations

import copy
import math
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from bot import say
from bot.model import (
    Command,
    HelpQuery,
    ListQuery,
    OperationSpec,
    Plan,
    Refusal,
    StatusQuery,
)
from bot.understand.catalog import DEFAULT_CATALOG, Catalog, OperationKind, ParamField
from bot.understand.naming import (
    DEFAULT_NAMING,
    GROUP_SIGIL,
    RANGE_MARK,
    BadRange,
    Limits,
    Naming,
    compressed,
    is_group,
    is_range,
    read_range,
    with_two_dots,
)
from bot.understand.suggestions import Fix, Reading, next_to, placed, refuse_several, renamed
from bot.understand.typed import invisible, is_quoted, plain, unquoted, unread
from bot.understand.waves import split
from bot.understand.when import (
    CONDITION_WORDS,
    VAGUE_TIME_WORDS,
    UnreadableTime,
    When,
    is_time_word,
    resolve,
    resolve_picker,
    says_which_day_or_zone,
    utc_now,
    zone_for,
)

# Room for 50 devices of 63 characters each, yet a bound: nobody types more by hand (more
# devices are named by ranges and groups, and bounded by the policy's [limits]).
MAX_TEXT = 4000
# Ranges and groups may repeat devices; what they name in all, repeats included, is bounded
# at this many times max_devices before anything is expanded.
REPEATS_READ = 10
GROUP_NOTE_SHOWN = 300  # of a group's members, in the note that lists them
MAX_DEVICE_NAME = 63
MAX_NAME = 128
MAX_OPERATION_ID = 64
MAX_DURATION = 24 * 3600
MAX_LIST_PAGE = 1_000_000  # 20 million operations: a bound on the offset asked of the API
PAGE_WORD = "page"  # list page 2
CONNECTOR = "on"  # between a "name" parameter and the devices: restart nginx on server-01
SEPARATORS = frozenset({",", "and"})
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAY_ABBREVIATIONS = ("mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun")
# Words that order or join sentences ("…then update…", "after the update", "reboot it"): never
# names, so "reboot server-01 and then" reboots no machine called "then".
SENTENCE_WORDS = frozenset({"then", "also", "plus", "afterwards", "it", "them"}) | CONDITION_WORDS
# Politeness around a request, as people type it ("please restart nginx on web-01", "can you
# reboot web-02 at 14:00?", "…, thanks"): read past, never refused. Only whole words, only
# before the operation or after the request; the closing ones are never names either
# (RESERVED), so "reboot web-01, thanks" cannot reboot a machine called "thanks".
GREETINGS = frozenset({"hey", "hi", "hello"})
BOT_NAMES = frozenset({"opsbot", "bot"})  # "hey opsbot, …"
PLEASE = frozenset({"please", "pls", "plz", "kindly"})
ASKING = frozenset({"can", "could", "would", "will"})  # "can you …", "could u …"
YOU = frozenset({"you", "u"})
THANKS = frozenset({"please", "pls", "plz", "thanks", "thx", "cheers"})
THANK = "thank"  # "thank you"
COURTESY_WORDS = THANKS | {THANK}  # never names
COURTESY_ENDS = "!."  # "thanks!", "please."
SLASH_COMMAND = "/ops"  # "/ops reboot web-01", typed out
QUESTION_MARK = "?"  # "can you reboot web-02?", "reboot web-02?"
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
# The API has no way to cancel a scheduled operation; these get a sentence saying so.
CANCEL_WORDS = frozenset({"cancel", "abort", "delete", "unschedule", "remove", "revoke", "undo"})
ARTICLE = "the"  # restart the nginx service on server-02
_CLOCK_WORD = re.compile(r"[0-9]{1,2}(?::[0-9]{2})?(?:am|pm)", re.ASCII)  # 3pm, 9:30am

_OPERATION_ID = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_OPERATION_ID}}}")
_DURATION = re.compile(r"([0-9]+)\s*([a-z]*)")
_DURATION_UNITS = {
    **dict.fromkeys(("", "s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
}
# A string value with spaces or commas is written between quotes; Slack on some systems
# turns "…" into “…” as it is typed.
_QUOTES = {'"': '"', "“": "”"}
_TOKEN = re.compile(r'"[^"]*"|“[^”]*”|,|[^\s,]+')
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
_BOOLEANS = {"true": True, "yes": True, "false": False, "no": False}
# What "to on" and "to off" mean, as the person wrote it, for the example of their refusal.
_BOOLEAN_WORDS = {"on": "true", "off": "false"}
MAX_VALUE = 1024  # characters of a string value: a bound, like the text's
MAX_INTEGER = 2**63 - 1  # the widest integer a TR-069 parameter (long) holds


class FieldErrors(Exception):
    """The modal's fields that are wrong, by field name, each with a message for the person."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {error}" for name, error in errors.items()))
        self.errors = errors


class _Invalid(Exception):
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


def parse(
    text: str,
    *,
    tz: str,
    now: datetime,
    catalog: Catalog = DEFAULT_CATALOG,
    naming: Naming = DEFAULT_NAMING,
) -> Command:
    """The command in `text`, typed by someone in zone `tz`; raises Refusal. `naming`: the
    policy's groups and limits."""
    return _parse(text, tz=tz, now=now, catalog=catalog, naming=naming, suggest=True)


def with_name(
    text: str,
    *,
    name: str,
    instead: str,
    tz: str,
    now: datetime,
    catalog: Catalog = DEFAULT_CATALOG,
    naming: Naming = DEFAULT_NAMING,
) -> str | None:
    """`text` with the name `name` (a service, as typed) written `instead`, when that asks for
    exactly what `text` asks but for that name (bot/understand/suggestions.py `renamed`);
    None when that cannot be made sure."""
    try:
        asked = parse(text, tz=tz, now=now, catalog=catalog, naming=naming)
        tokens = _tokens(text, example="")
    except Refusal:
        return None
    if not isinstance(asked, Plan):
        return None
    field = catalog.name_field(asked.operations[0].operation_type)
    if field is None:
        return None
    tokens = without_courtesy(tokens, catalog)  # the request offered, as its refusals are

    def read_as_this(other: str, suggest: bool) -> Command:
        return _parse(other, tz=tz, now=now, catalog=catalog, naming=naming, suggest=suggest)

    reading = Reading(
        typed=tuple(placed(tokens)), catalog=catalog, parse=read_as_this, suggest=True
    )
    return renamed(reading, asked, field=field.name, name=name, instead=instead)


def _parse(
    text: str, *, tz: str, now: datetime, catalog: Catalog, naming: Naming, suggest: bool
) -> Command:
    """`parse`; `suggest` False while a suggestion is checked: its refusals offer nothing of
    the text, so checking one never checks another."""
    zone_for(tz)
    utc_now(now)
    tokens = _tokens(text, example=catalog.kinds[0].example)
    try:
        return _read(tokens, tz=tz, now=now, catalog=catalog, naming=naming, suggest=suggest)
    except Refusal as refused:
        # The refusal as it is (a SeveralRequests keeps its commands), its reason told more.
        refused.reason = with_unread(refused.reason, tokens, _string_value_words(catalog))
        refused.args = (refused.reason,)
        raise


def with_unread(reason: str, words: Sequence[str], value_words: frozenset[str]) -> str:
    """The reason, and the characters outside plain text in `words` that it does not name
    yet: whatever a command is refused for, they are told, as they may look like plain ones
    (a Cyrillic "о", an en dash) and be why. A quoted word, or the word after one of
    `value_words`, is a value, where any character is read."""
    chars = [
        c
        for i, word in enumerate(words)
        if not is_quoted(word) and not (i and words[i - 1].lower() in value_words)
        for c in unread(word)
    ]
    untold = [c for c in dict.fromkeys(chars) if f"U+{ord(c):04X}" not in reason]
    return f"{reason} {say.grammar.unread_characters(untold)}" if untold else reason


def _string_value_words(catalog: Catalog) -> frozenset[str]:
    return frozenset(
        f.word
        for k in catalog.kinds
        for f in k.fields
        if f.kind == "value" and f.value_type == "string"
    )


def _read(
    tokens: list[str], *, tz: str, now: datetime, catalog: Catalog, naming: Naming, suggest: bool
) -> Command:
    tokens = without_courtesy(tokens, catalog)
    if not tokens:
        raise Refusal(say.grammar.empty_command(), example=say.grammar.EXAMPLE_HELP)
    word, args = tokens[0].lower(), tokens[1:]
    if word == "help":
        return HelpQuery()
    if word == "list":
        return _list(args)
    if word == "status":
        return _status(args)
    tokens = placed(tokens)
    args = tokens[1:]
    kind = catalog.by_keyword(word)
    if kind is None:
        kind, args = _flags_first(tokens, catalog)
    if kind is None and word in CANCEL_WORDS:
        raise _cancel(tokens[0], args)
    if kind is None:
        keywords = [k.keyword for k in catalog.kinds]
        raise Refusal(
            say.grammar.unknown_operation(tokens[0], keywords), example=catalog.kinds[0].example
        )

    def read_as_this(other: str, suggest: bool) -> Command:
        return _parse(other, tz=tz, now=now, catalog=catalog, naming=naming, suggest=suggest)

    reading = Reading(typed=tuple(tokens), catalog=catalog, parse=read_as_this, suggest=suggest)
    refuse_several(reading)
    return _operation(kind, args, reading, tz=tz, now=now, naming=naming)


def plan_from_fields(
    *,
    operation_type: str,
    devices: str,
    values: dict[str, object],
    when: datetime | None,
    tz: str,
    now: datetime,
    catalog: Catalog = DEFAULT_CATALOG,
    naming: Naming = DEFAULT_NAMING,
) -> Plan:
    """The modal's path to a Plan: the same checks as the text; raises FieldErrors with all.

    `values` holds the modal's inputs by ParamField.name (str, bool, int or list); values
    for fields the operation does not have are ignored, as they are never sent.
    """
    zone_for(tz)
    kind = catalog.by_type(operation_type)
    if kind is None:
        raise FieldErrors({"operation_type": say.grammar.unknown_operation_type(operation_type)})

    errors: dict[str, str] = {}
    reserved = RESERVED | catalog.words()
    names: list[str] = []
    device_notes: list[str] = []
    try:
        names, device_notes = _devices_from_text(devices, reserved, naming)
    except _Invalid as error:
        errors["devices"] = with_unread(error.reason, devices.split(), frozenset())

    chosen: dict[str, object] = {}
    notes: list[str] = []
    for f in kind.fields:
        raw = values.get(f.name)
        try:
            value, field_notes = _field_value(f, raw, reserved)
        except _Invalid as error:
            typed = raw.split() if isinstance(raw, str) and f.kind in ("name", "name_list") else []
            errors[f.name] = with_unread(error.reason, typed, frozenset())
        else:
            chosen[f.name] = value
            notes += field_notes

    too_many = (
        _too_many(kind, names, chosen, naming.limits) if names and "devices" not in errors else None
    )
    if too_many:
        errors["devices"] = too_many

    resolved: When | None = None
    try:
        resolved = resolve_picker(when, tz=tz, now=now)
    except Refusal as error:
        errors["when"] = error.reason
    if errors or resolved is None:
        raise FieldErrors(errors)
    return _plan(kind, names, chosen, resolved, tz=tz, notes=[*device_notes, *notes])


# --- reading the text ---


def _tokens(raw: str, *, example: str) -> list[str]:
    """Words and commas; refuses invisible characters and over-long text."""
    char = invisible(raw)
    if char is not None:
        raise Refusal(say.grammar.control_character(ord(char)), example=example)
    stripped = plain(raw).strip()
    if len(stripped) > MAX_TEXT:
        raise Refusal(say.grammar.too_long(len(stripped), MAX_TEXT), example=example)
    return _TOKEN.findall(stripped)


def without_courtesy(tokens: list[str], catalog: Catalog, *, question: bool = True) -> list[str]:
    """The words of the request without a leading `/ops` and the politeness around it:
    `please`, `kindly`, `can you`, `hey opsbot,` before it; `please`, `thanks`, `thank you!`
    (and a comma before them) after it, and the `?` that ends it (`can you reboot web-01?`,
    `please reboot web-01?`: a request asked, proposed and confirmed by a click) unless
    `question` is False (a freeze's glob, `unfreeze db-0?`)."""
    start, end, last = _courtesy(tokens, catalog, question=question)
    words = tokens[start:end]
    if last is not None:
        words[-1] = last
    return words


def request_start(text: str, catalog: Catalog) -> int:
    """Where in `text` the request begins, past the politeness before it (`please plan
    reboot …`: at `plan`). A character read nowhere there keeps it: the whole text is read."""
    spans = [(m.start(), m.group()) for m in _TOKEN.finditer(text)]
    start, _, _ = _courtesy([word for _, word in spans], catalog)
    if start >= len(spans) or invisible(text[: spans[start][0]]) is not None:
        return 0
    return spans[start][0]


def _courtesy(
    tokens: list[str], catalog: Catalog, *, question: bool = True
) -> tuple[int, int, str | None]:
    """Where the request lies among the words: its first word, the one after its last, and
    that last word without the question's `?` if one was taken off (else None).

    Only whole words are taken, and never a word that is read as something there: the
    operation's keyword, or a value, which is read as typed (`label web-01 as please`)."""
    # The slash command typed out (the console, a pasted line): read past here, once, so
    # `/ops plan …` and `/ops freeze …` start where `plan …` and `freeze …` do.
    start = 1 if tokens and tokens[0].lower() == SLASH_COMMAND else 0
    while start < len(tokens) and catalog.by_keyword(tokens[start]) is None:
        word = tokens[start].lower()
        after = tokens[start + 1].lower() if start + 1 < len(tokens) else ""
        if word in GREETINGS:
            start += 2 if after in BOT_NAMES else 1
        elif word in PLEASE or (word == "," and start):
            start += 1
        elif word in ASKING and after in YOU:
            start += 2
        else:
            break
    values = {f.word for k in catalog.kinds for f in k.fields if f.kind == "value"}

    def a_value(at: int) -> bool:
        return at > start and tokens[at - 1].lower() in values

    end, last = len(tokens), None
    while end > start and not a_value(end - 1):
        word = tokens[end - 1] if last is None else last
        if question and word.endswith(QUESTION_MARK) and not is_quoted(word):
            last = word.rstrip(QUESTION_MARK) or None
            if last is None:  # "?" on its own
                end -= 1
            continue
        bare = word.lower().rstrip(COURTESY_ENDS)
        if bare in THANKS:
            end -= 1
        elif bare in YOU and end - 2 >= start and tokens[end - 2].lower() == THANK:
            if a_value(end - 2):
                break
            end -= 2
        else:
            break
        last = None
        if end > start and tokens[end - 1] == ",":
            end -= 1
    return start, end, last


def _list(args: list[str]) -> ListQuery:
    """`list`, `list page 2`, `list server-01`."""
    if not args:
        return ListQuery()
    if args[0].lower() == PAGE_WORD:
        return ListQuery(page=_page_number(args[1:]))
    device = unquoted(args[0])
    problem = check_device_name(device)
    if problem:
        raise Refusal(problem, example=say.grammar.EXAMPLE_LIST)
    if len(args) > 1 and args[1].lower() == PAGE_WORD:
        raise Refusal(say.grammar.list_device_page(device), example=say.grammar.EXAMPLE_LIST_PAGE)
    if len(args) > 1:
        raise Refusal(say.grammar.list_extra(" ".join(args[1:])), example=say.grammar.EXAMPLE_LIST)
    return ListQuery(device_name=device)


def _flags_first(tokens: list[str], catalog: Catalog) -> tuple[OperationKind | None, list[str]]:
    """`force reboot server-01`: flags written before the operation's keyword."""
    flags = {f.word for k in catalog.kinds for f in k.fields if f.kind == "flag"}
    lead = 0
    while lead < len(tokens) and tokens[lead].lower() in flags:
        lead += 1
    kind = catalog.by_keyword(tokens[lead]) if 0 < lead < len(tokens) else None
    if kind is None:
        return None, tokens[1:]
    return kind, [*tokens[:lead], *tokens[lead + 1 :]]


def _cancel(word: str, args: list[str]) -> Refusal:
    """The API cannot cancel a scheduled operation: say so, and what can be done instead."""
    written = unquoted(args[0]) if len(args) == 1 else ""
    typed = written if _OPERATION_ID.fullmatch(written) else None
    example = f"status {typed}" if typed else say.grammar.EXAMPLE_STATUS
    return Refusal(say.grammar.cannot_cancel(word.lower(), typed), example=example)


def _page_number(args: list[str]) -> int:
    if not args:
        raise Refusal(say.grammar.list_page_missing(), example=say.grammar.EXAMPLE_LIST_PAGE)
    word = args[0]
    digits = word.lstrip("0")
    if not (word.isascii() and word.isdigit()) or not digits:
        raise Refusal(
            say.grammar.list_page_not_a_number(word), example=say.grammar.EXAMPLE_LIST_PAGE
        )
    if len(digits) > len(str(MAX_LIST_PAGE)) or int(digits) > MAX_LIST_PAGE:
        raise Refusal(
            say.grammar.list_page_too_far(MAX_LIST_PAGE), example=say.grammar.EXAMPLE_LIST_PAGE
        )
    if len(args) > 1:
        raise Refusal(
            say.grammar.list_page_extra(" ".join(args[1:])), example=say.grammar.EXAMPLE_LIST_PAGE
        )
    return int(digits)


def _status(args: list[str]) -> StatusQuery:
    if not args:
        raise Refusal(say.grammar.status_missing(), example=say.grammar.EXAMPLE_STATUS)
    operation_id = unquoted(args[0])
    if not _OPERATION_ID.fullmatch(operation_id):
        raise Refusal(
            say.grammar.status_bad_id(args[0], MAX_OPERATION_ID), example=say.grammar.EXAMPLE_STATUS
        )
    if len(args) > 1:
        raise Refusal(
            say.grammar.status_extra(" ".join(args[1:])), example=say.grammar.EXAMPLE_STATUS
        )
    return StatusQuery(operation_id=operation_id)


def _operation(
    kind: OperationKind,
    args: list[str],
    reading: Reading,
    *,
    tz: str,
    now: datetime,
    naming: Naming,
) -> Plan:
    catalog = reading.catalog
    reserved = RESERVED | catalog.words()
    # Never offered as a name in a suggestion: the words of the command and of its sentence.
    not_names = reserved | {k.keyword for k in catalog.kinds}
    # Waves first: `10 at a time` would otherwise read "10" as a device, and `with a canary`
    # as packages of an update.
    args, wave_size, canary = _take_waves(kind, args)
    _refuse_foreign_options(kind, args, catalog)
    values: dict[str, object] = {}
    rest, raw_durations, value_problems = _take_options(kind, args, values)

    notes: list[str] = []
    connector: str | None = None
    name_field = next((f for f in kind.fields if f.kind == "name"), None)
    if name_field is not None:
        try:
            chosen, rest, connector = _take_name(
                kind, name_field, rest, values, reserved, reading, not_names
            )
        except Refusal as refused:
            # "set <path> to": the value is what the person stopped at, so say that first;
            # the example, with the devices still missing, is complete.
            ended = [v for w, (v, _) in value_problems.items() if _ends_with_word(kind, w, args)]
            if ended:
                raise Refusal(ended[0], example=refused.example) from None
            raise
        values[name_field.name], notes = _dedupe(chosen)

    list_field = next((f for f in kind.fields if f.kind == "name_list"), None)
    if rest and rest[0].lower() == ARTICLE:
        rest = rest[1:]  # "reboot the server-01"
    if rest and rest[0].lower() in GROUP_WORDS:
        raise _group_refusal(kind, rest, 0, values, list_field, reserved, naming)
    check_device = _device_checker(naming)
    try:
        names, after_names = _take_names(
            rest, what=say.grammar.WHAT_DEVICE, check=check_device, reserved=reserved
        )
    except _Invalid as error:
        fix = _fixed_device_word(rest, naming)
        raise Refusal(error.reason, example=reading.mended(fix) or kind.example) from None
    group = next((i for i, name in enumerate(names) if name.lower() in GROUP_WORDS), None)
    if group is not None:
        at = next(i for i, word in enumerate(rest) if unquoted(word) == names[group])
        raise _group_refusal(kind, rest, at, values, list_field, reserved, naming)
    rest = after_names
    if not names:
        after = " ".join(_head(kind, values))
        found = rest[0] if rest and rest[0] not in SEPARATORS else None
        if found is not None and found.lower() in SENTENCE_WORDS | COURTESY_WORDS:
            raise Refusal(
                say.grammar.missing_devices_not_a_name(after, found), example=kind.example
            )
        raise Refusal(say.grammar.missing_devices(after, found), example=kind.example)
    # The blast radius first: a request naming too many devices is refused with their count
    # before any other question is asked of it.
    try:
        devices, device_notes = _expand(names, naming)
    except _Invalid as error:
        raise Refusal(error.reason, example=kind.example) from None
    notes = [*device_notes, *notes]
    too_many = _too_many(kind, devices, values, naming.limits)
    if too_many:
        raise Refusal(too_many, example=kind.example)

    for f in kind.fields:
        if f.name in raw_durations:
            written = raw_durations[f.name]
            try:
                values[f.name] = _read_duration(f, " ".join(written))
            except _Invalid as error:
                fix = Fix(drop=tuple(written), new=(say.grammar.EXAMPLE_DURATION,))
                general = _command(kind, [], {f.name: say.grammar.EXAMPLE_DURATION})
                raise Refusal(error.reason, example=reading.mended(fix) or general) from None
        # Values are checked here, not where they were read, so the example keeps the devices.
        if f.name in value_problems:
            reason, fix = value_problems[f.name]
            raise Refusal(reason, example=reading.mended(fix) or kind.example)
        if f.kind == "value" and f.required and f.name not in values:
            reason = say.grammar.value_required(f.label, f.word, f.value_type, _value_sample(f))
            # before "on" as the syntax reads (`set <path> to 300 on …`), else after the devices
            where = connector or (rest[0] if rest else None)
            fix = Fix(at=where, new=(f.word, _value_sample(f)))
            raise Refusal(reason, example=reading.mended(fix) or kind.example)

    # The list the time phrase follows: an unreadable first word may be a name missing a comma.
    follows: ParamField | None = None
    lowered = [w.lower() for w in rest]
    if list_field is not None and list_field.word in lowered:
        start = lowered.index(list_field.word)
        values[list_field.name], after, item_notes = _take_list_field(
            kind, list_field, rest[start], rest[start + 1 :], reserved, reading
        )
        notes += item_notes
        rest = [*rest[:start], *after]
        follows = list_field if start == 0 else None
    elif list_field is not None and list_field.required:
        raise _list_missing(kind, list_field, rest, reading, not_names)

    phrase = " ".join(rest).replace(" ,", ",")
    try:
        resolved = resolve(phrase, tz=tz, now=now)
    except Refusal as error:
        word = rest[0]
        unread = isinstance(error, UnreadableTime)
        # "timeout 10 parsecs": a word right after a length's number is its unit, misspelled
        for f in kind.fields:
            written = raw_durations.get(f.name, [])
            if unread and written and next_to(written[-1], word) and word.isalpha():
                reason = say.grammar.duration_unreadable(f.label, " ".join([*written, word]))
                fix = Fix(drop=(*written, word), new=(say.grammar.EXAMPLE_DURATION,))
                general = _command(kind, [], {f.name: say.grammar.EXAMPLE_DURATION})
                raise Refusal(reason, example=reading.mended(fix) or general) from None
        # else it may be one more name, missing its comma
        check = check_device if follows is None else _item_checker(follows)
        comma = (
            reading.mended(Fix(at=word, new=(",",)))
            if unread and _looks_like_name(word, check, not_names)
            else None
        )
        if comma and follows is None:
            raise Refusal(say.grammar.not_time_maybe_device(phrase, word), example=comma) from None
        if comma and follows is not None:
            reason = say.grammar.not_time_maybe_item(phrase, word, follows.label)
            raise Refusal(reason, example=comma) from None
        # The time put right, the rest of the line kept, unless that loses a device
        # (`web-09 at 1400`), or the day or zone the time was for without saying another
        # (`tomorrow at 24:00` put as `at 14:00` would run today): a general example then.
        put = error.example.split()
        keeps = not any(_names_a_device(w, check, not_names) for w in rest) and (
            not any(says_which_day_or_zone(w) for w in rest)
            or any(says_which_day_or_zone(w) or w.lower() == "now" for w in put)
        )
        fix = Fix(drop=tuple(rest), new=tuple(error.example.split())) if keeps else None
        raise Refusal(error.reason, example=reading.mended(fix) or kind.example) from None
    plan = _plan(kind, devices, values, resolved, tz=tz, notes=notes)
    if not wave_size and not canary:
        return plan
    extra = (
        ()
        if len(split(devices, size=wave_size, canary=canary)) > 1
        else (say.waves.one_wave(len(devices)),)
    )
    return replace(plan, wave_size=wave_size, canary=canary, notes=(*plan.notes, *extra))


# `in waves of 10`, `10 at a time` (`10 devices at a time`), `with a canary`.
WAVES_OF = ("in", "waves", "of")
AT_A_TIME = ("at", "a", "time")
CANARY = ("with", "a", "canary")
DEVICE_WORDS = frozenset({"device", "devices"})
MAX_WAVE_DIGITS = 6  # a wave wider than any request is one wave: read no further


def _take_waves(kind: OperationKind, args: list[str]) -> tuple[list[str], int | None, bool]:
    """The words left once the wave phrases are taken out, the wave size (None: not asked)
    and whether a canary goes first. A size that is not a whole number of at least one, or
    two sizes, is refused with a correct example."""
    lowered = [a.lower() for a in args]
    kept: list[str] = []
    sizes: list[int] = []
    canary = False
    i = 0
    while i < len(args):
        if tuple(lowered[i : i + 3]) == WAVES_OF:
            number = lowered[i + 3] if i + 3 < len(args) else ""
            sizes.append(_wave_size(kind, " ".join(args[i : i + 4]), number))
            i += 4
            if i < len(args) and lowered[i] in DEVICE_WORDS:
                i += 1
            continue
        if tuple(lowered[i : i + 2]) == ("in", "waves"):
            raise Refusal(
                say.waves.waves_need_size(" ".join(args[i : i + 3])), example=_waves_example(kind)
            )
        skip = 2 if i + 1 < len(args) and lowered[i + 1] in DEVICE_WORDS else 1
        if _INTEGER.fullmatch(lowered[i]) and tuple(lowered[i + skip : i + skip + 3]) == AT_A_TIME:
            sizes.append(_wave_size(kind, " ".join(args[i : i + skip + 3]), lowered[i]))
            i += skip + 3
            continue
        if tuple(lowered[i : i + 3]) == CANARY:
            canary = True
            i += 3
            continue
        kept.append(args[i])
        i += 1
    if len(sizes) > 1:
        raise Refusal(say.waves.two_wave_sizes(sizes), example=_waves_example(kind))
    return kept, (sizes[0] if sizes else None), canary


def _wave_size(kind: OperationKind, phrase: str, number: str) -> int:
    if not (number.isascii() and number.isdigit()):
        raise Refusal(say.waves.wave_size_not_a_number(phrase), example=_waves_example(kind))
    digits = number.lstrip("0")
    if not digits:
        raise Refusal(say.waves.wave_size_zero(phrase), example=_waves_example(kind))
    return int(digits[:MAX_WAVE_DIGITS]) if len(digits) <= MAX_WAVE_DIGITS else 10**MAX_WAVE_DIGITS


def _waves_example(kind: OperationKind) -> str:
    return say.grammar.EXAMPLE_WAVES


def _device_checker(naming: Naming) -> Callable[[str], str | None]:
    """The check of one word where devices go: a device's name, a range or a group (`@web`).
    A range wider than the limit is refused here, with its count, before it is expanded."""
    groups = [GROUP_SIGIL + name for name in naming.groups]

    def check(word: str) -> str | None:
        if is_group(word):
            if word[1:].lower() in naming.groups:
                return None
            return say.grammar.unknown_group(word, groups)
        meant = with_two_dots(word)
        if meant is not None:
            return say.grammar.range_ellipsis(word, meant)
        if is_range(word):
            try:
                found = read_range(word)
            except BadRange as error:
                return error.reason
            if found.count > naming.limits.max_devices:
                return say.grammar.range_too_wide(word, found.count, naming.limits.max_devices)
            return check_device_name(found.name(found.first)) or check_device_name(
                found.name(found.last)
            )
        members = naming.groups.get(word.lower())
        if members is not None:
            # "reboot web" with a group called web: say which is meant rather than guess.
            return say.grammar.group_without_sigil(word, GROUP_SIGIL + word.lower(), len(members))
        return check_device_name(word)

    return check


def _fixed_device_word(words: list[str], naming: Naming) -> Fix | None:
    """The first range or group in `words` that does not read, put as it was surely meant:
    `server-01..server-20` for `server-20..server-01` (the same two ends), `@web` for `web`.
    Not a guess: a range whose ends differ (`web-01..db-05`, `server-1..server-010`) or a
    group spelled close to one (`@webs`) names other devices, so it gets a general example.
    Quotes around a name are read, but the fix replaces the word as it was typed."""
    for typed in words:
        word = unquoted(typed)
        meant = with_two_dots(word)
        if meant is not None:  # server-01…20: the same range, with two dots
            return Fix(drop=(typed,), new=(meant,))
        if is_range(word):
            try:
                read_range(word)
            except BadRange as error:
                if error.example and _range_ends(error.example) == _range_ends(word):
                    return Fix(drop=(typed,), new=(error.example,))
                return None
        elif word.lower() in naming.groups:
            return Fix(drop=(typed,), new=(GROUP_SIGIL + word.lower(),))
        elif is_group(word) and word[1:].lower() not in naming.groups:
            return None
    return None


def _range_ends(word: str) -> set[str]:
    """The two device names a range is written with (`server-20..8`: server-20 and server-8)."""
    left, _, right = word.partition(RANGE_MARK)
    if right.isascii() and right.isdigit():
        right = left.rstrip(string.digits) + right
    return {left.lower(), right.lower()}


def _expand(written: list[str], naming: Naming) -> tuple[list[str], list[str]]:
    """Each device that `written` names (ranges and groups expanded), once, as first written,
    and notes: each group's members, and the devices named more than once."""
    if not any(is_range(word) or is_group(word) for word in written):
        return _dedupe(written)
    limit = naming.limits.max_devices
    counts = [
        read_range(w).count
        if is_range(w)
        else len(naming.groups[w[1:].lower()])
        if is_group(w)
        else 1
        for w in written
    ]
    if sum(counts) > limit * REPEATS_READ:
        raise _Invalid(say.grammar.too_many_names(sum(counts), limit))
    named: list[tuple[str, bool]] = []  # each device, and whether a range or group named it
    notes: dict[str, str] = {}
    for word in written:
        if is_range(word):
            named += [(name, True) for name in read_range(word).names()]
        elif is_group(word):
            group = GROUP_SIGIL + word[1:].lower()
            members = naming.groups[word[1:].lower()]
            named += [(name, True) for name in members]
            shown = _compact(members, GROUP_NOTE_SHOWN)
            notes.setdefault(group, say.grammar.group_members(group, len(members), shown))
        else:
            named.append((word, False))
    spellings: dict[str, list[tuple[str, bool]]] = {}
    for name, expanded in named:
        spellings.setdefault(name.lower(), []).append((name, expanded))
    again: list[str] = []
    for written_as in spellings.values():
        if len(written_as) == 1:
            continue
        if any(expanded for _, expanded in written_as):
            again.append(written_as[0][0])
        else:  # the same name typed twice: said as it is without ranges
            names = [name for name, _ in written_as]
            others = sorted(set(names[1:]) - {names[0]})
            notes[names[0].lower()] = say.grammar.duplicate(names[0], len(names), others=others)
    if again:
        notes[""] = say.grammar.named_again(len(again), _compact(again, GROUP_NOTE_SHOWN))
    return [written_as[0][0] for written_as in spellings.values()], list(notes.values())


def _compact(names: Sequence[str], limit: int) -> str:
    """`web-01..web-12, lb-01`: the names with runs as ranges, as many as fit in `limit`."""
    shown: list[str] = []
    spent = 0
    pieces = compressed(names)
    for index, piece in enumerate(pieces):
        if shown and spent + len(piece) + 2 > limit:
            return ", ".join([*shown, say.track.more_items(len(pieces) - index)])
        shown.append(piece)
        spent += len(piece) + 2
    return ", ".join(shown)


def _group_refusal(
    kind: OperationKind,
    words: list[str],
    at: int,
    values: dict[str, object],
    list_field: ParamField | None,
    reserved: frozenset[str],
    naming: Naming,
) -> Refusal:
    """`reboot all servers`: there are no groups of devices, so each must be named."""
    shown = words[at : at + 2]
    if len(shown) == 2 and (not shown[1].isalpha() or shown[1].lower() in reserved):
        shown = shown[:1]
    example_values = dict(values)
    lowered = [w.lower() for w in words]
    if list_field is not None and list_field.word in lowered:
        after = words[lowered.index(list_field.word) + 1 :]
        try:
            items, _ = _take_names(
                after, what=list_field.label, check=_item_checker(list_field), reserved=reserved
            )
        except _Invalid:
            items = []
        if items:
            example_values[list_field.name] = items
    example = _command(kind, list(say.grammar.EXAMPLE_DEVICES), example_values)
    groups = [GROUP_SIGIL + name for name in naming.groups]
    return Refusal(say.grammar.no_device_groups(" ".join(shown), groups), example=example)


def _list_missing(
    kind: OperationKind,
    f: ParamField,
    rest: list[str],
    reading: Reading,
    not_names: frozenset[str],
) -> Refusal:
    """`update server-03`: a required list left out; an empty one would mean nobody knows what."""
    if rest and _looks_like_name(rest[0], _item_checker(f), not_names):
        example = reading.mended(Fix(at=rest[0], new=(f.word,)))  # "update server-03 curl"
        if example:
            return Refusal(say.grammar.list_word_missing(rest[0], f.word, f.label), example=example)
    example = reading.mended(Fix(at=rest[0] if rest else None, new=(f.word, _sample(f))))
    reason = say.grammar.list_required(f.label, f.word, kind.keyword)
    return Refusal(reason, example=example or kind.example)


def _too_many(
    kind: OperationKind, devices: list[str], values: dict[str, object], limits: Limits
) -> str | None:
    """Why these devices (× services) are more operations than one request may make, if so."""
    if len(devices) > limits.max_devices:
        return say.grammar.too_many_devices(len(devices), limits.max_devices)
    if len(devices) > limits.max_operations:
        return say.grammar.too_many_devices(len(devices), limits.max_operations)
    for f in kind.fields:
        chosen = values.get(f.name)
        if f.kind == "name" and isinstance(chosen, list) and len(chosen) > 1:
            count = len(chosen) * len(devices)
            if count > limits.max_operations:
                return say.grammar.too_many_operations(
                    count, len(chosen), f.label, len(devices), limits.max_operations
                )
    return None


def _refuse_foreign_options(kind: OperationKind, args: list[str], catalog: Catalog) -> None:
    """`restart nginx on web-01 force`: force belongs to reboot; say so rather than "not a time"."""
    own = {f.word for f in kind.fields if f.word}
    value_words = {f.word for f in kind.fields if f.kind == "value"}
    foreign = catalog.words() - own
    for i, word in enumerate(args):
        # "set … to force": what follows a value's word is the value, whatever it spells
        if word.lower() in foreign and not (i and args[i - 1].lower() in value_words):
            options = sorted(f.word for f in kind.fields if f.word and f.kind != "name")
            raise Refusal(
                say.grammar.not_an_option(kind.keyword, word, options), example=kind.example
            )


def _ends_with_word(kind: OperationKind, name: str, args: list[str]) -> bool:
    """Is the last word typed the word of the field called `name`?"""
    return bool(args) and any(f.name == name and f.word == args[-1].lower() for f in kind.fields)


def _take_options(
    kind: OperationKind, args: list[str], values: dict[str, object]
) -> tuple[list[str], dict[str, list[str]], dict[str, tuple[str, Fix | None]]]:
    """Removes flags (`force`), durations (`timeout 10m`) and values (`to 300`), which may
    appear anywhere.

    Flags and values that read are set in `values`; durations come back unread, as their
    words, and what is wrong with a value as a reason by field name, with the mend to
    suggest, to be told once the devices are known.
    """
    flags = {f.word: f for f in kind.fields if f.kind == "flag"}
    durations = {f.word: f for f in kind.fields if f.kind == "duration"}
    value_fields = {f.word: f for f in kind.fields if f.kind == "value"}
    rest: list[str] = []
    raw: dict[str, list[str]] = {}
    problems: dict[str, tuple[str, Fix | None]] = {}
    i = 0
    while i < len(args):
        word = args[i].lower()
        if word in flags:
            values[flags[word].name] = True
            i += 1
        elif word in value_fields:
            f = value_fields[word]
            word_typed = args[i]
            i += 1
            after = [w.lower() for w in args[i : i + 2]]
            # "to on web-01": "on" begins the devices, so it is not the value
            # (but in "to on on web-01" the first "on" can only be the value).
            begins_devices = after[:1] == [CONNECTOR] and after[1:2] != [CONNECTOR]
            has_value = bool(after) and after[0] not in SEPARATORS and not begins_devices
            problem = ""
            # which value the person meant is clear only if they wrote it once, readably
            fix: Fix | None = Fix(after=word_typed, new=(_value_sample(f),))
            if f.name in values or f.name in problems:
                problem, fix = say.grammar.given_twice(f.word), None
            elif begins_devices and f.value_type == "boolean":
                problem = say.grammar.value_not_boolean(f.label, args[i])
                fix = Fix(after=word_typed, new=(_BOOLEAN_WORDS[CONNECTOR],))
            elif not has_value:
                problem = say.grammar.value_missing(f.word, f.value_type, _value_sample(f))
            else:
                try:
                    values[f.name] = _read_value(f, args[i], quoted=True)
                except _Invalid as error:
                    problem = error.reason
                    meant = _value_sample(f)
                    if f.value_type == "boolean":
                        meant = _BOOLEAN_WORDS.get(args[i].lower(), meant)
                    fix = Fix(drop=(args[i],), new=(meant,))
            if problem:
                problems[f.name] = (problem, fix)
            i += has_value
        elif word in durations:
            f = durations[word]
            example = _command(kind, [], {f.name: say.grammar.EXAMPLE_DURATION})
            if f.name in raw:
                raise Refusal(say.grammar.given_twice(f.word), example=example)
            if i + 1 >= len(args) or args[i + 1] in SEPARATORS:
                raise Refusal(say.grammar.missing_value(f.word), example=example)
            written = [args[i + 1]]
            i += 2
            # "timeout 10 min": the unit as a word of its own
            if (
                written[0].isascii()
                and written[0].isdigit()
                and i < len(args)
                and args[i].lower() in _DURATION_UNITS
            ):
                written.append(args[i])
                i += 1
            raw[f.name] = written
        else:
            rest.append(args[i])
            i += 1
    return rest, raw, problems


def _take_name(
    kind: OperationKind,
    f: ParamField,
    rest: list[str],
    values: dict[str, object],
    reserved: frozenset[str],
    reading: Reading,
    not_names: frozenset[str],
) -> tuple[list[str], list[str], str]:
    """`[the] [service] nginx[, apache] [service(s)] on`: the names, the words after "on",
    and the "on" itself."""
    words = {f.word, f"{f.word}s"} if f.word else set()
    i = 1 if rest and rest[0].lower() == ARTICLE else 0
    if i + 1 < len(rest) and rest[i].lower() in words and rest[i + 1].lower() != CONNECTOR:
        i += 1  # "restart service on ..." is a service called "service"
    tokens = rest[i:]
    if not tokens or _reserved(tokens[0], reserved) or tokens[0] in SEPARATORS:
        raise Refusal(say.grammar.missing_name(f.label, kind.keyword), example=kind.example)
    try:
        names, after = _take_names(
            tokens, what=f.label.lower(), check=_item_checker(f), reserved=reserved
        )
    except _Invalid as error:
        raise Refusal(error.reason, example=kind.example) from None
    if after and after[0].lower() in words:
        after = after[1:]
    if after and after[0].lower() == CONNECTOR:
        return names, after[1:], after[0]
    raise _connector_missing(kind, f, {**values, f.name: names}, after, reading, not_names)


def _connector_missing(
    kind: OperationKind,
    f: ParamField,
    values: dict[str, object],
    after: list[str],
    reading: Reading,
    not_names: frozenset[str],
) -> Refusal:
    """`restart nginx server-01`, `restart nginx apache on server-02`, `restart nginx`,
    `set <path> 300 on cpe-01`."""
    names = values[f.name]
    # with no device of the person's, the example names one of its own (server-01)
    general = _command(kind, [], values)
    if not after:
        return Refusal(
            say.grammar.connector_missing_at_end(_joined(names), CONNECTOR), example=general
        )
    word = after[0]
    lowered = [w.lower() for w in after]
    if lowered[1:2] == [CONNECTOR]:
        # "set <path> 300 on cpe-01": a value, missing the word that says which
        for value_field in kind.fields:
            if value_field.kind == "value" and value_field.name not in values:
                try:
                    _read_value(value_field, word, quoted=True)
                except _Invalid:
                    continue
                example = reading.mended(Fix(at=word, new=(value_field.word,)))
                if example:
                    reason = say.grammar.value_word_missing(
                        word, value_field.word, value_field.label
                    )
                    return Refusal(reason, example=example)
    if CONNECTOR in lowered and _looks_like_name(word, _item_checker(f), not_names):
        # "restart nginx apache on server-02": one more service, missing its comma
        example = reading.mended(Fix(at=word, new=(",",)))
        if example:
            return Refusal(say.grammar.not_connector_maybe_item(word, f.label), example=example)
    example = None
    if _looks_like_name(word, check_device_name, not_names):
        example = reading.mended(Fix(at=word, new=(CONNECTOR,)))  # "restart nginx server-01"
    return Refusal(say.grammar.connector_missing(CONNECTOR, f.label), example=example or general)


def _take_list_field(
    kind: OperationKind,
    f: ParamField,
    word: str,
    tokens: list[str],
    reserved: frozenset[str],
    reading: Reading,
) -> tuple[list[str], list[str], list[str]]:
    """`with curl, openssl`: the names (deduplicated), the words after them, and notes.
    `word` is the list's word as typed (`with`)."""
    try:
        items, after = _take_names(
            tokens, what=f.label.lower(), check=_item_checker(f), reserved=reserved
        )
    except _Invalid as error:
        raise Refusal(error.reason, example=kind.example) from None
    if not items:
        example = reading.mended(Fix(after=word, new=(_sample(f),)))
        raise Refusal(say.grammar.missing_list(f.word, f.label), example=example or kind.example)
    items, notes = _dedupe(items)
    return items, after, notes


def _take_names(
    tokens: list[str], *, what: str, check: Callable[[str], str | None], reserved: frozenset[str]
) -> tuple[list[str], list[str]]:
    """Names separated by commas and/or "and" at the start of `tokens`, and the words after.

    The list ends at the first word after a name that is not a separator; a separator
    must be followed by a name.
    """
    names: list[str] = []
    i = 0
    if not tokens or _reserved(tokens[0], reserved) or tokens[0] in SEPARATORS:
        return names, tokens
    while True:
        name = unquoted(tokens[i])  # “server-01”: see bot/understand/typed.py
        problem = check(name)
        if problem:
            raise _Invalid(problem)
        names.append(name)
        i += 1
        if i >= len(tokens) or tokens[i].lower() not in SEPARATORS:
            return names, tokens[i:]
        separator = tokens[i]
        while i < len(tokens) and tokens[i].lower() in SEPARATORS:
            i += 1
        if i >= len(tokens) or _reserved(tokens[i], reserved):
            raise _Invalid(say.grammar.missing_after_separator(separator, what))


def _reserved(word: str, reserved: frozenset[str]) -> bool:
    return word.lower() in reserved or bool(_CLOCK_WORD.fullmatch(word.lower()))


def _dedupe(names: list[str]) -> tuple[list[str], list[str]]:
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


def _names_a_device(
    word: str, check: Callable[[str], str | None], not_names: frozenset[str]
) -> bool:
    """Does `word` surely name a device (`web-09`, `cpe.eu`: letters with digits or
    punctuation), not a word of a time phrase (`idle`, `end`, `9.30`)?"""
    return _looks_like_name(word, check, not_names) and any(c.isdigit() or c in "-._" for c in word)


def _looks_like_name(
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


def _joined(names: object) -> str:
    return ", ".join(names) if isinstance(names, list | tuple) else str(names)


def _sample(f: ParamField) -> str:
    """A name to show in an example for a list the person left out."""
    return f.placeholder.split(",")[0].strip() or say.grammar.EXAMPLE_NAME


def _item_checker(f: ParamField) -> Callable[[str], str | None]:
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
    if _reserved(name, RESERVED):
        return say.grammar.name_reserved(what, name)
    return None


def _read_duration(f: ParamField, raw: str) -> int:
    lowered = raw.strip().lower()
    if lowered.startswith("-") and _DURATION.fullmatch(lowered[1:]):
        raise _Invalid(say.grammar.duration_not_positive(f.label, raw))
    match = _DURATION.fullmatch(lowered)
    if not match or match[2] not in _DURATION_UNITS:
        raise _Invalid(say.grammar.duration_unreadable(f.label, raw))
    # More digits than the longest duration has is too long, whatever the unit: not read as a
    # number, which past 4,300 digits Python refuses with a ValueError.
    if len(match[1].lstrip("0")) > len(str(MAX_DURATION)):
        raise _Invalid(say.grammar.duration_too_long(f.label, raw, MAX_DURATION))
    return _check_duration(f, int(match[1]) * _DURATION_UNITS[match[2]], raw)


def _check_duration(f: ParamField, seconds: int, shown: str) -> int:
    if seconds <= 0:
        raise _Invalid(say.grammar.duration_not_positive(f.label, shown))
    if seconds > MAX_DURATION:
        raise _Invalid(say.grammar.duration_too_long(f.label, shown, MAX_DURATION))
    return seconds


def _read_value(f: ParamField, raw: str, *, quoted: bool) -> object:
    """A value of `f.value_type`; `quoted` when quotes are the text's (`to "two words"`)
    rather than part of what was typed in the modal's field."""
    if f.value_type == "string":
        if quoted and raw[:1] in _QUOTES:
            if len(raw) < 2 or raw[-1] != _QUOTES[raw[0]]:
                raise _Invalid(say.grammar.value_unclosed_quote(f.label))
            raw = raw[1:-1]
        if len(raw) > MAX_VALUE:
            raise _Invalid(say.grammar.value_too_long(f.label, MAX_VALUE))
        return raw
    lowered = raw.strip().lower()
    if f.value_type == "boolean":
        if lowered not in _BOOLEANS:
            raise _Invalid(say.grammar.value_not_boolean(f.label, raw))
        return _BOOLEANS[lowered]
    if f.value_type == "integer" and not _INTEGER.fullmatch(lowered):
        raise _Invalid(say.grammar.value_not_whole(f.label, _value_sample(f)))
    if f.value_type == "number" and not _DECIMAL.fullmatch(lowered):
        raise _Invalid(say.grammar.value_not_number(f.label, _value_sample(f)))
    digits = lowered.lstrip("+-").split(".")[0]
    if len(digits.lstrip("0")) > len(str(MAX_INTEGER)) or abs(int(digits or "0")) > MAX_INTEGER:
        raise _Invalid(say.grammar.value_too_large(f.label, MAX_INTEGER))
    # Below MAX_INTEGER a float is finite; a whole number stays an int, as it was written.
    return float(lowered) if "." in lowered else int(lowered)


def _value_sample(f: ParamField) -> str:
    """A value to show in an example: the placeholder if it is one, else one of its type."""
    sample = f.placeholder.strip()
    # Checked here by hand: _read_value's messages show this sample, so it can't ask them.
    short = len(sample.lstrip("+-").split(".")[0]) < len(str(MAX_INTEGER))
    fits = {
        "string": bool(sample) and len(sample) <= MAX_VALUE,
        "integer": bool(_INTEGER.fullmatch(sample)) and short,
        "number": bool(_DECIMAL.fullmatch(sample)) and short,
        "boolean": sample.lower() in _BOOLEANS,
    }
    if not fits[f.value_type]:
        return say.grammar.EXAMPLE_VALUES[f.value_type]
    return _shown_value(sample) if f.value_type == "string" else sample


def _shown_value(value: object) -> str:
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


def _command(kind: OperationKind, devices: list[str], values: dict[str, object]) -> str:
    """The command text for these values: the refusal examples are built with it."""
    parts = _head(kind, values)
    parts.append(", ".join(devices) or say.grammar.EXAMPLE_DEVICE)
    has_name = any(f.kind == "name" for f in kind.fields)
    for f in kind.fields:
        value = values.get(f.name)
        if f.kind == "name_list" and (value or f.required):
            parts += [f.word, _joined(value or [_sample(f)])]
        elif f.kind == "flag" and value is True:
            parts.append(f.word)
        elif f.kind == "duration" and value is not None and value != f.default:
            parts += [f.word, str(value)]
        elif f.kind == "value" and not has_name:
            parts += _value_words(f, values)
    return " ".join(parts)


def _head(kind: OperationKind, values: dict[str, object]) -> list[str]:
    """The words before the devices: `reboot`, `restart nginx on`, `set <path> to 300 on`."""
    name_field = next((f for f in kind.fields if f.kind == "name"), None)
    if name_field is None:
        return [kind.keyword]
    parts = [kind.keyword, _joined(values.get(name_field.name) or _sample(name_field))]
    # As the syntax reads: the value between the name and the devices it is set on.
    for f in kind.fields:
        if f.kind == "value":
            parts += _value_words(f, values)
    return [*parts, CONNECTOR]


def _value_words(f: ParamField, values: dict[str, object]) -> list[str]:
    if f.name in values:
        return [f.word, _shown_value(values[f.name])]
    return [f.word, _value_sample(f)] if f.required else []


def _plan(
    kind: OperationKind,
    devices: list[str],
    values: dict[str, object],
    resolved: When,
    *,
    tz: str,
    notes: list[str],
) -> Plan:
    name_field = next((f for f in kind.fields if f.kind == "name"), None)
    # One operation per device and name (restart nginx, apache on a, b): device by device,
    # each name in the order written.
    chosen = values.get(name_field.name) if name_field else None
    choices = list(chosen) if isinstance(chosen, list | tuple) else [chosen]
    operations = tuple(
        OperationSpec(
            device_name=str(device),
            operation_type=kind.operation_type,
            scheduled_at=resolved.at,
            parameters=_plain(  # no list shared between operations
                copy.deepcopy(
                    {
                        f.name: choice if f is name_field else values.get(f.name, f.default)
                        for f in kind.fields
                    }
                    | kind.fixed
                )
            ),
        )
        for device in devices
        for choice in choices
    )
    return Plan(
        operations=operations,
        notes=(*resolved.notes, *notes),
        tz=tz,
        immediate=resolved.immediate,
    )


def _plain(value: dict[str, object]) -> dict[str, object]:
    """Parameters as plain data: the words that knew their place (`Word`) as plain strings."""

    def plain(item: object) -> object:
        if isinstance(item, str):
            return str(item)
        if isinstance(item, list):
            return [plain(i) for i in item]
        return item

    return {name: plain(item) for name, item in value.items()}


# --- the modal ---


def _devices_from_text(
    raw: str, reserved: frozenset[str], naming: Naming
) -> tuple[list[str], list[str]]:
    try:
        tokens = _tokens(raw, example="")
    except Refusal as error:
        raise _Invalid(error.reason) from None
    names, rest = _take_names(
        tokens, what=say.grammar.WHAT_DEVICE, check=_device_checker(naming), reserved=reserved
    )
    group = next((name for name in [*names, *rest[:1]] if name.lower() in GROUP_WORDS), None)
    if group is not None:
        groups = [GROUP_SIGIL + name for name in naming.groups]
        raise _Invalid(say.grammar.no_device_groups(group, groups))
    if rest:
        raise _Invalid(say.grammar.leftover_devices(" ".join(rest)))
    if not names:
        raise _Invalid(say.grammar.devices_required())
    names, notes = _expand(names, naming)
    if len(names) > naming.limits.max_devices:
        raise _Invalid(say.grammar.too_many_devices(len(names), naming.limits.max_devices))
    return names, notes


def _field_value(f: ParamField, raw: object, reserved: frozenset[str]) -> tuple[object, list[str]]:
    """A modal value checked as the text grammar would check it."""
    if isinstance(raw, str):
        char = invisible(raw)
        if char is not None:  # as in a command: a value too, however it is sent
            raise _Invalid(say.grammar.field_control_character(ord(char)))
        raw = plain(raw).strip()
    if raw is None or (isinstance(raw, str | list | tuple) and not raw):
        if f.required:
            raise _Invalid(say.grammar.field_required(f.label))
        return copy.deepcopy(f.default), []
    if f.kind == "flag" and isinstance(raw, bool):
        return raw, []
    if f.kind == "duration" and isinstance(raw, int) and not isinstance(raw, bool):
        return _check_duration(f, raw, str(raw)), []
    if f.kind == "duration" and isinstance(raw, str):
        return _read_duration(f, raw), []
    if f.kind == "value":
        return _modal_value(f, raw), []
    check = _item_checker(f)
    if f.kind in ("name", "name_list") and isinstance(raw, str):
        try:
            tokens = _tokens(raw, example="")
        except Refusal as error:
            raise _Invalid(error.reason) from None
        items, rest = _take_names(tokens, what=f.label.lower(), check=check, reserved=reserved)
        if rest:
            raise _Invalid(say.grammar.leftover_items(" ".join(rest), f.label))
        return _dedupe(items)
    if f.kind in ("name", "name_list") and isinstance(raw, list | tuple):
        items = [str(item).strip() for item in raw]
        for item in items:
            problem = check(item)
            if problem:
                raise _Invalid(problem)
        return _dedupe(items)
    raise _Invalid(say.grammar.field_wrong_type(f.label))


def _modal_value(f: ParamField, raw: object) -> object:
    """A modal's value: typed text (the form's quotes are part of it), or already a value."""
    if isinstance(raw, str):
        return _read_value(f, raw, quoted=False)
    if f.value_type == "boolean" and isinstance(raw, bool):
        return raw
    if f.value_type in ("integer", "number") and isinstance(raw, int) and not isinstance(raw, bool):
        return _read_value(f, str(raw), quoted=False)
    if f.value_type == "number" and isinstance(raw, float) and math.isfinite(raw):
        return raw
    raise _Invalid(say.grammar.field_wrong_type(f.label))
