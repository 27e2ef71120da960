"""The command text a refusal's example is built with, from an operation's kind and the values
the person gave."""

from __future__ import annotations

from bot import say
from bot.understand.catalog import OperationKind, ParamField
from bot.understand.names import CONNECTOR
from bot.understand.values import shown_value, value_sample


def example_command(kind: OperationKind, devices: list[str], values: dict[str, object]) -> str:
    """The command text for these values: the refusal examples are built with it."""
    parts = command_head(kind, values)
    parts.append(", ".join(devices) or say.grammar.EXAMPLE_DEVICE)
    has_name = any(f.kind == "name" for f in kind.fields)
    for f in kind.fields:
        value = values.get(f.name)
        if f.kind == "name_list" and (value or f.required):
            parts += [f.word, joined(value or [sample_name(f)])]
        elif f.kind == "flag" and value is True:
            parts.append(f.word)
        elif f.kind == "duration" and value is not None and value != f.default:
            parts += [f.word, str(value)]
        elif f.kind == "value" and not has_name:
            parts += _value_words(f, values)
    return " ".join(parts)


def command_head(kind: OperationKind, values: dict[str, object]) -> list[str]:
    """The words before the devices: `reboot`, `restart nginx on`, `set <path> to 300 on`."""
    name_field = next((f for f in kind.fields if f.kind == "name"), None)
    if name_field is None:
        return [kind.keyword]
    parts = [kind.keyword, joined(values.get(name_field.name) or sample_name(name_field))]
    # As the syntax reads: the value between the name and the devices it is set on.
    for f in kind.fields:
        if f.kind == "value":
            parts += _value_words(f, values)
    return [*parts, CONNECTOR]


def _value_words(f: ParamField, values: dict[str, object]) -> list[str]:
    if f.name in values:
        return [f.word, shown_value(values[f.name])]
    return [f.word, value_sample(f)] if f.required else []


def joined(names: object) -> str:
    return ", ".join(names) if isinstance(names, list | tuple) else str(names)


def sample_name(f: ParamField) -> str:
    """A name to show in an example for a list the person left out."""
    return f.placeholder.split(",")[0].strip() or say.grammar.EXAMPLE_NAME
