"""The modal's path to a Plan: its fields checked as the text's words are, every field that is
wrong told beside it."""

from __future__ import annotations

import copy
import math
from datetime import datetime

from bot import say
from bot.model import Plan, Refusal
from bot.understand.catalog import DEFAULT_CATALOG, Catalog, ParamField
from bot.understand.devices import device_checker, expand, too_many_for
from bot.understand.grammar import plan_for
from bot.understand.names import (
    GROUP_WORDS,
    RESERVED,
    Invalid,
    dedupe,
    item_checker,
    take_names,
)
from bot.understand.naming import DEFAULT_NAMING, GROUP_SIGIL, Naming
from bot.understand.tokens import tokenize, with_unread
from bot.understand.typed import invisible, plain
from bot.understand.values import check_duration, read_duration, read_value
from bot.understand.when import When, resolve_picker, zone_for


class FieldErrors(Exception):
    """The modal's fields that are wrong, by field name, each with a message for the person."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {error}" for name, error in errors.items()))
        self.errors = errors


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
    except Invalid as error:
        errors["devices"] = with_unread(error.reason, devices.split(), frozenset())

    chosen: dict[str, object] = {}
    notes: list[str] = []
    for f in kind.fields:
        raw = values.get(f.name)
        try:
            value, field_notes = _field_value(f, raw, reserved)
        except Invalid as error:
            typed = raw.split() if isinstance(raw, str) and f.kind in ("name", "name_list") else []
            errors[f.name] = with_unread(error.reason, typed, frozenset())
        else:
            chosen[f.name] = value
            notes += field_notes

    too_many = (
        too_many_for(kind, names, chosen, naming.limits)
        if names and "devices" not in errors
        else None
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
    return plan_for(kind, names, chosen, resolved, tz=tz, notes=[*device_notes, *notes])


def _devices_from_text(
    raw: str, reserved: frozenset[str], naming: Naming
) -> tuple[list[str], list[str]]:
    try:
        tokens = tokenize(raw, example="")
    except Refusal as error:
        raise Invalid(error.reason) from None
    names, rest = take_names(
        tokens, what=say.grammar.WHAT_DEVICE, check=device_checker(naming), reserved=reserved
    )
    group = next((name for name in [*names, *rest[:1]] if name.lower() in GROUP_WORDS), None)
    if group is not None:
        groups = [GROUP_SIGIL + name for name in naming.groups]
        raise Invalid(say.grammar.no_device_groups(group, groups))
    if rest:
        raise Invalid(say.grammar.leftover_devices(" ".join(rest)))
    if not names:
        raise Invalid(say.grammar.devices_required())
    names, notes = expand(names, naming)
    if len(names) > naming.limits.max_devices:
        raise Invalid(say.grammar.too_many_devices(len(names), naming.limits.max_devices))
    return names, notes


def _field_value(f: ParamField, raw: object, reserved: frozenset[str]) -> tuple[object, list[str]]:
    """A modal value checked as the text grammar would check it."""
    if isinstance(raw, str):
        char = invisible(raw)
        if char is not None:  # as in a command: a value too, however it is sent
            raise Invalid(say.grammar.field_control_character(ord(char)))
        raw = plain(raw).strip()
    if raw is None or (isinstance(raw, str | list | tuple) and not raw):
        if f.required:
            raise Invalid(say.grammar.field_required(f.label))
        return copy.deepcopy(f.default), []
    if f.kind == "flag" and isinstance(raw, bool):
        return raw, []
    if f.kind == "duration" and isinstance(raw, int) and not isinstance(raw, bool):
        return check_duration(f, raw, str(raw)), []
    if f.kind == "duration" and isinstance(raw, str):
        return read_duration(f, raw), []
    if f.kind == "value":
        return _modal_value(f, raw), []
    check = item_checker(f)
    if f.kind in ("name", "name_list") and isinstance(raw, str):
        try:
            tokens = tokenize(raw, example="")
        except Refusal as error:
            raise Invalid(error.reason) from None
        items, rest = take_names(tokens, what=f.label.lower(), check=check, reserved=reserved)
        if rest:
            raise Invalid(say.grammar.leftover_items(" ".join(rest), f.label))
        return dedupe(items)
    if f.kind in ("name", "name_list") and isinstance(raw, list | tuple):
        items = [str(item).strip() for item in raw]
        for item in items:
            problem = check(item)
            if problem:
                raise Invalid(problem)
        return dedupe(items)
    raise Invalid(say.grammar.field_wrong_type(f.label))


def _modal_value(f: ParamField, raw: object) -> object:
    """A modal's value: typed text (the form's quotes are part of it), or already a value."""
    if isinstance(raw, str):
        return read_value(f, raw, quoted=False)
    if f.value_type == "boolean" and isinstance(raw, bool):
        return raw
    if f.value_type in ("integer", "number") and isinstance(raw, int) and not isinstance(raw, bool):
        return read_value(f, str(raw), quoted=False)
    if f.value_type == "number" and isinstance(raw, float) and math.isfinite(raw):
        return raw
    raise Invalid(say.grammar.field_wrong_type(f.label))
