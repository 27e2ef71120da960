"""What SQLite and PostgreSQL write differently: the one place the store's SQL differs.

Every other statement is written once, in what both speak (`?` placeholders, which the
PostgreSQL engine turns into `%s`). Each method here returns an SQL fragment; its docstring says
the exact meaning a second dialect must give it, NULLs included.

Differences already written around in the statements themselves (so no method here), for
whoever writes the PostgreSQL engine:
- `INSERT OR IGNORE` → `INSERT … ON CONFLICT DO NOTHING`; ids from `RETURNING id`.
- `julianday('now')` → a parameter (`store.base.julian_day`).
- `x IS ?` (a NULL-safe comparison with a parameter) and `? IS NULL` (PostgreSQL cannot tell
  a bare parameter's type) → the SQL is chosen in Python: `x IS NULL` or `x = ?`.
- `CASE WHEN ? THEN` with an integer parameter (PostgreSQL wants a boolean) → chosen in Python.
- `sum(kind = ?)` (a boolean summed as an integer) → `sum(CASE WHEN kind = ? THEN 1 ELSE 0 END)`.
  PostgreSQL's `sum` of integers is a `numeric` (Python Decimal): compared, never formatted.
- The column `approvals.user` is a reserved word in PostgreSQL (bare, it means CURRENT_USER):
  always written `"user"`.
- `json_set`/`json_patch` of a request's policy → read and written back in Python, in the
  same (one-writer) transaction.
- Booleans are integers (`final = 0`, `root_open`), compared with integers, never `WHERE final`.
- Times are ISO-8601 UTC text, compared as text: PostgreSQL's text columns must use
  `COLLATE "C"` for `<` and ORDER BY to mean what they mean in SQLite (byte order).
- A nullable column in ORDER BY says `NULLS FIRST` (SQLite's order for ASC); PostgreSQL puts
  NULLs last by default.
"""

from __future__ import annotations

from typing import Protocol


class Dialect(Protocol):
    def clock(self) -> str:
        """The database's own now, as the store writes times: ISO-8601 text in UTC with
        milliseconds (`2026-12-06T07:00:00.123+00:00`). What leases are judged by: replicas
        on several machines disagree on the time a little, the database does not."""
        ...

    def indexed_by(self, index: str) -> str:
        """A hint after a table name (` INDEXED BY idx`): the index the statement must use.
        SQLite's planner, without statistics, picks a worse one for the store's hot questions;
        a dialect without hints returns ''."""
        ...

    def unindexed(self, expression: str) -> str:
        """`expression`, unchanged in value, but kept from choosing an index (SQLite: unary
        `+`). A dialect without the trick returns the expression as it is."""
        ...

    def greatest(self, a: str, b: str) -> str:
        """The larger of two values of one type (SQLite's scalar `max(a, b)`). NULL if either
        is NULL: PostgreSQL's GREATEST ignores NULLs, so it must be written
        `CASE WHEN a IS NULL OR b IS NULL THEN NULL ELSE GREATEST(a, b) END`, or rely on
        what the store passes: both sides never NULL (a time, a counter, a wave number)."""
        ...

    def json_text(self, column: str, key: str) -> str:
        """The text of the top-level member `key` of the JSON object in the text `column`;
        NULL when the column is NULL or has no such member (the store reads string members
        only, so SQLite's json_extract and PostgreSQL's `->>` agree)."""
        ...

    def json_append(self, array: str, value: str) -> str:
        """The JSON array in text `array` (NULL: an empty one) with the text `value` appended,
        as JSON text. The spacing of the text may differ between dialects; it is only ever
        parsed again."""
        ...

    def json_texts(self, array: str) -> str:
        """A subquery (`SELECT …`) of one column: each element of the JSON array of strings
        in text `array` (a `?`, usually), for `x IN (…)` / `x NOT IN (…)`. An empty array
        gives no rows; the array is never NULL."""
        ...

    def frozen(self, device: str, devices: str) -> str:
        """A condition: the freeze whose `devices` (a JSON array of fnmatch globs as text;
        NULL: every device) covers the device named by `device`. Both sides lower-cased, as
        device names are compared ignoring case; `*` any run of characters, `?` one, `[…]` a
        set, `[!…]` a negated set (SQLite's GLOB writes it `[^…]`), everything else literal."""
        ...


class SqliteDialect:
    def clock(self) -> str:
        return "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"

    def indexed_by(self, index: str) -> str:
        return f" INDEXED BY {index}"

    def unindexed(self, expression: str) -> str:
        return f"+{expression}"

    def greatest(self, a: str, b: str) -> str:
        return f"max({a}, {b})"

    def json_text(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def json_append(self, array: str, value: str) -> str:
        return f"json_insert(coalesce({array}, '[]'), '$[#]', {value})"

    def json_texts(self, array: str) -> str:
        return f"SELECT value FROM json_each({array})"

    def frozen(self, device: str, devices: str) -> str:
        return (
            f"({devices} IS NULL OR EXISTS (SELECT 1 FROM json_each({devices}) d "
            f"WHERE lower({device}) GLOB replace(lower(d.value), '[!', '[^')))"
        )


class PostgresDialect:
    def clock(self) -> str:
        return (
            "to_char(clock_timestamp() AT TIME ZONE 'UTC', "
            '\'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"\')'
        )

    def indexed_by(self, index: str) -> str:
        return ""  # PostgreSQL's planner keeps statistics, and takes no hints

    def unindexed(self, expression: str) -> str:
        return expression

    def greatest(self, a: str, b: str) -> str:
        # Each side written once (a side may be a parameter): the store never passes a NULL,
        # where GREATEST would differ from SQLite's max(a, b).
        return f"GREATEST({a}, {b})"

    def json_text(self, column: str, key: str) -> str:
        return f"(({column})::jsonb ->> '{key}')"

    def json_append(self, array: str, value: str) -> str:
        return f"((coalesce({array}, '[]')::jsonb || to_jsonb(({value})::text))::text)"

    def json_texts(self, array: str) -> str:
        return f"SELECT jsonb_array_elements_text(({array})::jsonb)"

    def frozen(self, device: str, devices: str) -> str:
        return (
            f"({devices} IS NULL OR EXISTS (SELECT 1 FROM "
            f"jsonb_array_elements_text(({devices})::jsonb) AS d(value) "
            f"WHERE lower({device}) ~ opsbot_glob(lower(d.value))))"
        )
