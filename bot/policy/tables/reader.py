"""What every table's reader shares: where tables and keys are in the text, the values a
table's keys hold (texts, choices, lists, Slack ids), and each problem said with its place."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")
PERSON_ID = re.compile(r"^[UWS][A-Z0-9]+$")

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]#=]+?)\s*(\]\]?)\s*(?:#.*)?$")


class Lines:
    """Where tables and keys are in the text: tomllib gives no lines for them, so a light
    scan finds the headers, and a key's line within its table. A key it cannot find (an
    inline table, a dotted key) is placed at its table's header instead."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()
        self._headers: list[tuple[int, str]] = []
        for number, line in enumerate(self._lines, start=1):
            found = _HEADER.match(line)
            if found and len(found[1]) == len(found[3]):
                name = ".".join(p.strip().strip("\"'") for p in found[2].split("."))
                self._headers.append((number, name))

    def table(self, name: str, index: int = 0, *, after: int = 0, within: str = "") -> int:
        """The line of the `index`-th `[name]`/`[[name]]` header after line `after` (and
        before the next `[within]` header, for tables nested in an array); 0 if not found."""
        seen = 0
        for number, header in self._headers:
            if number <= after:
                continue
            if within and header == within:
                break
            if header == name:
                if seen == index:
                    return number
                seen += 1
        return 0

    def key(self, key: str, *, table: int) -> int:
        """The line of `key = …` in the table whose header is on line `table` (0: the top,
        before any header); 0 if not found."""
        end = next((n for n, _ in self._headers if n > table), len(self._lines) + 1)
        pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*[=.]")
        for number in range(table + 1, end):
            if pattern.match(self._lines[number - 1]):
                return number
        return 0


@dataclass(frozen=True, kw_only=True)
class Table:
    data: dict[str, object]
    where: str  # "[access]", "[[rules]] #2"
    line: int  # its header's line; 0 if not found


class TableReader:
    """The problems noted so far and the ways of reading a table's values, for each table's
    reader (bot/policy/tables/*.py): every problem is noted and the reading goes on."""

    def __init__(self, *, text: str, source: str) -> None:
        self._source = source
        self._text = text
        self._lines = Lines(text)
        self._problems: list[tuple[int, str]] = []  # (line, message)
        # `[groups]` as read (name → members), and every name it gives, read or not: a rule or
        # window naming a group is read after them.
        self._groups_read: Mapping[str, tuple[str, ...]] = {}
        self._group_names: list[str] = []

    def _array(self, data: dict[str, object], name: str, one: str) -> list[Table]:
        value = data.get(name)
        if value is None:
            return []
        line = self._lines.table(name) or self._lines.key(name, table=0)
        if not isinstance(value, list):
            self._say("", line, f"write each {one} as its own [[{name}]] table, not [{name}]")
            return []
        tables = []
        for index, entry in enumerate(value):
            where = f"[[{name}]] #{index + 1}"
            if not isinstance(entry, dict):
                self._say(
                    where, line, f"each {one} must be a table, [[{name}]], not {shown(entry)}"
                )
                continue
            tables.append(Table(data=entry, where=where, line=self._lines.table(name, index)))
        return tables

    # -- values

    def _unknown_keys(self, table: Table, allowed: Sequence[str]) -> None:
        for key in table.data:
            if key not in allowed:
                hint = did_you_mean(key, allowed) or "; the keys here are " + ", ".join(allowed)
                self._say_key(table, key, f'unknown key "{key}"{hint}')

    def _string(self, table: Table, key: str, *, required: bool = False) -> str | None:
        value = table.data.get(key)
        if value is None:
            if required:
                self._say(table.where, table.line, f"{key} is missing")
            return None
        if not isinstance(value, str) or not value.strip():
            self._say_key(table, key, f"{key} must be a text in quotes, not {shown(value)}")
            return None
        return value

    def _choice(
        self,
        table: Table,
        key: str,
        choices: Sequence[str],
        default: str,
        *,
        required: bool = False,
    ) -> str:
        value = table.data.get(key)
        if value is None:
            if required:
                self._say(table.where, table.line, f"{key} is missing ({quoted_or(choices)})")
            return default
        if value not in choices:
            self._say_key(table, key, f"{key} must be {quoted_or(choices)}, not {shown(value)}")
            return default
        return str(value)

    def _strings(self, table: Table, key: str, *, what: str) -> tuple[str, ...] | None:
        """A list of texts; None when absent (which means "all")."""
        value = table.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self._say_key(
                table,
                key,
                f'{key} must be a list of {what} in quotes, like ["…"], not {shown(value)}',
            )
            return None
        return tuple(value)

    def _ids(
        self, table: Table, key: str, *, person: bool, may_be_empty: bool = False
    ) -> tuple[str, ...] | None:
        what = "user and user group ids" if person else "channel ids"
        ids = self._strings(table, key, what=what)
        if ids is None:
            return None
        if not ids and not may_be_empty:
            nobody = "nobody" if person else "nowhere"
            self._say_key(
                table, key, f"{key} is empty, which allows {nobody}: leave the key out to allow all"
            )
        shape, kinds, named = (
            (PERSON_ID, "a user (U…, W…) or user group (S…) id", "their profile's ⋮ menu")
            if person
            else (CHANNEL_ID, "a channel id (C…, G… or D…)", "the channel's details")
        )
        for value in ids:
            if shape.match(value):
                continue
            # Real ids hold digits: "general" is a channel's name, not "GENERAL" lower-cased.
            if shape.match(value.upper()) and any(c.isdigit() for c in value):
                hint = f'Slack ids are upper case: "{value.upper()}"'
            else:
                hint = f"use the id, not a name: Slack shows it in {named}"
            self._say_key(table, key, f'"{value}" is not {kinds}; {hint}')
        return ids

    # -- saying it

    def _say_key(self, table: Table, key: str, message: str) -> None:
        line = self._lines.key(key, table=table.line) if table.line else 0
        self._say(table.where, line or table.line, message)

    def _say(self, where: str, line: int, message: str) -> None:
        place = where or (f"line {line}" if line else "")
        if where and line:
            place += f" (line {line})"
        self._problems.append((line, f"{self._source}: {place}: {message}"))


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = get_close_matches(word, choices, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def quoted_or(words: Sequence[str]) -> str:
    quoted = [f'"{w}"' for w in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def shown(value: object) -> str:
    """A value as it was written in TOML, near enough."""
    if isinstance(value, dict):
        return "a table"
    try:
        return json.dumps(value, ensure_ascii=False)
    except TypeError:
        return str(value)
