"""The store on PostgreSQL, through psycopg 3 and its pool: the same SQL as on SQLite.

Every write transaction first takes one transaction-level advisory lock, so writers go one at
a time, as SQLite's `BEGIN IMMEDIATE` makes them go: the store's read-then-write logic keeps
its meaning on both without being written twice. Measured on 2 cores (PostgreSQL 15, psycopg
3.3, 8 threads): 3,000 write transactions a second with the lock, 4,300 without; the bot
needs a few hundred. A transaction's lock ends with it, so it holds behind a pooler in
transaction mode too.
"""

from __future__ import annotations

import contextlib
import functools
import re
import select
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from store.dialect import PostgresDialect
from store.engine import StoreUnavailable, insert_statement
from store.schema_postgres import migrate_postgres

# The key every writer locks ("opsbot" in ASCII, then 2; 1 is the migrations').
WRITER_LOCK = int.from_bytes(b"opsbot", "big") << 16 | 2
# How long a transaction waits for a connection before the database counts as not answering
# (StoreUnavailable). A click is acknowledged before its store work, so this delays only the
# answer that says "try again", which goes through the response_url (valid 30 minutes). A
# healthy pool hands one over in well under a millisecond even with every worker busy.
POOL_WAIT = 5.0
# /healthz and /readyz must answer within a probe's timeout (Kubernetes: 1 s by default).
PING_WAIT = 0.8
# A connection that cannot be made in this long is not coming (a partition, not a refusal).
CONNECT_TIMEOUT = 5
# psycopg-pool retries a failed connection with a doubling delay until this long has passed,
# then gives that attempt up and starts afresh at the next request. Without a bound the delay
# after a 30 s outage would reach 16 s, and the bot would come back that much later than its
# database; with it, within a few seconds.
RECONNECT_WITHIN = 5.0

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


def _dead_if_spoken_to(conn: psycopg.Connection[Any]) -> None:
    """The pool's check of a connection before it hands it over. After the server stopped or
    restarted, the pool's idle connections are dead, and each would fail one transaction (a
    person's click) before being replaced. A server ending a session says so on its socket
    (a FATAL message, then end of file), and an idle session is otherwise never spoken to:
    so only a socket with something to read is tried with an empty query (raises if dead).
    A query on every hand-over cost 0.3-0.5 ms a transaction, measured under load."""
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


def unavailable(exc: psycopg.OperationalError) -> bool:
    """Whether `exc` says the database is out of reach, not that it answered: no connection in
    the pool's wait, none made (libpq's own errors carry no SQLSTATE), one cut off (class 08),
    the server shutting down or starting (57P01-57P03), or out of connections (class 53). A
    deadlock, a cancelled statement or a serialization failure is an answer, and stays one."""
    if isinstance(exc, PoolTimeout):
        return True
    state = exc.sqlstate
    return state is None or state.startswith(("08", "53")) or state in ("57P01", "57P02", "57P03")


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

    def __init__(self, url: str, *, connections: int = 10, read_only: bool = False) -> None:
        """Migrated first (under the migrations' advisory lock), unless `read_only`: for
        looking only (`opsbot audit`), every transaction read-only, the schema as it is."""
        self.url = url
        self._local = threading.local()
        if not read_only:
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
                migrate_postgres(conn)
        options = {"options": "-c default_transaction_read_only=on"} if read_only else {}
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=connections,
            # Transactions are begun and ended by hand (_in_transaction), each begun in one
            # round trip, which psycopg's own transaction() takes two for.
            kwargs={
                "row_factory": dict_row,
                "autocommit": True,
                "connect_timeout": CONNECT_TIMEOUT,
                **options,
            },
            check=_dead_if_spoken_to,
            timeout=POOL_WAIT,
            reconnect_timeout=RECONNECT_WITHIN,
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
    def _transaction(self, *, writing: bool, wait: float = POOL_WAIT) -> Iterator[PostgresTx]:
        try:
            with self._in_transaction(writing=writing, wait=wait) as tx:
                yield tx
        except psycopg.OperationalError as exc:
            if not unavailable(exc):
                raise
            raise StoreUnavailable(f"the database does not answer: {exc}") from exc

    @contextmanager
    def _in_transaction(self, *, writing: bool, wait: float) -> Iterator[PostgresTx]:
        # A thread already in a transaction goes on in it, as on SQLite's one connection: a
        # read inside a write sees what the write changed, and a write inside a write does not
        # wait for the lock its own transaction holds.
        current: _Current | None = getattr(self._local, "current", None)
        if current is not None:
            if writing and not current.writing:
                raise RuntimeError("a write inside a read: open the write first")
            yield current.tx
            return
        with self._pool.connection(timeout=wait) as conn:
            # Each begun in one round trip (a write with its lock): every round trip may wait
            # for the interpreter's lock once the answer is in, while the writers' lock is held.
            conn.execute(BEGIN_WRITE if writing else BEGIN_READ)
            self._local.current = _Current(conn, PostgresTx(conn), writing)
            try:
                yield self._local.current.tx
            except BaseException:
                # A connection the server dropped cannot roll back (nor need to): what raised
                # is what the caller must hear.
                with contextlib.suppress(psycopg.Error):
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
        with self._transaction(writing=False, wait=PING_WAIT) as tx:
            tx.value("SELECT 1")

    def close(self) -> None:
        self._pool.close()
