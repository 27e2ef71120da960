"""`[[operations]]`: the site's catalog, its operations and their parameters, merged with the
built-in ones."""

from __future__ import annotations

import re

from bot.policy.tables.reader import Table, TableReader, shown
from bot.understand.catalog import (
    BUILT_IN_COMMANDS,
    DEFAULT_CATALOG,
    FIELD_KINDS,
    VALUE_TYPES,
    Catalog,
    OperationKind,
    ParamField,
)

KEYWORD = re.compile(r"^[a-z][a-z0-9_-]*$")
OPERATION_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OPERATION_KEYS = ("keyword", "type", "label", "syntax", "example", "fixed", "parameters")
PARAMETER_KEYS = ("name", "label", "kind", "required", "default", "placeholder", "word", "type")
FIELD_DEFAULTS: dict[str, object] = {"flag": False, "name_list": []}


class OperationsTable(TableReader):
    def _catalog(self, value: object) -> Catalog:
        if value is None:
            return DEFAULT_CATALOG
        tables = self._array({"operations": value}, "operations", "operation")
        kinds: list[OperationKind] = []
        for index, table in enumerate(tables):
            kind = self._operation(table, index)
            if kind is None:
                continue
            for earlier in kinds:
                if earlier.keyword == kind.keyword:
                    self._say_key(
                        table, "keyword", f'keyword "{kind.keyword}" is already used above'
                    )
                elif earlier.operation_type == kind.operation_type:
                    self._say_key(
                        table, "type", f'type "{kind.operation_type}" is already used above'
                    )
            kinds.append(kind)
        site = {kind.keyword: kind for kind in kinds}
        # A site's keyword replaces the built-in one in place; new keywords come after.
        merged = [site.pop(k.keyword, k) for k in DEFAULT_CATALOG.kinds]
        merged.extend(site.values())
        for kind, table in zip(kinds, tables, strict=False):
            clash = next(
                (
                    k
                    for k in DEFAULT_CATALOG.kinds
                    if k.operation_type == kind.operation_type and k.keyword != kind.keyword
                ),
                None,
            )
            if clash is not None:
                self._say_key(
                    table,
                    "type",
                    f'type "{kind.operation_type}" is the built-in "{clash.keyword}" '
                    f'operation\'s: to replace it, use keyword = "{clash.keyword}"',
                )
        if self._problems:
            return DEFAULT_CATALOG
        try:
            return Catalog(kinds=tuple(merged))
        except ValueError as exc:
            line = self._lines.table("operations")
            self._say("[[operations]]", line, f"the operations do not fit together: {exc}")
            return DEFAULT_CATALOG

    def _operation(self, table: Table, index: int) -> OperationKind | None:
        before = len(self._problems)
        self._unknown_keys(table, OPERATION_KEYS)
        keyword = self._string(table, "keyword", required=True)
        if keyword is not None:
            if keyword in BUILT_IN_COMMANDS:
                self._say_key(table, "keyword", f'"{keyword}" is one of the bot\'s own words')
            elif not KEYWORD.match(keyword):
                self._say_key(
                    table,
                    "keyword",
                    f'keyword "{keyword}" must be one lower-case word, like "set"',
                )
        operation_type = self._string(table, "type", required=True)
        if operation_type is not None and not OPERATION_TYPE.match(operation_type):
            self._say_key(
                table, "type", f'type "{operation_type}" must be one word, as the API names it'
            )
        label = self._string(table, "label", required=True)
        syntax = self._string(table, "syntax", required=True)
        example = self._string(table, "example", required=True)
        fixed = table.data.get("fixed", {})
        if not isinstance(fixed, dict):
            self._say_key(
                table,
                "fixed",
                f"fixed must be a table, like {{ force = true }}, not {shown(fixed)}",
            )
            fixed = {}
        fields = tuple(
            field
            for number, param in enumerate(self._parameters(table, index))
            if (field := self._parameter(param, number)) is not None
        )
        if len(self._problems) > before:
            return None
        return OperationKind(
            keyword=keyword or "",
            operation_type=operation_type or "",
            label=label or "",
            syntax=syntax or "",
            example=example or "",
            fields=fields,
            fixed=dict(fixed),
        )

    def _parameters(self, table: Table, index: int) -> list[Table]:
        value = table.data.get("parameters", [])
        if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
            self._say_key(
                table,
                "parameters",
                "write each parameter as its own [[operations.parameters]] table",
            )
            return []
        return [
            Table(
                data=entry,
                where=f"{table.where} parameter #{number + 1}",
                line=self._lines.table(
                    "operations.parameters", number, after=table.line, within="operations"
                )
                or table.line,
            )
            for number, entry in enumerate(value)
        ]

    def _parameter(self, table: Table, number: int) -> ParamField | None:
        before = len(self._problems)
        self._unknown_keys(table, PARAMETER_KEYS)
        name = self._string(table, "name", required=True)
        if name is not None and not PARAMETER_NAME.match(name):
            self._say_key(table, "name", f'name "{name}" must be one word of letters, digits and _')
        label = self._string(table, "label", required=True)
        kinds = tuple(sorted(FIELD_KINDS))
        kind = self._choice(table, "kind", kinds, "", required=True)
        required = table.data.get("required", False)
        if not isinstance(required, bool):
            self._say_key(
                table, "required", f"required must be true or false, not {shown(required)}"
            )
        placeholder = self._string(table, "placeholder") or ""
        word = self._string(table, "word") or ""
        if word and (word != word.lower() or len(word.split()) != 1):
            self._say_key(table, "word", f'word "{word}" must be one lower-case word')
        if kind and kind != "name" and not word and "word" not in table.data:
            self._say_key(
                table, "word", f'a "{kind}" parameter needs a word, the one typed before it'
            )
        value_type = ""
        if kind == "value":
            value_type = self._choice(table, "type", tuple(sorted(VALUE_TYPES)), "", required=True)
        elif "type" in table.data:
            self._say_key(table, "type", 'type only applies to kind = "value"')
        default = table.data.get("default", FIELD_DEFAULTS.get(kind))
        if "default" in table.data and kind and not _fits(default, kind, value_type):
            self._say_key(
                table, "default", f"default {shown(default)} does not fit a {kind} parameter"
            )
        if len(self._problems) > before or not kind:
            return None
        return ParamField(
            name=name or "",
            label=label or "",
            kind=kind,
            required=bool(required),
            default=default,
            placeholder=placeholder,
            word=word,
            value_type=value_type,
        )


def _fits(value: object, kind: str, value_type: str) -> bool:
    if kind == "flag":
        return isinstance(value, bool)
    if kind == "duration":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind == "name_list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "name":
        return isinstance(value, str)
    return {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
    }.get(value_type, True)
