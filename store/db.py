"""The bot's state in one SQLite file, through sqlite-utils.

Every state change is an atomic compare-and-set: `UPDATE … WHERE state = <expected>`, and the
caller learns whether it won. That is what makes a double click create one operation.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot.model import OperationSpec, format_api_time
from store.records import OperationRecord, OutboxEvent, RequestRecord, is_final, is_running
from store.schema import migrate


def _now_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


# The conversation an outbox event belongs to (o: outbox, r: requests): the requester in
# private, or the request's public thread. A request not yet in public has no thread of its
# own, so its id stands in.
_THREAD = (
    "CASE WHEN substr(o.kind, 1, 7) = 'private' THEN 'private:' || o.request_id "
    "ELSE 'thread:' || coalesce(r.channel, '') || ':' "
    "|| coalesce(r.thread_ts, r.status_ts, o.request_id) END"
)
_TO_DELIVER = "o.delivered_at IS NULL AND o.given_up_at IS NULL"
_EVENTS = f"SELECT o.*, {_THREAD} AS thread FROM outbox o JOIN requests r ON r.id = o.request_id"


class Store:
    """One connection shared by the bot's threads behind a lock: one writer, no lock upgrades."""

    def __init__(self, *, path: str | Path) -> None:
        self.path = str(path)
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
        self.db = Database(conn)
        self._lock = threading.RLock()
        with self._lock:
            if self.path != ":memory:":
                self.db.enable_wal()
            self.db.execute("PRAGMA busy_timeout = 10000")
            self.db.execute("PRAGMA foreign_keys = ON")
            migrate(self.db)

    def backup(self, path: str | Path) -> None:
        """A consistent copy of the live database (SQLite's online backup), safe while the
        bot runs."""
        target = sqlite3.connect(str(path))
        try:
            with self._lock:
                self.db.conn.backup(target)
        finally:
            target.close()

    def close(self) -> None:
        with self._lock:
            self.db.close()

    @contextmanager
    def _write(self) -> Iterator[Database]:
        # BEGIN IMMEDIATE takes the write lock up front: a read-then-write transaction under WAL
        # would otherwise fail at once with "database is locked" if another process writes.
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.rollback()
                raise
            self.db.execute("COMMIT")

    def _cas(self, db: Database, sql: str, params: Sequence[Any]) -> bool:
        return db.execute(sql, params).rowcount == 1

    # --- requests -------------------------------------------------------------------------

    def create_request(
        self,
        *,
        specs: Sequence[OperationSpec],
        requester: str,
        surface: str,
        text: str,
        tz: str,
        immediate: bool,
        notes: Sequence[str],
        channel: str | None,
        thread_ts: str | None,
        response_url: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> RequestRecord:
        request_id = "r_" + secrets.token_hex(6)
        with self._write() as db:
            db["requests"].insert(
                {
                    "id": request_id,
                    "state": "pending",
                    "requester": requester,
                    "surface": surface,
                    "text": text,
                    "tz": tz,
                    "immediate": int(immediate),
                    "notes": json.dumps(list(notes)),
                    "channel": channel,
                    "thread_ts": thread_ts,
                    "response_url": response_url,
                    "created_at": _now_text(now),
                    "expires_at": _now_text(expires_at),
                }
            )
            db["operations"].insert_all(
                {
                    "request_id": request_id,
                    "seq": seq,
                    "device_name": spec.device_name,
                    "operation_type": spec.operation_type,
                    "parameters": json.dumps(spec.parameters),
                    "scheduled_at": format_api_time(spec.scheduled_at),
                    "state": "draft",
                    "final": 0,
                    "created_at": _now_text(now),
                    "updated_at": _now_text(now),
                }
                for seq, spec in enumerate(specs)
            )
        return self.get_request(request_id)  # type: ignore[return-value]

    def get_request(self, request_id: str) -> RequestRecord | None:
        with self._lock:
            rows = list(self.db.query("SELECT * FROM requests WHERE id = ?", [request_id]))
            if not rows:
                return None
            ops = [
                OperationRecord.from_row(r)
                for r in self.db.query(
                    "SELECT * FROM operations WHERE request_id = ? ORDER BY seq", [request_id]
                )
            ]
        return RequestRecord.from_row(rows[0], ops)

    def claim_confirmation(self, request_id: str, *, user: str, now: datetime) -> bool:
        """pending → confirming, for the requester only and before expiry. True: you won."""
        with self._write() as db:
            return self._cas(
                db,
                "UPDATE requests SET state = 'confirming', confirmed_by = ?, confirmed_at = ? "
                "WHERE id = ? AND state = 'pending' AND requester = ? AND expires_at > ?",
                [user, _now_text(now), request_id, user, _now_text(now)],
            )

    def release_confirmation(self, request_id: str) -> bool:
        """confirming → pending: the public thread could not be opened, so nothing was done."""
        with self._write() as db:
            return self._cas(
                db,
                "UPDATE requests SET state = 'pending', confirmed_by = NULL, confirmed_at = NULL "
                "WHERE id = ? AND state = 'confirming'",
                [request_id],
            )

    def mark_confirmed(
        self,
        request_id: str,
        *,
        channel: str | None,
        status_ts: str | None,
        scheduled_at: datetime | None,
        now: datetime,
    ) -> bool:
        """confirming → confirmed, the thread known; drafts become operations to send.

        `scheduled_at` replaces every operation's time (an immediate request runs when
        confirmed, not when it was typed).
        """
        with self._write() as db:
            if not self._cas(
                db,
                "UPDATE requests SET state = 'confirmed', channel = coalesce(?, channel), "
                "status_ts = ? WHERE id = ? AND state = 'confirming'",
                [channel, status_ts, request_id],
            ):
                return False
            sets, params = "state = 'new', updated_at = ?", [_now_text(now)]
            if scheduled_at is not None:
                sets += ", scheduled_at = ?"
                params.append(format_api_time(scheduled_at))
            db.execute(
                f"UPDATE operations SET {sets} WHERE request_id = ? AND state = 'draft'",
                [*params, request_id],
            )
            return True

    def end_request(self, request_id: str, *, to: str, user: str | None) -> bool:
        """pending → cancelled (by its requester) or expired (user None)."""
        sql = "UPDATE requests SET state = ? WHERE id = ? AND state = 'pending'"
        params: list[Any] = [to, request_id]
        if user is not None:
            sql += " AND requester = ?"
            params.append(user)
        with self._write() as db:
            return self._cas(db, sql, params)

    # --- operations -----------------------------------------------------------------------

    def start_sending(self, operation_id: int, *, now: datetime) -> bool:
        """new → sending: only the winner may POST this operation."""
        with self._write() as db:
            return self._cas(
                db,
                "UPDATE operations SET state = 'sending', updated_at = ? "
                "WHERE id = ? AND state = 'new'",
                [_now_text(now), operation_id],
            )

    def record_submitted(
        self,
        operation_id: int,
        *,
        api_id: str,
        status: str,
        estimated_duration: int | None,
        now: datetime,
        announce: dict[str, Any],
    ) -> bool:
        with self._write() as db:
            if not self._cas(
                db,
                "UPDATE operations SET state = 'submitted', api_id = ?, status = ?, final = ?, "
                "estimated_duration = ?, updated_at = ? WHERE id = ? AND state = 'sending'",
                [
                    api_id,
                    status,
                    int(is_final(status)),
                    estimated_duration,
                    _now_text(now),
                    operation_id,
                ],
            ):
                return False
            db["status_changes"].insert(
                {
                    "operation_id": operation_id,
                    "old_status": None,
                    "new_status": status,
                    "at": _now_text(now),
                }
            )
            self._enqueue(db, announce, now)
            return True

    def record_unsent(
        self,
        operation_id: int,
        *,
        state: str,
        error: str,
        now: datetime,
        announce: dict[str, Any],
    ) -> bool:
        """sending → rejected | unknown, with the sentence that explains it."""
        with self._write() as db:
            if not self._cas(
                db,
                "UPDATE operations SET state = ?, error = ?, final = ?, updated_at = ?, "
                "unknown_since = CASE WHEN ? = 'unknown' THEN ? END "
                "WHERE id = ? AND state = 'sending'",
                [
                    state,
                    error,
                    int(state == "rejected"),
                    _now_text(now),
                    state,
                    _now_text(now),
                    operation_id,
                ],
            ):
                return False
            self._enqueue(db, announce, now)
            return True

    def record_status(
        self,
        operation_id: int,
        *,
        old: str | None,
        new: str,
        now: datetime,
        announce: dict[str, Any],
    ) -> bool:
        """old → new as the API reported it, announced in the same transaction."""
        with self._write() as db:
            if not self._cas(
                db,
                "UPDATE operations SET status = ?, final = ?, updated_at = ?, "
                "running_since = CASE WHEN ? THEN coalesce(running_since, ?) "
                "ELSE running_since END "
                "WHERE id = ? AND status IS ? AND state = 'submitted'",
                [
                    new,
                    int(is_final(new)),
                    _now_text(now),
                    int(is_running(new)),
                    _now_text(now),
                    operation_id,
                    old,
                ],
            ):
                return False
            db["status_changes"].insert(
                {
                    "operation_id": operation_id,
                    "old_status": old,
                    "new_status": new,
                    "at": _now_text(now),
                }
            )
            self._enqueue(db, announce, now)
            return True

    def operations_to_poll(self) -> list[OperationRecord]:
        with self._lock:
            return [
                OperationRecord.from_row(r)
                for r in self.db.query(
                    "SELECT * FROM operations WHERE state = 'submitted' AND final = 0 ORDER BY id"
                )
            ]

    def operations_to_send(self, *, now: datetime) -> list[OperationRecord]:
        """Confirmed operations not yet sent whose (re)try time has come."""
        with self._lock:
            return [
                OperationRecord.from_row(r)
                for r in self.db.query(
                    "SELECT * FROM operations WHERE state = 'new' "
                    "AND (next_send_at IS NULL OR next_send_at <= ?) ORDER BY id",
                    [_now_text(now)],
                )
            ]

    def operations_in_state(self, state: str) -> list[OperationRecord]:
        with self._lock:
            return [
                OperationRecord.from_row(r)
                for r in self.db.query(
                    "SELECT * FROM operations WHERE state = ? ORDER BY id", [state]
                )
            ]

    def requeue(
        self, operation_id: int, *, error: str, not_before: datetime, now: datetime
    ) -> bool:
        """sending → new, to be tried again later: the API surely did not create it."""
        with self._write() as db:
            return self._cas(
                db,
                "UPDATE operations SET state = 'new', error = ?, next_send_at = ?, "
                "send_attempts = send_attempts + 1, updated_at = ? "
                "WHERE id = ? AND state = 'sending'",
                [error, _now_text(not_before), _now_text(now), operation_id],
            )

    def resolve_unknown(
        self,
        operation_id: int,
        *,
        now: datetime,
        announce: dict[str, Any],
        adopt: dict[str, Any] | None = None,
        give_up: str | None = None,
    ) -> bool:
        """unknown → submitted (adopting the API's operation), new (surely absent: send it
        again) or rejected (given up); announced in the same transaction."""
        with self._write() as db:
            if adopt is not None:
                won = self._cas(
                    db,
                    "UPDATE operations SET state = 'submitted', api_id = ?, status = ?, "
                    "final = ?, estimated_duration = ?, error = NULL, updated_at = ? "
                    "WHERE id = ? AND state = 'unknown'",
                    [
                        adopt["api_id"],
                        adopt["status"],
                        int(is_final(adopt["status"])),
                        adopt.get("estimated_duration"),
                        _now_text(now),
                        operation_id,
                    ],
                )
                if won:
                    db["status_changes"].insert(
                        {
                            "operation_id": operation_id,
                            "old_status": None,
                            "new_status": adopt["status"],
                            "at": _now_text(now),
                        }
                    )
            elif give_up is not None:
                won = self._cas(
                    db,
                    "UPDATE operations SET state = 'rejected', final = 1, error = ?, "
                    "updated_at = ? WHERE id = ? AND state IN ('unknown', 'new')",
                    [give_up, _now_text(now), operation_id],
                )
            else:
                won = self._cas(
                    db,
                    "UPDATE operations SET state = 'new', next_send_at = NULL, "
                    "send_attempts = send_attempts + 1, updated_at = ? "
                    "WHERE id = ? AND state = 'unknown'",
                    [_now_text(now), operation_id],
                )
            if won:
                self._enqueue(db, announce, now)
            return won

    def adopted_api_ids(self) -> set[str]:
        with self._lock:
            return {
                r["api_id"]
                for r in self.db.query("SELECT api_id FROM operations WHERE api_id IS NOT NULL")
            }

    def recover_after_crash(self, *, now: datetime, error: str) -> tuple[int, list[str]]:
        """At start-up: a POST that was in flight has an unknown outcome; a confirmation that
        was half-way goes back to pending; `error` says why, on each such operation. Returns
        (operations now unknown, requests released).
        """
        with self._write() as db:
            unknown = db.execute(
                "UPDATE operations SET state = 'unknown', unknown_since = ?, updated_at = ?, "
                "error = ? WHERE state = 'sending'",
                [_now_text(now), _now_text(now), error],
            ).rowcount
            released = [
                r[0]
                for r in db.execute("SELECT id FROM requests WHERE state = 'confirming'").fetchall()
            ]
            db.execute(
                "UPDATE requests SET state = 'pending', confirmed_by = NULL, confirmed_at = NULL "
                "WHERE state = 'confirming'"
            )
        return unknown, released

    # --- the poller's bookkeeping -----------------------------------------------------------

    def check_failed(
        self, operation_id: int, *, now: datetime, announce_after: float, announce: dict
    ) -> bool:
        """Remember since when checks fail; announce once when that is longer than
        `announce_after` seconds. True when this call announced."""
        with self._write() as db:
            db.execute(
                "UPDATE operations SET check_failing_since = coalesce(check_failing_since, ?) "
                "WHERE id = ?",
                [_now_text(now), operation_id],
            )
            row = db.execute(
                "SELECT check_failing_since, outage_announced FROM operations WHERE id = ?",
                [operation_id],
            ).fetchone()
            since = datetime.fromisoformat(row[0])
            if row[1] or (now - since).total_seconds() < announce_after:
                return False
            db.execute("UPDATE operations SET outage_announced = 1 WHERE id = ?", [operation_id])
            self._enqueue(db, announce, now)
            return True

    def check_succeeded(self, operation_id: int, *, now: datetime, announce: dict) -> bool:
        """Checks work again; if an outage was announced, say that contact is back."""
        with self._write() as db:
            announced = self._cas(
                db,
                "UPDATE operations SET check_failing_since = NULL, outage_announced = 0 "
                "WHERE id = ? AND outage_announced = 1",
                [operation_id],
            )
            if announced:
                self._enqueue(db, announce, now)
            else:
                db.execute(
                    "UPDATE operations SET check_failing_since = NULL WHERE id = ?", [operation_id]
                )
            return announced

    def warn_overdue(self, operation_id: int, *, now: datetime, announce: dict) -> bool:
        with self._write() as db:
            won = self._cas(
                db,
                "UPDATE operations SET overdue_warned = 1 WHERE id = ? AND overdue_warned = 0",
                [operation_id],
            )
            if won:
                self._enqueue(db, announce, now)
            return won

    def first_time(self, key: str, *, now: datetime) -> bool:
        """True the first time `key` (a Slack event id) is seen; False for a redelivery."""
        with self._write() as db:
            # Slack retries within minutes; a day of keys is plenty and keeps the table small.
            db.execute("DELETE FROM seen_events WHERE at < ?", [_now_text(now - timedelta(days=1))])
            return (
                db.execute(
                    "INSERT OR IGNORE INTO seen_events (key, at) VALUES (?, ?)",
                    [key, _now_text(now)],
                ).rowcount
                == 1
            )

    def status_history(self, operation_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return list(
                self.db.query(
                    "SELECT old_status, new_status, at FROM status_changes "
                    "WHERE operation_id = ? ORDER BY id",
                    [operation_id],
                )
            )

    # --- outbox ---------------------------------------------------------------------------

    def _enqueue(self, db: Database, announce: dict[str, Any], now: datetime) -> None:
        data = dict(announce)
        db.execute(
            "UPDATE requests SET root_version = root_version + 1 WHERE id = ?",
            [data["request_id"]],
        )
        db["outbox"].insert(
            {
                "request_id": data.pop("request_id"),
                "kind": data.pop("kind"),
                "data": json.dumps(data),
                "created_at": _now_text(now),
                "attempts": 0,
            }
        )

    def enqueue(self, announce: dict[str, Any], *, now: datetime) -> None:
        with self._write() as db:
            self._enqueue(db, announce, now)

    def pending_outbox(self, *, limit: int = 200) -> list[OutboxEvent]:
        """Everything still to deliver, oldest first."""
        return self._events(f"{_EVENTS} WHERE {_TO_DELIVER} ORDER BY o.id LIMIT ?", [limit])

    def next_in_each_thread(self, *, limit: int = 200) -> list[OutboxEvent]:
        """The oldest event still to deliver of each thread, oldest first: what may go out now.
        A thread whose messages cannot go out holds up only itself, however many it has
        waiting."""
        heads = (
            f"SELECT min(o.id) FROM outbox o JOIN requests r ON r.id = o.request_id "
            f"WHERE {_TO_DELIVER} GROUP BY {_THREAD}"
        )
        return self._events(f"{_EVENTS} WHERE o.id IN ({heads}) ORDER BY o.id LIMIT ?", [limit])

    def _events(self, sql: str, params: Sequence[Any]) -> list[OutboxEvent]:
        with self._lock:
            return [
                OutboxEvent(
                    id=r["id"],
                    request_id=r["request_id"],
                    kind=r["kind"],
                    data=json.loads(r["data"]),
                    attempts=r["attempts"],
                    thread=r["thread"],
                )
                for r in self.db.query(sql, params)
            ]

    def give_up_delivery(
        self,
        event_id: int,
        *,
        error: str,
        now: datetime,
        notice: dict[str, Any] | None = None,
    ) -> bool:
        """Never to be tried again: Slack will not take it. `notice`, an announcement for the
        requester, is queued in the same transaction, once per request and kind however many
        events are given up."""
        with self._write() as db:
            if not self._cas(
                db,
                "UPDATE outbox SET given_up_at = ?, last_error = ? "
                "WHERE id = ? AND delivered_at IS NULL AND given_up_at IS NULL",
                [_now_text(now), error[:500], event_id],
            ):
                return False
            if (
                notice is not None
                and not db.execute(
                    "SELECT 1 FROM outbox WHERE request_id = ? AND kind = ?",
                    [notice["request_id"], notice["kind"]],
                ).fetchone()
            ):
                self._enqueue(db, notice, now)
            return True

    def mark_delivered(self, event_id: int, *, now: datetime) -> bool:
        with self._write() as db:
            return self._cas(
                db,
                "UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
                [_now_text(now), event_id],
            )

    def stale_roots(self) -> list[tuple[str, int]]:
        """Requests whose public message is older than their state: (id, version to show)."""
        with self._lock:
            return [
                (r["id"], r["root_version"])
                for r in self.db.query(
                    "SELECT id, root_version FROM requests "
                    "WHERE root_version > root_shown AND status_ts IS NOT NULL "
                    "AND root_given_up_at IS NULL ORDER BY id"
                )
            ]

    def give_up_root(self, request_id: str, *, now: datetime) -> None:
        """The public status message can no longer be edited (deleted, channel gone): stop."""
        with self._write() as db:
            db.execute(
                "UPDATE requests SET root_given_up_at = coalesce(root_given_up_at, ?) WHERE id = ?",
                [_now_text(now), request_id],
            )

    def root_shown(self, request_id: str, *, version: int) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE requests SET root_shown = max(root_shown, ?) WHERE id = ?",
                [version, request_id],
            )

    def mark_attempt_started(self, event_id: int) -> None:
        """Counted before sending: after a crash mid-send, attempts > 0 says the message may
        have gone out, so the sender checks before sending it again."""
        with self._write() as db:
            db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", [event_id])

    def mark_attempt_failed(self, event_id: int, *, error: str) -> None:
        with self._write() as db:
            db.execute("UPDATE outbox SET last_error = ? WHERE id = ?", [error[:500], event_id])
