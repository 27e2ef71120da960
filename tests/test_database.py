"""The database file: upgraded in place from an older schema, backed up while in use."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from store import Store
from store.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parent.parent


OLD_REQUEST = {
    "id": "r_old",
    "state": "confirmed",
    "requester": "U1",
    "surface": "command",
    "text": "reboot server-01 now",
    "tz": "UTC",
    "immediate": 1,
    "notes": "[]",
    "channel": "C1",
    "status_ts": "1.2",
    "created_at": "2026-01-01T00:00:00+00:00",
    "expires_at": "2026-01-01T00:15:00+00:00",
}


def old_file(path: Path, *, stop_before: str) -> Database:
    """A database file as the schema before `stop_before` made it, holding one request."""
    old = Database(sqlite3.connect(path))
    MIGRATIONS.apply(old, stop_before=stop_before)
    old["requests"].insert(OLD_REQUEST)
    return old


def applied_migrations(store: Store) -> list[str]:
    return [r["name"] for r in store.db.query("SELECT name FROM _sqlite_migrations")]


def test_a_file_made_by_the_first_schema_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = old_file(path, stop_before="0002_recovery")
    old["operations"].insert(
        {
            "request_id": "r_old",
            "seq": 0,
            "device_name": "server-01",
            "operation_type": "reboot",
            "parameters": "{}",
            "scheduled_at": "2026-01-01T00:00:00Z",
            "state": "submitted",
            "api_id": "txn_1",
            "status": "running",
            "final": 0,
        }
    )
    old.conn.commit()
    assert "send_attempts" not in old["operations"].columns_dict
    old.close()

    store = Store(path=path)
    try:
        assert applied_migrations(store) == [
            "0001_initial",
            "0002_recovery",
            "0003_delivery",
            "0004_confirm_without_slack",
            "0005_policy",
            "0006_polling",
            "0007_waves",
            "0008_home",
            "0009_costs",
            "0010_judged_when_acting",
            "0011_outbox_by_channel",
            "0012_leases",
            "0013_channel_turns",
        ]
        (op,) = store.operations_to_poll()
        assert (op.api_id, op.status, op.send_attempts) == ("txn_1", "running", 0)
        # Followed from before the schedule existed: placed by the poller's first round.
        assert (op.next_check_at, op.check_failures) == (None, 0)
        assert [o.id for o in store.operations_unplaced()] == [op.id]
        request = store.get_request("r_old")
        assert request is not None and request.state == "confirmed"
        assert "seen_events" in store.db.table_names()
    finally:
        store.close()


def test_a_file_made_before_giving_up_existed_is_upgraded_and_its_outbox_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v2.db"
    old = old_file(path, stop_before="0003_delivery")
    old["requests"].update("r_old", {"root_version": 1})
    old["outbox"].insert(
        {"request_id": "r_old", "kind": "status", "data": "{}", "created_at": "x", "attempts": 2}
    )
    old.conn.commit()
    old.close()

    store = Store(path=path)
    try:
        assert applied_migrations(store)[-1] == "0013_channel_turns"
        assert store.waiting_channels() == ["C1"]
        (event,) = store.next_in_each_thread("C1")
        assert (event.kind, event.attempts, event.thread) == ("status", 2, "thread:C1:1.2")
        assert [root[:2] for root in store.stale_roots()] == [("r_old", 1)]
    finally:
        store.close()


def test_a_confirmation_left_half_way_by_an_older_version_is_pending_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v3.db"
    old = old_file(path, stop_before="0004_confirm_without_slack")
    old["requests"].update("r_old", {"state": "confirming", "confirmed_by": "U1"})
    old.conn.commit()
    old.close()

    store = Store(path=path)
    try:
        request = store.get_request("r_old")
        assert request is not None
        assert (request.state, request.confirmed_by) == ("pending", None)
        assert request.root_tried_at is None
    finally:
        store.close()


def query_plan(store: Store, sql: str) -> str:
    return " ".join(str(row[-1]) for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}"))


def asked(store: Store, question: Callable[[], object]) -> list[str]:
    """The SQL a store method runs, as SQLite traces it (with its parameters inlined)."""
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    try:
        question()
    finally:
        store.db.conn.set_trace_callback(None)
    return [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def test_what_the_loops_ask_on_every_pass_is_answered_from_an_index(tmp_path: Path) -> None:
    """The outbox and the reconciler ask the store several times a second: from an index,
    each question costs what is pending, not every request and message ever made (a full scan
    of 200,000 requests took 31 ms under the store's lock)."""
    store = Store(path=tmp_path / "plan.db")
    now = datetime.now(UTC)
    try:
        for question, index in (
            (store.stale_roots, "idx_requests_stale_roots"),
            (lambda: store.next_in_each_thread("C1"), "idx_outbox_channels"),
            (store.waiting_channels, "idx_outbox_channels"),
            (store.pending_outbox, "idx_outbox_pending"),
            (lambda: store.operations_watched(now=now), "idx_operations_watched"),
        ):
            (sql,) = asked(store, question)
            assert index in query_plan(store, sql), (sql, query_plan(store, sql))
        for sql, index in (
            (
                "SELECT 1 FROM outbox WHERE request_id = 'r' AND kind = 'k'",
                "idx_outbox_request_kind",
            ),
            (
                "SELECT r.id FROM requests r WHERE r.channel = 'C' "
                "AND r.state IN ('confirmed', 'approving') "
                "AND r.status_ts IS NULL AND NOT EXISTS (SELECT 1 FROM operations o "
                "WHERE o.request_id = r.id AND o.state != 'new')",
                "idx_requests_unposted",
            ),
            (
                "SELECT 1 FROM operations WHERE request_id = 'r' AND final = 0 LIMIT 1",
                "idx_operations_unfinished",
            ),
            (
                "SELECT id FROM requests WHERE state = 'approving' "
                "AND approval_expires_at <= '2026-01-01'",
                "idx_requests_approving",
            ),
            (
                "SELECT * FROM freezes INDEXED BY idx_freezes_active "
                "WHERE lifted_at IS NULL AND until > '2026-01-01'",
                "SEARCH freezes USING INDEX idx_freezes_active (until>?)",
            ),
        ):
            assert index in query_plan(store, sql), (sql, query_plan(store, sql))
    finally:
        store.close()


def test_backup_is_a_consistent_copy_while_the_bot_has_it_open(tmp_path: Path) -> None:
    live = tmp_path / "opsbot.db"
    store = Store(path=live)
    try:
        store.first_time("Ev1", now=datetime.now(UTC))
        result = subprocess.run(
            [sys.executable, "-m", "bot", "backup", str(tmp_path / "copy.db")],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={"OPSBOT_DB": str(live), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
        copy = sqlite3.connect(tmp_path / "copy.db")
        assert copy.execute("SELECT key FROM seen_events").fetchall() == [("Ev1",)]
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        again = subprocess.run(
            [sys.executable, "-m", "bot", "backup", str(tmp_path / "copy.db")],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={"OPSBOT_DB": str(live), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        assert again.returncode == 2 and "exists already" in again.stderr
    finally:
        store.close()
