"""PostgreSQL's schema (store/schema_postgres.py) beside SQLite's (store/schema.py): the same
tables, columns, keys and indexes, and triggers that keep the same things; and its migrations
run once, however many replicas start together."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from store.schema import migrate
from store.schema_postgres import MIGRATION_LOCK, MIGRATIONS, migrate_postgres
from tests.conftest import eventually
from tests.postgres import PostgresServer

# TRUNCATE, which SQLite has not, is refused on PostgreSQL too (the audit is append-only).
PG_ONLY_TRIGGERS = {("audit", "audit_no_truncate")}
ALL = [name for name, _ in MIGRATIONS]  # every migration, in order
TYPES = {"TEXT": "text", "INTEGER": "integer", "REAL": "real"}
PG_TYPES = {"text": "text", "bigint": "integer", "double precision": "real"}


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = Database(sqlite3.connect(tmp_path / "opsbot.db", isolation_level=None))
    db.execute("PRAGMA foreign_keys = ON")  # as the store opens it
    migrate(db)
    yield db.conn
    db.conn.close()


@pytest.fixture
def pg(pg_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert migrate_postgres(conn) == ALL
        yield conn


# ---------------------------------------------------------------------------- what each has


def lite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite_%' AND name <> '_sqlite_migrations' ORDER BY name"
    )
    return [name for (name,) in rows]


def pg_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename <> '_opsbot_migrations' ORDER BY tablename COLLATE \"C\""
    )
    return [name for (name,) in rows]


def lite_columns(conn: sqlite3.Connection, table: str) -> list[tuple[Any, ...]]:
    """(name, type, not null, default) in order; a key's own NOT NULL is the key's."""
    return [
        (name, TYPES[kind], bool(notnull) and not pk, default)
        for _, name, kind, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})")
    ]


def pg_columns(conn: psycopg.Connection, table: str) -> list[tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, NULL), a.attnotnull AND NOT EXISTS ("
        "  SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary"
        "  AND a.attnum = ANY (i.indkey)), pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d "
        "ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum) "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (table,),
    )
    return [(name, PG_TYPES[kind], notnull, default) for name, kind, notnull, default in rows]


def lite_keys(conn: sqlite3.Connection, table: str) -> tuple[list[str], set[tuple[str, ...]]]:
    """The primary key's columns, and each foreign key as (column, table, column)."""
    info = sorted(
        (pk, name) for _, name, _, _, _, pk in conn.execute(f"PRAGMA table_info({table})")
    )
    foreign = {
        (row[3], row[2], row[4]) for row in conn.execute(f"PRAGMA foreign_key_list({table})")
    }
    return [name for pk, name in info if pk], foreign


def pg_keys(conn: psycopg.Connection, table: str) -> tuple[list[str], set[tuple[str, ...]]]:
    primary = conn.execute(
        "SELECT a.attname FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, n) "
        "JOIN pg_attribute a ON a.attnum = k.attnum "
        "WHERE i.indrelid = %s::regclass AND i.indisprimary AND a.attrelid = i.indrelid "
        "ORDER BY k.n",
        (table,),
    )
    foreign = conn.execute(
        "SELECT a.attname, c.confrelid::regclass::text, fa.attname FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1] "
        "WHERE c.conrelid = %s::regclass AND c.contype = 'f'",
        (table,),
    )
    return [name for (name,) in primary], {tuple(row) for row in foreign}


def normal(sql: str) -> str:
    """An index's column or predicate in one spelling for both: PostgreSQL's casts, its
    `= ANY (ARRAY[…])` for IN, parentheses, quotes and spaces away."""
    sql = sql.lower().replace("::text", "").replace("::bigint", "")
    sql = re.sub(r"= any \(array\[(.*?)\]\)", r"in (\1)", sql)
    return re.sub(r"[\s()\"]", "", sql)


def lite_indexes(conn: sqlite3.Connection) -> dict[str, tuple[Any, ...]]:
    """name: (table, unique, columns, predicate) of the indexes made on purpose."""
    found = {}
    for table in lite_tables(conn):
        for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
            if origin == "pk":
                continue
            (sql,) = conn.execute(
                "SELECT sql FROM sqlite_master WHERE name = ?", (name,)
            ).fetchone()
            match = re.fullmatch(r".*? ON \"?\w+\"?\s*\((.*?)\)(?: WHERE (.*))?", sql, re.S)
            assert match, sql
            columns, predicate = match.groups()
            assert bool(partial) == (predicate is not None)
            parts = [normal(c) for c in re.split(r",(?![^(]*\))", columns)]
            found[name] = (table, bool(unique), parts, normal(predicate or ""))
    return found


def pg_indexes(conn: psycopg.Connection) -> dict[str, tuple[Any, ...]]:
    rows = conn.execute(
        "SELECT c.relname, t.relname, i.indisunique, i.indnatts, i.indexrelid, "
        "coalesce(pg_get_expr(i.indpred, i.indrelid, true), '') "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = 'public' AND NOT i.indisprimary AND t.relname <> '_opsbot_migrations'"
    ).fetchall()
    found = {}
    for name, table, unique, count, oid, predicate in rows:
        parts = [
            normal(conn.execute("SELECT pg_get_indexdef(%s, %s, true)", (oid, k)).fetchone()[0])
            for k in range(1, count + 1)
        ]
        found[name] = (table, unique, parts, normal(predicate))
    return found


def test_the_same_tables_columns_and_keys(lite: sqlite3.Connection, pg: psycopg.Connection) -> None:
    assert pg_tables(pg) == lite_tables(lite)
    for table in lite_tables(lite):
        assert pg_columns(pg, table) == lite_columns(lite, table), table
        assert pg_keys(pg, table) == lite_keys(lite, table), table
    # Text compares byte by byte, as SQLite's: a time's `<` and ORDER BY mean the same.
    other = pg.execute(
        "SELECT table_name, column_name, collation_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND data_type = 'text' AND collation_name IS DISTINCT "
        "FROM 'C'"
    ).fetchall()
    assert other == []
    identities = pg.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND column_name = 'id' AND is_identity = 'YES' ORDER BY 1"
    ).fetchall()
    assert [t for (t,) in identities] == [
        "audit",
        "freezes",
        "operations",
        "outbox",
        "status_changes",
    ]


def test_the_same_indexes_unique_and_partial(
    lite: sqlite3.Connection, pg: psycopg.Connection
) -> None:
    expected = lite_indexes(lite)
    assert len(expected) == 22  # every index of store/schema.py, so that none is missed here
    assert pg_indexes(pg) == expected


def test_the_same_triggers(lite: sqlite3.Connection, pg: psycopg.Connection) -> None:
    ours = set(lite.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"))
    theirs = set(
        pg.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal"
        ).fetchall()
    )
    assert theirs == ours | PG_ONLY_TRIGGERS


# ---------------------------------------------------------------------------- what they do


def run(lite: sqlite3.Connection, pg: psycopg.Connection, sql: str, *params: Any) -> None:
    lite.execute(sql, params)
    pg.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]


def both(lite: sqlite3.Connection, pg: psycopg.Connection, sql: str) -> tuple[list, list]:
    return (
        [tuple(row) for row in lite.execute(sql)],
        [tuple(row) for row in pg.execute(sql)],  # type: ignore[arg-type]
    )


def request(lite: sqlite3.Connection, pg: psycopg.Connection, rid: str, **fields: Any) -> None:
    row = {"id": rid, "state": "confirmed", "requester": "U1", "surface": "command"}
    row |= {"created_at": "2026-12-06T10:00:00.000+00:00", **fields}
    names = ", ".join(row)
    run(
        lite,
        pg,
        f"INSERT INTO requests ({names}) VALUES ({', '.join('?' * len(row))})",
        *row.values(),
    )


def operation(
    lite: sqlite3.Connection, pg: psycopg.Connection, rid: str, seq: int, **fields: Any
) -> None:
    row = {"request_id": rid, "seq": seq, "device_name": f"server-{seq}"}
    row |= {"operation_type": "restart", "state": "submitted", "final": 0, **fields}
    names = ", ".join(row)
    run(
        lite,
        pg,
        f"INSERT INTO operations ({names}) VALUES ({', '.join('?' * len(row))})",
        *row.values(),
    )


def test_the_triggers_keep_the_same_counts_threads_and_open_flags(
    lite: sqlite3.Connection, pg: psycopg.Connection
) -> None:
    request(lite, pg, "r1", channel="C1")
    request(lite, pg, "r2", channel="C2", thread_ts="111.1")
    # Operations by their status word, lowered and trimmed; ASCII letters only are lowered.
    operation(lite, pg, "r1", 1, api_id="a1", status="Running")
    operation(lite, pg, "r1", 2, api_id="a2", status=" running ")
    operation(lite, pg, "r1", 3, status="running")  # never sent: not counted
    operation(lite, pg, "r2", 1, api_id="a3", status="ÉCHOUÉ")
    operation(lite, pg, "r2", 2, api_id="a4")
    run(lite, pg, "UPDATE operations SET status = 'RUNNING' WHERE api_id = 'a1'")  # same word
    run(lite, pg, "UPDATE operations SET status = 'completed', final = 1 WHERE api_id = 'a2'")
    run(lite, pg, "UPDATE operations SET api_id = 'a5' WHERE request_id = 'r1' AND seq = 3")
    run(lite, pg, "UPDATE operations SET api_id = NULL WHERE api_id = 'a4'")
    run(lite, pg, "DELETE FROM operations WHERE api_id = 'a3'")
    ours, theirs = both(lite, pg, "SELECT word, operations FROM operation_statuses ORDER BY word")
    assert theirs == ours
    assert dict(ours) == {"running": 2, "completed": 1, "ÉchouÉ": 0, "": 0}

    # The audit's lines by event; the trail cannot be changed.
    for event in ("requested", "confirmed", "requested", None):
        run(lite, pg, "INSERT INTO audit (at, event, actor) VALUES (?, ?, 'U1')", "t", event)
    ours, theirs = both(lite, pg, "SELECT event, lines FROM audit_events ORDER BY event")
    assert theirs == ours == [("", 1), ("confirmed", 1), ("requested", 2)]
    for change in ("UPDATE audit SET actor = 'U2'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            lite.execute(change)
        with pytest.raises(psycopg.IntegrityError, match="append-only"):
            pg.execute(change)  # type: ignore[arg-type]
    with pytest.raises(psycopg.IntegrityError, match="append-only"):
        pg.execute("TRUNCATE audit")

    # Each message's channel and thread as its request stands, and its thread's name follows
    # the request's public message once posted (the delivered ones keep theirs).
    for rid, kind in [("r1", "root"), ("r1", "private_confirm"), ("r2", "reply"), ("r1", "reply")]:
        run(lite, pg, "INSERT INTO outbox (request_id, kind, data) VALUES (?, ?, '{}')", rid, kind)
    run(lite, pg, "UPDATE outbox SET delivered_at = 't' WHERE id = 1")
    run(lite, pg, "UPDATE requests SET status_ts = '222.2' WHERE id = 'r1'")
    run(lite, pg, "INSERT INTO outbox (request_id, kind, data) VALUES (NULL, 'root', '{}')")
    ours, theirs = both(lite, pg, "SELECT id, channel, thread FROM outbox ORDER BY id")
    assert theirs == ours
    assert ours == [
        (1, "C1", "thread:C1:r1"),
        (2, None, "private:r1"),
        (3, "C2", "thread:C2:111.1"),
        (4, "C1", "thread:C1:222.2"),
        (5, None, None),
    ]

    # Whether a request has an operation still open, taken when its version moves on.
    run(lite, pg, "UPDATE operations SET final = 1 WHERE request_id = 'r2'")
    run(lite, pg, "UPDATE requests SET root_version = root_version + 1")
    ours, theirs = both(lite, pg, "SELECT id, root_open FROM requests ORDER BY id")
    assert theirs == ours == [("r1", 1), ("r2", 0)]

    # The same foreign keys refuse the same rows.
    with pytest.raises(sqlite3.IntegrityError):
        lite.execute("INSERT INTO approvals (request_id, \"user\") VALUES ('r9', 'U1')")
    with pytest.raises(psycopg.IntegrityError):
        pg.execute("INSERT INTO approvals (request_id, \"user\") VALUES ('r9', 'U1')")


WORDS = st.sampled_from(["running", "Running ", " FAILED", "failed", "Échoué", "", None])
CHANGES = st.lists(
    st.tuples(
        st.sampled_from(["insert", "status", "api_id", "forget", "delete"]),
        st.integers(1, 4),
        WORDS,
    ),
    max_size=12,
)


# The fixtures last the whole test: each example empties the tables it uses first.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=CHANGES)
def test_operations_are_counted_alike_whatever_the_changes(
    lite: sqlite3.Connection, pg: psycopg.Connection, changes: list[tuple[str, int, str | None]]
) -> None:
    for conn in (lite, pg):
        conn.execute("DELETE FROM operations")
        conn.execute("DELETE FROM operation_statuses")
        conn.execute("DELETE FROM requests")
    request(lite, pg, "r1")
    for change, seq, word in changes:
        if change == "insert":
            run(
                lite,
                pg,
                "INSERT INTO operations (request_id, seq, device_name, operation_type, "
                "state, api_id, status) VALUES ('r1', ?, 'd', 't', 'new', ?, ?) "
                "ON CONFLICT DO NOTHING",
                seq,
                f"a{seq}" if word != "" else None,
                word,
            )
        elif change == "status":
            run(lite, pg, "UPDATE operations SET status = ? WHERE seq = ?", word, seq)
        elif change == "api_id":
            run(lite, pg, "UPDATE operations SET api_id = ? WHERE seq = ?", f"b{seq}", seq)
        elif change == "forget":
            run(
                lite, pg, "UPDATE operations SET api_id = NULL, status = ? WHERE seq = ?", word, seq
            )
        else:
            run(lite, pg, "DELETE FROM operations WHERE seq = ?", seq)
    query = "SELECT word, operations FROM operation_statuses WHERE operations <> 0 ORDER BY word"
    ours, theirs = both(lite, pg, query)
    assert theirs == ours
    # And what they keep is the truth: what a scrape used to count by grouping.
    truth = (
        "SELECT lower(trim(coalesce(status, ''))), count(*) FROM operations "
        "WHERE api_id IS NOT NULL GROUP BY 1 ORDER BY 1"
    )
    assert both(lite, pg, truth) == (ours, ours)


# ---------------------------------------------------------------------------- migrating


def test_a_second_run_applies_nothing(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        assert migrate_postgres(conn) == ALL
        tables = pg_tables(conn)
        assert migrate_postgres(conn) == []
        assert pg_tables(conn) == tables
        names = conn.execute("SELECT name FROM _opsbot_migrations ORDER BY name")
        assert [name for (name,) in names] == ALL


def test_two_migrators_starting_together_migrate_once(pg_url: str) -> None:
    """Two replicas start at once on a fresh database: one migrates, the other waits for it
    and finds nothing to do. The lock is held here until both are waiting for it, so that
    they do start together."""
    results: dict[int, list[str] | BaseException] = {}

    def migrator(n: int) -> None:
        try:
            with psycopg.connect(pg_url) as conn:
                results[n] = migrate_postgres(conn)
        except BaseException as exc:  # reported by the assertion below
            results[n] = exc

    with psycopg.connect(pg_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        threads = [threading.Thread(target=migrator, args=(n,)) for n in (1, 2)]
        for thread in threads:
            thread.start()
        waiting = (
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        eventually(
            lambda: holder.execute(waiting).fetchone()[0] == 2, what="both migrators waiting"
        )
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(results.values(), key=len) == [[], ALL], results
        assert holder.execute("SELECT count(*) FROM _opsbot_migrations").fetchone()[0] == len(ALL)


def test_a_migrated_copy_is_up_to_date(pg_migrated_url: str) -> None:
    with psycopg.connect(pg_migrated_url) as conn:
        assert migrate_postgres(conn) == []
        assert "operations" in pg_tables(conn)


def test_the_server_stops_and_starts_again_keeping_its_data(
    pg_server: PostgresServer, pg_url: str
) -> None:
    """What the replica tests do to take the database away for a while."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x bigint); INSERT INTO kept VALUES (7)")
    pg_server.stop()
    assert not pg_server.running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg_url, connect_timeout=5)
    pg_server.start()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT x FROM kept").fetchall() == [(7,)]


# ---------------------------------------------------------------------------- no PostgreSQL


def pytest_without_postgres(**env: str) -> subprocess.CompletedProcess[str]:
    quiet = {k: v for k, v in os.environ.items() if k not in ("CI", "OPSBOT_REQUIRE_POSTGRES")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "-q"]
        + [f"{__file__}::test_a_second_run_applies_nothing", f"{__file__}::test_the_same_triggers"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**quiet, "OPSBOT_TEST_PG_BINDIR": "/nonexistent", **env},
        cwd=Path(__file__).resolve().parent.parent,
    )


def test_without_postgresql_its_tests_skip_with_one_line_saying_how_to_get_it() -> None:
    done = pytest_without_postgres()
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, done.stdout
    assert "[2]" in skipped[0] and "no PostgreSQL server found" in skipped[0]
    assert "apt-get install postgresql" in skipped[0]


def test_on_ci_a_missing_postgresql_fails_the_run() -> None:
    done = pytest_without_postgres(CI="true")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CI runs these tests: they may not be skipped" in done.stdout
    assert "2 errors" in done.stdout
