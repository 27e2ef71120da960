"""The store on PostgreSQL, through psycopg 3 and its pool: the same SQL as on SQLite.

Every write transaction first takes one transaction-level advisory lock, so writers go one at
a time, as SQLite's `BEGIN IMMEDIATE` makes them go: the store's read-then-write logic keeps
its meaning on both without being written twice. Measured on 2 cores (PostgreSQL 15, psycopg
3.3, 8 threads): 3,000 write transactions a second with the lock, 4,300 without; the bot
needs a few hundred. A transaction's lock ends with it, so it holds behind a pooler in
transaction mode too.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from store.dialect import PostgresDialect
from store.engine import insert_statement
from store.schema_postgres import migrate_postgres

# The key every writer locks ("opsbot" in ASCII, then 2; 1 is the migrations').
WRITER_LOCK = int.from_bytes(b"opsbot", "big") << 16 | 2

# A write: READ COMMITTED, each statement seeing what was committed before it, under the one
# lock every writer takes. A read: one snapshot for all its statements (REPEATABLE READ), as a
# read under SQLite's process lock sees no write between two of its statements.
BEGIN_WRITE = f"BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK})"
BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

# A literal, a placeholder or a percent sign: what the translation looks at.
_MARKS = re.compile(r"'(?:[^']|'')*'|\?|%")


@functools.lru_cache(maxsize=2048)
def to_psycopg(sql: str) -> str:
    """The store's statement with `?` placeholders as psycopg's `%s`, and a `%` written in it
    (in a literal too: psycopg reads the whole text) as `%%`."""

    def swap(found: re.Match[str]) -> str:
        mark = found.group(0)
        return "%s" if mark == "?" else mark.replace("%", "%%")

    return _MARKS.sub(swap, sql)


class PostgresTx:
    def __init__(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(to_psycopg(sql), tuple(params)).rowcount

    def execute_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(to_psycopg(sql), [tuple(p) for p in params])

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._conn.execute(to_psycopg(sql), tuple(params)).fetchall()

    def row(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        return self._conn.execute(to_psycopg(sql), tuple(params)).fetchone()

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        found = self._conn.execute(to_psycopg(sql), tuple(params)).fetchone()
        return None if found is None else next(iter(found.values()))

    def insert(self, table: str, record: dict[str, Any]) -> int:
        sql = insert_statement(table, list(record)) + " RETURNING id"
        return self.value(sql, list(record.values()))

    def insert_many(self, table: str, records: Sequence[dict[str, Any]]) -> None:
        if records:
            columns = list(records[0])
            self.execute_many(
                insert_statement(table, columns), ([r[c] for c in columns] for r in records)
            )


@dataclass
class _Current:
    conn: psycopg.Connection[dict[str, Any]]
    tx: PostgresTx
    writing: bool


class PostgresEngine:
    dialect = PostgresDialect()

    def __init__(self, url: str, *, connections: int = 10) -> None:
        self.url = url
        self._local = threading.local()
        with psycopg.connect(url, autocommit=True) as conn:
            migrate_postgres(conn)
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=connections,
            # Transactions are begun and ended by hand (_transaction), each begun in one round
            # trip, which psycopg's own transaction() takes two for.
            kwargs={"row_factory": dict_row, "autocommit": True},
            open=True,
            name="opsbot",
        )

    @contextmanager
    def write(self) -> Iterator[PostgresTx]:
        with self._transaction(writing=True) as tx:
            yield tx

    @contextmanager
    def read(self) -> Iterator[PostgresTx]:
        with self._transaction(writing=False) as tx:
            yield tx

    @contextmanager
    def _transaction(self, *, writing: bool) -> Iterator[PostgresTx]:
        # A thread already in a transaction goes on in it, as on SQLite's one connection: a
        # read inside a write sees what the write changed, and a write inside a write does not
        # wait for the lock its own transaction holds.
        current: _Current | None = getattr(self._local, "current", None)
        if current is not None:
            if writing and not current.writing:
                raise RuntimeError("a write inside a read: open the write first")
            yield current.tx
            return
        with self._pool.connection() as conn:
            # Each begun in one round trip (a write with its lock): every round trip may wait
            # for the interpreter's lock once the answer is in, while the writers' lock is held.
            conn.execute(BEGIN_WRITE if writing else BEGIN_READ)
            self._local.current = _Current(conn, PostgresTx(conn), writing)
            try:
                yield self._local.current.tx
            except BaseException:
                if not conn.closed:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                self._local.current = None

    def has_table(self, name: str) -> bool:
        with self.read() as tx:
            return tx.value("SELECT to_regclass(?) IS NOT NULL", [name])

    def ping(self) -> None:
        with self.read() as tx:
            tx.value("SELECT 1")

    def close(self) -> None:
        self._pool.close()
