"""Command text (`/ops reboot server-01, server-02 at 14:00`) to a Command.

The operation and its devices are read first, word by word, from the catalog; only
what is left is handed to `when` as the time phrase.  Nothing is guessed: input that
does not fit is refused with the reason and a correct example.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime

from bot import say
from bot.model import Command, HelpQuery, OperationSpec, Plan, Refusal
from bot.understand.catalog import DEFAULT_CATALOG, Catalog, OperationKind, ParamField
from bot.understand.courtesy import COURTESY_WORDS, without_courtesy
from bot.understand.devices import (
    device_checker,
    expand,
    fixed_device_word,
    group_refusal,
    too_many_for,
)
from bot.understand.examples import command_head, example_command, joined, sample_name
from bot.understand.names import (
    ARTICLE,
    CONNECTOR,
    GROUP_WORDS,
    RESERVED,
    SENTENCE_WORDS,
    SEPARATORS,
    Invalid,
    check_device_name,
    dedupe,
    is_reserved,
    item_checker,
    looks_like_name,
    names_a_device,
    take_names,
)
from bot.understand.naming import DEFAULT_NAMING, Naming
from bot.understand.options import ends_with_word, refuse_foreign_options, take_options
from bot.understand.queries import CANCEL_WORDS, cancel_refusal, read_list, read_status
from bot.understand.suggestions import Fix, Reading, next_to, placed, refuse_several, renamed
from bot.understand.tokens import tokenize, with_unread
from bot.understand.typed import unquoted
from bot.understand.values import read_duration, read_value, value_sample
from bot.understand.wave_phrases import take_waves
from bot.understand.waves import split
from bot.understand.when import (
    UnreadableTime,
    When,
    resolve,
    says_which_day_or_zone,
    utc_now,
    zone_for,
)


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
        tokens = tokenize(text, example="")
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
    tokens = tokenize(text, example=catalog.kinds[0].example)
    try:
        return _read(tokens, tz=tz, now=now, catalog=catalog, naming=naming, suggest=suggest)
    except Refusal as refused:
        # The refusal as it is (a SeveralRequests keeps its commands), its reason told more.
        refused.reason = with_unread(refused.reason, tokens, _string_value_words(catalog))
        refused.args = (refused.reason,)
        raise


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
        return read_list(args)
    if word == "status":
        return read_status(args)
    tokens = placed(tokens)
    args = tokens[1:]
    kind = catalog.by_keyword(word)
    if kind is None:
        kind, args = _flags_first(tokens, catalog)
    if kind is None and word in CANCEL_WORDS:
        raise cancel_refusal(tokens[0], args)
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
    args, wave_size, canary = take_waves(kind, args)
    refuse_foreign_options(kind, args, catalog)
    values: dict[str, object] = {}
    rest, raw_durations, value_problems = take_options(kind, args, values)

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
            ended = [v for w, (v, _) in value_problems.items() if ends_with_word(kind, w, args)]
            if ended:
                raise Refusal(ended[0], example=refused.example) from None
            raise
        values[name_field.name], notes = dedupe(chosen)

    list_field = next((f for f in kind.fields if f.kind == "name_list"), None)
    if rest and rest[0].lower() == ARTICLE:
        rest = rest[1:]  # "reboot the server-01"
    if rest and rest[0].lower() in GROUP_WORDS:
        raise group_refusal(kind, rest, 0, values, list_field, reserved, naming)
    check_device = device_checker(naming)
    try:
        names, after_names = take_names(
            rest, what=say.grammar.WHAT_DEVICE, check=check_device, reserved=reserved
        )
    except Invalid as error:
        fix = fixed_device_word(rest, naming)
        raise Refusal(error.reason, example=reading.mended(fix) or kind.example) from None
    group = next((i for i, name in enumerate(names) if name.lower() in GROUP_WORDS), None)
    if group is not None:
        at = next(i for i, word in enumerate(rest) if unquoted(word) == names[group])
        raise group_refusal(kind, rest, at, values, list_field, reserved, naming)
    rest = after_names
    if not names:
        after = " ".join(command_head(kind, values))
        found = rest[0] if rest and rest[0] not in SEPARATORS else None
        if found is not None and found.lower() in SENTENCE_WORDS | COURTESY_WORDS:
            raise Refusal(
                say.grammar.missing_devices_not_a_name(after, found), example=kind.example
            )
        raise Refusal(say.grammar.missing_devices(after, found), example=kind.example)
    # The blast radius first: a request naming too many devices is refused with their count
    # before any other question is asked of it.
    try:
        devices, device_notes = expand(names, naming)
    except Invalid as error:
        raise Refusal(error.reason, example=kind.example) from None
    notes = [*device_notes, *notes]
    too_many = too_many_for(kind, devices, values, naming.limits)
    if too_many:
        raise Refusal(too_many, example=kind.example)

    for f in kind.fields:
        if f.name in raw_durations:
            written = raw_durations[f.name]
            try:
                values[f.name] = read_duration(f, " ".join(written))
            except Invalid as error:
                fix = Fix(drop=tuple(written), new=(say.grammar.EXAMPLE_DURATION,))
                general = example_command(kind, [], {f.name: say.grammar.EXAMPLE_DURATION})
                raise Refusal(error.reason, example=reading.mended(fix) or general) from None
        # Values are checked here, not where they were read, so the example keeps the devices.
        if f.name in value_problems:
            reason, fix = value_problems[f.name]
            raise Refusal(reason, example=reading.mended(fix) or kind.example)
        if f.kind == "value" and f.required and f.name not in values:
            reason = say.grammar.value_required(f.label, f.word, f.value_type, value_sample(f))
            # before "on" as the syntax reads (`set <path> to 300 on …`), else after the devices
            where = connector or (rest[0] if rest else None)
            fix = Fix(at=where, new=(f.word, value_sample(f)))
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
                general = example_command(kind, [], {f.name: say.grammar.EXAMPLE_DURATION})
                raise Refusal(reason, example=reading.mended(fix) or general) from None
        # else it may be one more name, missing its comma
        check = check_device if follows is None else item_checker(follows)
        comma = (
            reading.mended(Fix(at=word, new=(",",)))
            if unread and looks_like_name(word, check, not_names)
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
        keeps = not any(names_a_device(w, check, not_names) for w in rest) and (
            not any(says_which_day_or_zone(w) for w in rest)
            or any(says_which_day_or_zone(w) or w.lower() == "now" for w in put)
        )
        fix = Fix(drop=tuple(rest), new=tuple(error.example.split())) if keeps else None
        raise Refusal(error.reason, example=reading.mended(fix) or kind.example) from None
    plan = plan_for(kind, devices, values, resolved, tz=tz, notes=notes)
    if not wave_size and not canary:
        return plan
    extra = (
        ()
        if len(split(devices, size=wave_size, canary=canary)) > 1
        else (say.waves.one_wave(len(devices)),)
    )
    return replace(plan, wave_size=wave_size, canary=canary, notes=(*plan.notes, *extra))


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
    if not tokens or is_reserved(tokens[0], reserved) or tokens[0] in SEPARATORS:
        raise Refusal(say.grammar.missing_name(f.label, kind.keyword), example=kind.example)
    try:
        names, after = take_names(
            tokens, what=f.label.lower(), check=item_checker(f), reserved=reserved
        )
    except Invalid as error:
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
    general = example_command(kind, [], values)
    if not after:
        return Refusal(
            say.grammar.connector_missing_at_end(joined(names), CONNECTOR), example=general
        )
    word = after[0]
    lowered = [w.lower() for w in after]
    if lowered[1:2] == [CONNECTOR]:
        # "set <path> 300 on cpe-01": a value, missing the word that says which
        for value_field in kind.fields:
            if value_field.kind == "value" and value_field.name not in values:
                try:
                    read_value(value_field, word, quoted=True)
                except Invalid:
                    continue
                example = reading.mended(Fix(at=word, new=(value_field.word,)))
                if example:
                    reason = say.grammar.value_word_missing(
                        word, value_field.word, value_field.label
                    )
                    return Refusal(reason, example=example)
    if CONNECTOR in lowered and looks_like_name(word, item_checker(f), not_names):
        # "restart nginx apache on server-02": one more service, missing its comma
        example = reading.mended(Fix(at=word, new=(",",)))
        if example:
            return Refusal(say.grammar.not_connector_maybe_item(word, f.label), example=example)
    example = None
    if looks_like_name(word, check_device_name, not_names):
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
        items, after = take_names(
            tokens, what=f.label.lower(), check=item_checker(f), reserved=reserved
        )
    except Invalid as error:
        raise Refusal(error.reason, example=kind.example) from None
    if not items:
        example = reading.mended(Fix(after=word, new=(sample_name(f),)))
        raise Refusal(say.grammar.missing_list(f.word, f.label), example=example or kind.example)
    items, notes = dedupe(items)
    return items, after, notes


def _list_missing(
    kind: OperationKind,
    f: ParamField,
    rest: list[str],
    reading: Reading,
    not_names: frozenset[str],
) -> Refusal:
    """`update server-03`: a required list left out; an empty one would mean nobody knows what."""
    if rest and looks_like_name(rest[0], item_checker(f), not_names):
        example = reading.mended(Fix(at=rest[0], new=(f.word,)))  # "update server-03 curl"
        if example:
            return Refusal(say.grammar.list_word_missing(rest[0], f.word, f.label), example=example)
    example = reading.mended(Fix(at=rest[0] if rest else None, new=(f.word, sample_name(f))))
    reason = say.grammar.list_required(f.label, f.word, kind.keyword)
    return Refusal(reason, example=example or kind.example)


def plan_for(
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
