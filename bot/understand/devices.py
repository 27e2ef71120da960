"""Where a command's devices go: each word checked (a device's name, a range, an `@group`), a
range or group that does not read put as it was surely meant, the names expanded, each
device once, and counted against the policy's limits."""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence

from bot import say
from bot.model import Refusal
from bot.understand.catalog import OperationKind, ParamField
from bot.understand.examples import example_command
from bot.understand.names import Invalid, check_device_name, dedupe, item_checker, take_names
from bot.understand.naming import (
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
from bot.understand.suggestions import Fix
from bot.understand.typed import unquoted

# Ranges and groups may repeat devices; what they name in all, repeats included, is bounded
# at this many times max_devices before anything is expanded.
REPEATS_READ = 10
GROUP_NOTE_SHOWN = 300  # of a group's members, in the note that lists them


def device_checker(naming: Naming) -> Callable[[str], str | None]:
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


def fixed_device_word(words: list[str], naming: Naming) -> Fix | None:
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


def expand(written: list[str], naming: Naming) -> tuple[list[str], list[str]]:
    """Each device that `written` names (ranges and groups expanded), once, as first written,
    and notes: each group's members, and the devices named more than once."""
    if not any(is_range(word) or is_group(word) for word in written):
        return dedupe(written)
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
        raise Invalid(say.grammar.too_many_names(sum(counts), limit))
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


def group_refusal(
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
            items, _ = take_names(
                after, what=list_field.label, check=item_checker(list_field), reserved=reserved
            )
        except Invalid:
            items = []
        if items:
            example_values[list_field.name] = items
    example = example_command(kind, list(say.grammar.EXAMPLE_DEVICES), example_values)
    groups = [GROUP_SIGIL + name for name in naming.groups]
    return Refusal(say.grammar.no_device_groups(" ".join(shown), groups), example=example)


def too_many_for(
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
