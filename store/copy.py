"""`opsbot copy-db`: a SQLite deployment, every row the bot keeps, into an empty PostgreSQL
database, in one transaction on the target.

Rows go over verbatim, ids included (PostgreSQL's COPY, streamed from one read of the file,
into tables whose indexes are built again once the rows are in), then each identity sequence
is moved past the largest id copied, so the next row gets a fresh one. The triggers that write
on an insert are off for the copy and on again before it commits (all in the one transaction;
ALTER TABLE needs the tables' owner, whoever migrated them):
`outbox_thread_written` would rename a delivered message's thread after its request as it
stands now, and the counting ones would count again what `operation_statuses` and
`audit_events` already hold; copied as they are, those two tables are checked like the others
by counting both sides. The audit trail's append-only triggers stay on: the copy only inserts.

The file is only read: under its bot's lock (a running bot is refused, since what it did after
the copy would not be in PostgreSQL), in one read transaction, a consistent snapshot under WAL.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from store.engine import SqliteEngine
from store.lock import DatabaseInUse, DatabaseLock
from store.postgres import WRITER_LOCK
from store.schema import MIGRATIONS
from store.schema_postgres import migrate_postgres

# Every table the bot keeps (the migrations' own records are not copied: the target is
# migrated first), parents before the rows that refer to them.
TABLES = (
    "requests",
    "operations",
    "status_changes",
    "outbox",
    "approvals",
    "freezes",
    "audit",
    "facts",
    "devices",
    "seen_events",
    "refused_channels",
    "operation_statuses",
    "audit_events",
    "leases",
    "channel_turns",
)
# The tables whose `id` is an identity on PostgreSQL.
IDENTITIES = ("operations", "status_changes", "outbox", "freezes", "audit")
# (table, trigger): the triggers that write when a row is inserted, off for the copy.
QUIET = (
    ("operations", "operation_statuses_insert"),
    ("audit", "audit_events_count"),
    ("outbox", "outbox_thread_written"),
)


class CopyRefused(Exception):
    """Nothing was copied, for a reason a person can act on (the CLI words each kind)."""


class SourceMissing(CopyRefused):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class SourceNotOpsbot(CopyRefused):
    """Not a SQLite file, or one no opsbot made (no opsbot migrations recorded)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason


class SourceBehind(CopyRefused):
    """An opsbot database of an older schema: `opsbot migrate --db` brings it up first."""

    def __init__(self, path: str, schema: str, latest: str) -> None:
        super().__init__(path, schema, latest)
        self.path = path
        self.schema = schema
        self.latest = latest


class SourceInUse(CopyRefused):
    def __init__(self, path: str, pid: int | None) -> None:
        super().__init__(path, pid)
        self.path = path
        self.pid = pid


class TargetNotEmpty(CopyRefused):
    def __init__(self, tables: list[str]) -> None:
        super().__init__(tables)
        self.tables = tables


class CountsDiffer(CopyRefused):
    """Counted after the copy, a table has not as many rows on both sides: rolled back."""

    def __init__(self, table: str, source: int, target: int) -> None:
        super().__init__(table, source, target)
        self.table = table
        self.source = source
        self.target = target


@dataclass(frozen=True)
class Copied:
    schema: str  # the schema both sides are at
    counts: list[tuple[str, int]]  # (table, rows), counted on both sides, in TABLES' order
    seconds: float  # from the first row read to the commit

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.counts)


def copy_to_postgres(source: str | Path, url: str) -> Copied:
    """Every row of the SQLite file `source` into the PostgreSQL database at `url` (migrated
    first; it must hold no row of TABLES), in one transaction, counted on both sides before
    it commits. Raises a CopyRefused (nothing copied), sqlite3.Error or psycopg.Error."""
    path = str(source)
    if not Path(path).is_file():
        raise SourceMissing(path)
    try:
        lock: DatabaseLock | None = DatabaseLock(db_path=path)
    except DatabaseInUse as exc:
        raise SourceInUse(path, exc.pid) from None
    except OSError:
        lock = None  # a folder no one may write in: no bot runs on this file either
    try:
        engine, schema = _open_source(path)
        try:
            return _copy(engine.db.conn, url, schema)
        finally:
            engine.close()
    finally:
        if lock is not None:
            lock.release()


def _open_source(path: str) -> tuple[SqliteEngine, str]:
    """The file, opened read-only, and the schema it is at (this opsbot's latest)."""
    engine = SqliteEngine(path=path, read_only=True)
    try:
        applied = [m.name for m in MIGRATIONS.applied(engine.db)]
        pending = [m.name for m in MIGRATIONS.pending(engine.db)]
    except sqlite3.DatabaseError as exc:  # "file is not a database"
        engine.close()
        raise SourceNotOpsbot(path, str(exc)) from None
    if not applied:
        engine.close()
        raise SourceNotOpsbot(path, "no opsbot tables in it")
    if pending:
        engine.close()
        raise SourceBehind(path, applied[-1], pending[-1])
    return engine, applied[-1]


def _copy(source: sqlite3.Connection, url: str, schema: str) -> Copied:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        migrate_postgres(conn)
        with conn.transaction():
            # Replicas already started on the target write nothing until this commits.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            filled = [
                table for table in TABLES if _value(conn, f"SELECT EXISTS (SELECT 1 FROM {table})")
            ]
            if filled:
                raise TargetNotEmpty(filled)
            started = time.perf_counter()
            source.execute("BEGIN")  # one snapshot of the file, from the first read on
            try:
                for table, trigger in QUIET:
                    conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
                indexes = _drop_indexes(conn)
                for table in TABLES:
                    _copy_table(source, conn, table)
                for definition in indexes:
                    conn.execute(definition)
                for table, trigger in QUIET:
                    conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
                for table in IDENTITIES:
                    conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                    )
                counts = []
                for table in TABLES:
                    there = source.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    here = _value(conn, f"SELECT count(*) FROM {table}")
                    if there != here:
                        raise CountsDiffer(table, there, here)
                    counts.append((table, int(here)))
            finally:
                source.execute("ROLLBACK")
    return Copied(schema=schema, counts=counts, seconds=time.perf_counter() - started)


def _value(conn: psycopg.Connection, sql: str) -> Any:
    found = conn.execute(sql).fetchone()  # type: ignore[arg-type]  # our own text
    assert found is not None
    return found[0]


def _drop_indexes(conn: psycopg.Connection) -> list[str]:
    """Drops the tables' indexes other than their keys' and returns their definitions, as
    PostgreSQL itself writes them, to build again after the copy: built once from every row,
    they cost less than kept up to date row by row (100,000 operations and 210,000 audit
    lines, bench/copy_db.py on a loaded 2-core machine: the copy took 4.1 to 6.7 s instead of
    5.8 to 10.5 s). Unique ones check their rows when built, as they would on each insert."""
    found = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = ANY(%s) AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE connamespace = current_schema()::regnamespace) "
        "ORDER BY tablename, indexname",
        (list(TABLES),),
    ).fetchall()
    for name, _ in found:
        conn.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in found]


def _copy_table(source: sqlite3.Connection, conn: psycopg.Connection, table: str) -> None:
    """The table's rows, as they are, through COPY: its columns by name, the same on both
    engines at one schema (tests/test_postgres_schema.py holds them side by side)."""
    columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
    names = ", ".join(f'"{column}"' for column in columns)
    rows = source.execute(f"SELECT {names} FROM {table}")
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        while batch := rows.fetchmany(1000):
            for row in batch:
                copy.write_row(row)
