"""The database file: upgraded in place from an older schema, backed up while in use."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from store import Store
from store.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parent.parent


def test_a_file_made_by_the_first_schema_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(path))
    MIGRATIONS.apply(old, stop_before="0002_recovery")
    old["requests"].insert(
        {
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
    )
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
        applied = [r["name"] for r in store.db.query("SELECT name FROM _sqlite_migrations")]
        assert applied == ["0001_initial", "0002_recovery", "0003_delivery"]
        (op,) = store.operations_to_poll()
        assert (op.api_id, op.status, op.send_attempts) == ("txn_1", "running", 0)
        request = store.get_request("r_old")
        assert request is not None and request.state == "confirmed"
        assert "seen_events" in store.db.table_names()
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
