"""A command's options, which may appear anywhere in it: flags (`force`), lengths (`timeout
10m`) and values (`to 300`) taken out of the words, and an option of another operation
refused as such."""

from __future__ import annotations

from bot import say
from bot.model import Refusal
from bot.understand.catalog import Catalog, OperationKind
from bot.understand.examples import example_command
from bot.understand.names import CONNECTOR, SEPARATORS, Invalid
from bot.understand.suggestions import Fix
from bot.understand.values import DURATION_UNITS, read_value, value_sample

# What "to on" and "to off" mean, as the person wrote it, for the example of their refusal.
_BOOLEAN_WORDS = {"on": "true", "off": "false"}


def refuse_foreign_options(kind: OperationKind, args: list[str], catalog: Catalog) -> None:
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


def ends_with_word(kind: OperationKind, name: str, args: list[str]) -> bool:
    """Is the last word typed the word of the field called `name`?"""
    return bool(args) and any(f.name == name and f.word == args[-1].lower() for f in kind.fields)


def take_options(
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
            fix: Fix | None = Fix(after=word_typed, new=(value_sample(f),))
            if f.name in values or f.name in problems:
                problem, fix = say.grammar.given_twice(f.word), None
            elif begins_devices and f.value_type == "boolean":
                problem = say.grammar.value_not_boolean(f.label, args[i])
                fix = Fix(after=word_typed, new=(_BOOLEAN_WORDS[CONNECTOR],))
            elif not has_value:
                problem = say.grammar.value_missing(f.word, f.value_type, value_sample(f))
            else:
                try:
                    values[f.name] = read_value(f, args[i], quoted=True)
                except Invalid as error:
                    problem = error.reason
                    meant = value_sample(f)
                    if f.value_type == "boolean":
                        meant = _BOOLEAN_WORDS.get(args[i].lower(), meant)
                    fix = Fix(drop=(args[i],), new=(meant,))
            if problem:
                problems[f.name] = (problem, fix)
            i += has_value
        elif word in durations:
            f = durations[word]
            example = example_command(kind, [], {f.name: say.grammar.EXAMPLE_DURATION})
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
                and args[i].lower() in DURATION_UNITS
            ):
                written.append(args[i])
                i += 1
            raw[f.name] = written
        else:
            rest.append(args[i])
            i += 1
    return rest, raw, problems
