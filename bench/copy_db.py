"""`opsbot copy-db` at a long history: a SQLite file of `--operations` operations sent and ended
(tests/history.py's `sent_history`: requests of 20, two audit lines per request and two per
operation) copied into an empty PostgreSQL database of a throwaway server (tests/postgres.py,
the machine's own binaries), timed from the first row read to the commit.

Two baselines, each on another empty database of the same server: the same copy with the
indexes kept up to date row by row (not dropped and built again after the rows), and with
each table's rows sent by `executemany` INSERTs instead of COPY (what copying through the
engine's `Tx.insert_many` would cost).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import store.copy as copy  # noqa: E402
from store import Store  # noqa: E402
from tests.history import sent_history  # noqa: E402
from tests.postgres import throwaway_server  # noqa: E402


def _insert_table(source, conn, table: str) -> None:  # type: ignore[no-untyped-def]
    """The baseline: the table's rows by executemany INSERTs, 1,000 at a time."""
    columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
    names = ", ".join(f'"{column}"' for column in columns)
    marks = ", ".join("%s" for _ in columns)
    rows = source.execute(f"SELECT {names} FROM {table}")
    with conn.cursor() as cursor:
        while batch := rows.fetchmany(1000):
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--operations", type=int, default=100_000)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, throwaway_server() as server:
        path = Path(folder) / "opsbot.db"
        store = Store(path=path)
        sent_history(store.db.conn, args.operations)
        store.close()
        print(f"source_mb: {path.stat().st_size / 1e6:.1f}")
        runs = [("copy", copy._copy_table, copy._drop_indexes)]
        if not args.no_baseline:
            runs.append(("baseline_indexes_kept", copy._copy_table, lambda conn: []))
            runs.append(("baseline_insert", _insert_table, copy._drop_indexes))
        for name, mover, dropper in runs:
            copy._copy_table, copy._drop_indexes = mover, dropper  # type: ignore[assignment]
            with server.database() as url:
                started = time.perf_counter()
                done = copy.copy_to_postgres(path, url)
                wall = time.perf_counter() - started
            print(f"{name}_rows: {done.rows}")
            print(f"{name}_seconds: {done.seconds:.2f}")
            print(f"{name}_rows_per_s: {done.rows / done.seconds:,.0f}")
            print(f"{name}_wall_seconds_with_migrate: {wall:.2f}")


if __name__ == "__main__":
    main()
