"""The bot's state in one SQLite file, through sqlite-utils.

Every state change is an atomic compare-and-set: `UPDATE … WHERE state = <expected>`, and the
caller learns whether it won. That is what makes a double click create one operation.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot import waves as waves_of
from bot.model import OperationSpec, format_api_time
from store.leases import LeaseStore
from store.records import (
    APPROVAL_NEEDED,
    APPROVE,
    FINISHED,
    LAPSED,
    OUTSIDE,
    OUTSIDE_DROPPED,
    OUTSIDE_MOVED,
    POLICY_REFUSED,
    REJECT,
    REOPENING,
    ROOT,
    ROUTINE_KINDS,
    STOPPED,
    SUCCEEDED_STATUSES,
    TOLD_ONCE,
    UNSENT,
    WAITING,
    WAVE_CONTINUED,
    WAVE_HALTED,
    WAVE_STARTED,
    WAVES_STOPPED,
    Freeze,
    OperationRecord,
    OutboxEvent,
    RequestRecord,
    Vote,
    is_failure,
    is_final,
    is_running,
)
from store.schema import migrate


def _now_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


_TO_DELIVER = "o.delivered_at IS NULL AND o.given_up_at IS NULL"
_TO_DELIVER_ROW = "delivered_at IS NULL AND given_up_at IS NULL"
# The freezes in force at a time (one parameter): two searches of the index by end, since
# SQLite scans the whole index for an OR of them, and the freezes that ran out stay unlifted
# for ever: they are never read again.
_ACTIVE_FREEZES = (
    "SELECT id FROM freezes INDEXED BY idx_freezes_active WHERE lifted_at IS NULL AND until > ? "
    "UNION ALL SELECT id FROM freezes INDEXED BY idx_freezes_active "
    "WHERE lifted_at IS NULL AND until IS NULL"
)
# A freeze covering the operation being claimed (fnmatch's globs read as SQLite's GLOB, both
# sides lower-cased, as device names are compared ignoring case).
_FROZEN = (
    f"SELECT 1 FROM freezes f WHERE f.id IN ({_ACTIVE_FREEZES}) "
    "AND (f.devices IS NULL OR EXISTS (SELECT 1 FROM json_each(f.devices) d "
    "WHERE lower(operations.device_name) GLOB replace(lower(d.value), '[!', '[^')))"
)
# A message's channel and thread are kept in its row by the database (migration 0011).
_EVENTS = "SELECT o.* FROM outbox o"

# SQLite's widest integer (64 bits, signed): no row id is larger, and a larger Python int is
# refused with an OverflowError, so a number from outside is compared with this first.
LARGEST_ID = 2**63 - 1


# The state an operation goes to when released, sent again or moved by a person: due, or a
# draft while its request waits for an approval (the file in force or a window asks one): it
# goes with the approval.
_TO_SEND = (
    "CASE WHEN (SELECT state FROM requests WHERE id = operations.request_id) = 'approving' "
    "THEN 'draft' ELSE 'new' END"
)


def _retimed(new: str) -> str:
    """SQL that moves an operation to the time `new` (an SQL expression, written twice: give
    its parameters twice). One a person sent again after an unknown outcome keeps the time it
    had in `earlier_times`: a create call for that time may have reached the API, and is
    still recognised in its list by it."""
    return (
        f"earlier_times = CASE WHEN answered_by IS NOT NULL AND scheduled_at != {new} "
        "THEN json_insert(coalesce(earlier_times, '[]'), '$[#]', scheduled_at) "
        f"ELSE earlier_times END, scheduled_at = {new}"
    )


BOT_ACTOR = "opsbot"  # the audit's actor for what the bot does on its own (send, poll, expire)
AUDIT_PAGE = 500


class Store(LeaseStore):
    """One connection shared by the bot's threads behind a lock: one writer, no lock upgrades."""

    def __init__(self, *, path: str | Path, read_only: bool = False) -> None:
        """`read_only`: for looking only (`opsbot audit`): the file must exist, nothing is
        created or migrated, and a write fails."""
        self.path = str(path)
        self._lock = threading.RLock()
        if read_only:
            uri = Path(self.path).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10.0)
            self.db = Database(conn)
            return
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
        self.db = Database(conn)
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

    def ping(self) -> None:
        """A trivial query: raises when the database does not answer (closed, unreadable)."""
        with self._lock:
            self.db.execute("SELECT 1").fetchone()

    def audit_counts(self, events: Sequence[str]) -> dict[str, int]:
        """How many audit lines of each of `events` the trail holds: counted by the database
        as each line is written (migration 0009), so the answer costs a row per event, however
        long the trail."""
        marks = ", ".join("?" for _ in events)
        with self._lock:
            rows = self.db.execute(
                f"SELECT event, lines FROM audit_events WHERE event IN ({marks})", list(events)
            ).fetchall()
        return {event: int(n) for event, n in rows}

    def gauges(self) -> dict[str, Any]:
        """What the metrics read at each scrape, each from a small table or an index of what
        is unfinished: the operations sent by status word (counted as they change), the
        outbox's backlog and its oldest message's time, unknown outcomes and requests waiting
        for approval."""
        with self._lock:
            statuses = self.db.execute(
                "SELECT word, operations FROM operation_statuses WHERE operations > 0"
            ).fetchall()
            backlog, oldest = self.db.execute(
                "SELECT count(*), min(created_at) FROM outbox "
                "WHERE delivered_at IS NULL AND given_up_at IS NULL"
            ).fetchone()
            (unknown,) = self.db.execute(
                "SELECT count(*) FROM operations WHERE state = 'unknown'"
            ).fetchone()
            (approving,) = self.db.execute(
                "SELECT count(*) FROM requests WHERE state = 'approving'"
            ).fetchone()
        return {
            "statuses": {word: int(n) for word, n in statuses},
            "outbox_backlog": int(backlog),
            "outbox_oldest": datetime.fromisoformat(oldest) if oldest else None,
            "unknown_outcomes": int(unknown),
            "approvals_waiting": int(approving),
        }

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

    def _announced(
        self,
        db: Database,
        sql: str,
        params: Sequence[Any],
        *,
        announce: dict[str, Any],
        now: datetime,
        ends: bool = False,
    ) -> bool:
        """A compare-and-set and, if it won, its announcement in the same transaction (and,
        when the change `ends` an operation, its request's summary if it was the last)."""
        if not self._cas(db, sql, params):
            return False
        self._enqueue(db, announce, now)
        if ends:
            self._maybe_finished(db, announce["request_id"], now)
        return True

    # --- the audit trail ------------------------------------------------------------------

    def _audit(
        self,
        db: Database,
        *,
        event: str,
        actor: str,
        now: datetime,
        request_id: str | None = None,
        channel: str | None = None,
        device_name: str | None = None,
        api_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """One line of the audit trail, in the caller's transaction: a change and its record
        are kept together or not at all. `detail` must never hold a secret (a token, a
        signing secret): the trail is read by people who may not see those."""
        db.execute(
            "INSERT INTO audit (at, event, actor, channel, request_id, device_name, api_id, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                _now_text(now),
                event,
                actor,
                channel,
                request_id,
                device_name,
                api_id,
                json.dumps(detail or {}, default=str, sort_keys=True),
            ],
        )

    def _audit_operation(
        self,
        db: Database,
        operation_id: int,
        *,
        event: str,
        actor: str = BOT_ACTOR,
        now: datetime,
        api_id: str | None = None,
        detail: dict[str, Any] | None = None,
        post: bool = False,
    ) -> None:
        """An audit line about one operation, with its request's channel. `post`: the line
        records an answer to the create call, so the call's body goes with it, rebuilt from
        the row the sender read it from (the same fields, formatted as the API takes them)."""
        row = db.execute(
            "SELECT o.request_id, o.device_name, o.operation_type, o.scheduled_at, "
            "o.parameters, o.api_id, r.channel FROM operations o "
            "JOIN requests r ON r.id = o.request_id WHERE o.id = ?",
            [operation_id],
        ).fetchone()
        extra: dict[str, Any] = {"operation": operation_id}
        if post:
            extra["post"] = {
                "device_name": row[1],
                "operation_type": row[2],
                "scheduled_at": row[3],
                "parameters": json.loads(row[4] or "{}"),
            }
        self._audit(
            db,
            event=event,
            actor=actor,
            now=now,
            request_id=row[0],
            channel=row[6],
            device_name=row[1],
            api_id=api_id or row[5],
            detail={**extra, **(detail or {})},
        )

    def record_audit(
        self,
        *,
        event: str,
        actor: str,
        now: datetime,
        request_id: str | None = None,
        channel: str | None = None,
        device_name: str | None = None,
        api_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """An audit line for an event that changes nothing else (a typed command refused)."""
        with self._write() as db:
            self._audit(
                db,
                event=event,
                actor=actor,
                now=now,
                request_id=request_id,
                channel=channel,
                device_name=device_name,
                api_id=api_id,
                detail=detail,
            )

    def audit_rows(
        self, *, since: datetime | None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The trail in the order it was written, from `since` on, each line with the
        channel and the ts of its request's thread root (`root_ts`) for its permalink.

        Read in pages by id, the lock held per page: a long export never holds up the bot.
        With `since`, the `at` index finds where to start, so the cost follows the answer,
        not the months of trail before it; `at` is still checked on every line, as a clock
        may step back between two writers."""
        with self._lock:
            if "audit" not in self.db.table_names():
                return  # a database no opsbot with an audit trail has opened yet
            start = 0
            if since is not None:
                # INDEXED BY: left to itself SQLite walks the ids from the first until one is
                # recent enough (its min() shortcut), all the trail for a question about today.
                first = self.db.execute(
                    "SELECT min(id) FROM audit INDEXED BY idx_audit_at WHERE at >= ?",
                    [_now_text(since)],
                ).fetchone()[0]
                if first is None:
                    return
                start = first - 1
        floor = _now_text(since) if since is not None else ""
        left = limit
        while left is None or left > 0:
            page = AUDIT_PAGE if left is None else min(AUDIT_PAGE, left)
            with self._lock:
                rows = list(
                    self.db.query(
                        "SELECT a.*, r.channel AS request_channel, "
                        "coalesce(r.thread_ts, r.status_ts) AS root_ts FROM audit a "
                        "LEFT JOIN requests r ON r.id = a.request_id "
                        # `+`: walked by id, never by the `at` index (that would sort each
                        # page out of everything since).
                        "WHERE a.id > ? AND +a.at >= ? ORDER BY a.id LIMIT ?",
                        [start, floor, page],
                    )
                )
            for row in rows:
                row["detail"] = json.loads(row["detail"] or "{}")
                yield row
            if len(rows) < page:
                return
            start = rows[-1]["id"]
            if left is not None:
                left -= len(rows)

    # --- facts learnt at start ------------------------------------------------------------

    def set_fact(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO facts (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )

    def fact(self, key: str) -> str | None:
        with self._lock:
            if "facts" not in self.db.table_names():
                return None
            row = self.db.execute("SELECT value FROM facts WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

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
        policy: dict[str, Any] | None = None,
        wave_size: int | None = None,
        canary: bool = False,
    ) -> RequestRecord:
        """A request waiting for its requester's click, its operations drafts. In waves
        (`wave_size`, `canary`), each operation carries its device's wave."""
        request_id = "r_" + secrets.token_hex(6)
        numbers = waves_of.numbers(specs, size=wave_size, canary=canary)
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
                    "policy": json.dumps(policy or {}),
                    "wave_size": wave_size,
                    "canary": int(canary),
                    "waves": max(numbers) if numbers else 0,
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
                    "wave": numbers[seq] if numbers else None,
                }
                for seq, spec in enumerate(specs)
            )
            self._audit(
                db,
                event="requested",
                actor=requester,
                now=now,
                request_id=request_id,
                channel=channel,
                device_name=specs[0].device_name if len(specs) == 1 else None,
                detail={
                    "text": text,
                    "surface": surface,
                    "operations": [spec.to_api() for spec in specs],
                    **({"waves": max(numbers)} if numbers else {}),
                },
            )
        return self.get_request(request_id)  # type: ignore[return-value]

    def reschedule_pending(
        self,
        request_id: str,
        *,
        user: str,
        times: dict[int, datetime],
        note: str,
        policy: dict[str, Any],
        now: datetime,
    ) -> bool:
        """A pending request's operations move to new times (into their maintenance window),
        by its requester, before it is confirmed."""
        with self._write() as db:
            request = self._request_in(db, request_id)
            if request is None or request.state != "pending" or request.requester != user:
                return False
            notes = [*request.notes, note] if note not in request.notes else list(request.notes)
            if not self._cas(
                db,
                "UPDATE requests SET immediate = 0, policy = ?, notes = ? "
                "WHERE id = ? AND state = 'pending'",
                [json.dumps(policy), json.dumps(notes), request_id],
            ):
                return False
            for operation_id, moment in times.items():
                db.execute(
                    "UPDATE operations SET scheduled_at = ? WHERE id = ? AND state = 'draft'",
                    [format_api_time(moment), operation_id],
                )
            self._audit_request(
                db,
                request_id,
                event="moved",
                actor=user,
                now=now,
                detail={"times": sorted({format_api_time(m) for m in times.values()})},
            )
            return True

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
            votes = [
                Vote(user=r["user"], verdict=r["verdict"], at=datetime.fromisoformat(r["at"]))
                for r in self.db.query(
                    "SELECT * FROM approvals WHERE request_id = ? ORDER BY at", [request_id]
                )
            ]
        return RequestRecord.from_row(rows[0], ops, votes)

    def request_of_operation(self, operation_id: int) -> RequestRecord | None:
        with self._lock:
            row = self.db.execute(
                "SELECT request_id FROM operations WHERE id = ?", [operation_id]
            ).fetchone()
        return self.get_request(row[0]) if row else None

    def confirm(
        self,
        request_id: str,
        *,
        user: str,
        now: datetime,
        run_at: datetime | None,
        approvals_needed: int = 0,
        approver_sets: Sequence[Sequence[str] | None] = (),
        approval_expires_at: datetime | None = None,
        policy: dict[str, Any] | None = None,
    ) -> bool:
        """pending → confirmed, for the requester only and before expiry, in one transaction
        with everything that follows from it: the drafts become operations to send (at
        `run_at` if given: an immediate request runs when confirmed, not when typed), and the
        public message is queued as the request's first outbox message. True: you won.
        `policy`: its policy snapshot as judged at the click, if given.

        With `approvals_needed`, pending → approving instead: the public message goes out asking
        for it, and the drafts wait for the last approval (`approve`)."""
        with self._write() as db:
            if not approvals_needed:
                state, extra, extra_params = "confirmed", "", []
            else:
                assert approval_expires_at is not None
                state = "approving"
                extra = ", approvals_needed = ?, approvers = ?, approval_expires_at = ?"
                extra_params = [
                    approvals_needed,
                    json.dumps([None if s is None else list(s) for s in approver_sets]),
                    _now_text(approval_expires_at),
                ]
            if not self._cas(
                db,
                f"UPDATE requests SET state = ?, confirmed_by = ?, confirmed_at = ?{extra}, "
                "policy = coalesce(?, policy) "
                "WHERE id = ? AND state = 'pending' AND requester = ? AND expires_at > ?",
                [
                    state,
                    user,
                    _now_text(now),
                    *extra_params,
                    json.dumps(policy) if policy is not None else None,
                    request_id,
                    user,
                    _now_text(now),
                ],
            ):
                return False
            started = not approvals_needed and self._release(db, request_id, now=now, run_at=run_at)
            self._enqueue(db, {"request_id": request_id, "kind": ROOT}, now)
            if started:  # after the public message: the thread's first reply
                self._enqueue(db, {"request_id": request_id, "kind": WAVE_STARTED, "wave": 1}, now)
            self._audit_request(
                db,
                request_id,
                event="confirmed",
                actor=user,
                now=now,
                detail={"approvals_needed": approvals_needed} if approvals_needed else None,
            )
            return True

    def _release(
        self, db: Database, request_id: str, *, now: datetime, run_at: datetime | None
    ) -> bool:
        """The drafts become operations to send; in waves, only those of the wave under way
        (the first, at the first release), the others waiting for theirs. Each goes for its
        time, or for `run_at` (a request for now runs when confirmed or approved), or for now
        if its time went by while it waited for a person: waiting never makes it late. True
        when waves started (the caller announces the first)."""
        current = "max(1, (SELECT wave FROM requests WHERE id = operations.request_id))"
        sets = f"state = CASE WHEN coalesce(wave, 1) <= {current} THEN 'new' ELSE '{WAITING}' END"
        moment = run_at if run_at is not None else now
        sets += ", updated_at = ?, " + _retimed("?" if run_at else "max(scheduled_at, ?)")
        db.execute(
            f"UPDATE operations SET {sets} WHERE request_id = ? AND state = 'draft'",
            [_now_text(now), format_api_time(moment), format_api_time(moment), request_id],
        )
        return self._cas(
            db,
            "UPDATE requests SET wave = 1, wave_state = 'going' "
            "WHERE id = ? AND waves > 1 AND wave = 0",
            [request_id],
        )

    # --- waves ------------------------------------------------------------------------------

    def _advance_waves(self, db: Database, request_id: str, now: datetime) -> None:
        """In the transaction of a change that may have ended an operation: once every
        operation of the current wave is final, the next wave is released (sent now) if none
        failed, and the request halts if one did (refused before the API, or a final status
        other than success). An operation whose outcome is unknown is not final: the next
        wave waits for it. The last wave releases nothing: the summary says how it ended."""
        row = db.execute(
            "SELECT waves, wave, wave_state FROM requests WHERE id = ?", [request_id]
        ).fetchone()
        if row is None or row[0] < 2 or row[2] != "going" or row[1] >= row[0]:
            return
        waves, wave = row[0], row[1]
        ops = db.execute(
            "SELECT id, state, final, status FROM operations WHERE request_id = ? AND wave = ?",
            [request_id, wave],
        ).fetchall()
        if any(not final for _, _, final, _ in ops):
            return
        failed = [
            op_id
            for op_id, state, _, status in ops
            if state != "submitted" or (status or "").strip().lower() not in SUCCEEDED_STATUSES
        ]
        if not failed:
            if self._next_wave(db, request_id, wave=wave, state="going", now=now):
                self._enqueue(
                    db, {"request_id": request_id, "kind": WAVE_STARTED, "wave": wave + 1}, now
                )
            return
        if self._cas(
            db,
            "UPDATE requests SET wave_state = 'halted', halted_at = ? "
            "WHERE id = ? AND wave_state = 'going' AND wave = ?",
            [_now_text(now), request_id, wave],
        ):
            self._audit_request(
                db,
                request_id,
                event="waves_halted",
                actor=BOT_ACTOR,
                now=now,
                detail={"wave": wave, "waves": waves, "failed": failed},
            )
            self._enqueue(
                db,
                {"request_id": request_id, "kind": WAVE_HALTED, "wave": wave, "failed": failed},
                now,
            )

    def _next_wave(
        self, db: Database, request_id: str, *, wave: int, state: str, now: datetime
    ) -> bool:
        """`wave` → the next, if the request is still at `wave` in `state` and every operation
        of `wave` has ended (one found in the API after all may have reopened it): its
        operations become due at the request's time, or now if that has passed (a wave
        released early, after a failure before the time, still waits for the time asked)."""
        if not self._cas(
            db,
            "UPDATE requests SET wave = wave + 1, wave_state = 'going', halted_at = NULL "
            "WHERE id = ? AND wave = ? AND wave_state = ? AND wave < waves AND NOT EXISTS "
            "(SELECT 1 FROM operations o WHERE o.request_id = requests.id AND o.wave = ? "
            "AND o.final = 0)",
            [request_id, wave, state, wave],
        ):
            return False
        db.execute(
            f"UPDATE operations SET state = {_TO_SEND}, updated_at = ?, "
            "scheduled_at = max(scheduled_at, ?) "
            f"WHERE request_id = ? AND wave = ? AND state = '{WAITING}'",
            [_now_text(now), format_api_time(now), request_id, wave + 1],
        )
        return True

    def continue_waves(self, request_id: str, *, wave: int, user: str, now: datetime) -> str:
        """A halted request goes on: the wave after `wave` (the one that failed) is released,
        and only that one; the waves after it follow as usual. Whether this person may is the
        caller's to check first. Returns "continued", or why not: "not_found", "stale" (the
        request is halted after another wave: an older button), or its wave state."""
        with self._write() as db:
            row = db.execute(
                "SELECT wave, wave_state FROM requests WHERE id = ?", [request_id]
            ).fetchone()
            if row is None:
                return "not_found"
            if row[1] != "halted" or row[0] != wave:
                return "stale" if row[1] == "halted" else (row[1] or "none")
            if not self._next_wave(db, request_id, wave=wave, state="halted", now=now):
                return "stale"
            self._audit_request(
                db,
                request_id,
                event="waves_continued",
                actor=user,
                now=now,
                detail={"wave": wave + 1},
            )
            self._enqueue(
                db,
                {"request_id": request_id, "kind": WAVE_CONTINUED, "by": user, "wave": wave + 1},
                now,
            )
            return "continued"

    def stop_waves(
        self, request_id: str, *, wave: int, user: str, now: datetime, error: str
    ) -> str:
        """A halted request ends: its waiting operations are never sent (state 'stopped',
        final, `error` saying who stopped them), said in its thread, then summed up.
        Returns "stopped" or why not (as continue_waves)."""
        with self._write() as db:
            row = db.execute(
                "SELECT wave, wave_state FROM requests WHERE id = ?", [request_id]
            ).fetchone()
            if row is None:
                return "not_found"
            if row[1] != "halted" or row[0] != wave:
                return "stale" if row[1] == "halted" else (row[1] or "none")
            if not self._cas(
                db,
                "UPDATE requests SET wave_state = 'stopped', stopped_by = ? "
                "WHERE id = ? AND wave = ? AND wave_state = 'halted'",
                [user, request_id, wave],
            ):
                return "stale"
            held = db.execute(
                f"UPDATE operations SET state = '{STOPPED}', final = 1, error = ?, "
                f"updated_at = ? WHERE request_id = ? AND state = '{WAITING}'",
                [error, _now_text(now), request_id],
            ).rowcount
            self._audit_request(
                db,
                request_id,
                event="waves_stopped",
                actor=user,
                now=now,
                detail={"wave": wave, "never_sent": held},
            )
            self._enqueue(
                db,
                {"request_id": request_id, "kind": WAVES_STOPPED, "by": user, "count": held},
                now,
            )
            self._maybe_finished(db, request_id, now)
            return "stopped"

    def halted_requests(self) -> list[str]:
        """Requests halted after a failed wave, waiting for Continue or Stop, oldest first."""
        with self._lock:
            return [
                row[0]
                for row in self.db.execute(
                    "SELECT id FROM requests INDEXED BY idx_requests_halted "
                    "WHERE wave_state = 'halted' ORDER BY halted_at, id"
                )
            ]

    def approve(
        self,
        request_id: str,
        *,
        user: str,
        now: datetime,
        run_at: datetime | None,
    ) -> str:
        """One approval, counted once per person, in one transaction with what follows: the
        last one needed makes the request confirmed and its operations due, however many
        clicks race. Whether this person may approve is the caller's to check first (a group's
        members come from Slack, never asked under the store's lock).

        Returns "approved" (this was the last one needed), "counted" (more are needed),
        "again" (this person's voice is already counted), or, when the request is not waiting
        for approval, why ("expired", "not_found", or its state)."""
        with self._write() as db:
            request = self._request_in(db, request_id)
            if request is None:
                return "not_found"
            if request.state != "approving":
                return request.state
            if request.approval_expires_at and request.approval_expires_at <= now:
                return "expired"  # the loop that ends it says so in the thread
            if user in request.approvals:
                return "again"
            # A voice that lapsed (given for another time, or under another file) may be given
            # again; one that rejected has ended the request already.
            db.execute(
                "INSERT INTO approvals (request_id, user, verdict, at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (request_id, user) DO UPDATE SET verdict = excluded.verdict, "
                "at = excluded.at",
                [request_id, user, APPROVE, _now_text(now)],
            )
            count = len(request.approvals) + 1
            self._audit_request(
                db,
                request_id,
                event="approved",
                actor=user,
                now=now,
                detail={"count": count, "needed": request.approvals_needed},
            )
            self._enqueue(
                db,
                {
                    "request_id": request_id,
                    "kind": "approved",
                    "by": user,
                    "count": count,
                    "needed": request.approvals_needed,
                },
                now,
            )
            if count < request.approvals_needed:
                return "counted"
            self._cas(
                db,
                "UPDATE requests SET state = 'confirmed' WHERE id = ? AND state = 'approving'",
                [request_id],
            )
            if self._release(db, request_id, now=now, run_at=run_at):
                self._enqueue(db, {"request_id": request_id, "kind": WAVE_STARTED, "wave": 1}, now)
            return "approved"

    def reject(self, request_id: str, *, user: str, now: datetime, error: str) -> str:
        """approving → rejected: nothing is sent. Returns "rejected" or why not (as approve)."""
        with self._write() as db:
            request = self._request_in(db, request_id)
            if request is None:
                return "not_found"
            if request.state != "approving":
                return request.state
            if request.approval_expires_at and request.approval_expires_at <= now:
                return "expired"
            self._cas(
                db,
                "UPDATE requests SET state = 'rejected' WHERE id = ? AND state = 'approving'",
                [request_id],
            )
            db.execute(
                "INSERT INTO approvals (request_id, user, verdict, at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (request_id, user) DO UPDATE SET verdict = excluded.verdict, "
                "at = excluded.at",
                [request_id, user, REJECT, _now_text(now)],
            )
            self._end_unsent(db, request_id, error=error, now=now)
            self._audit_request(db, request_id, event="rejected", actor=user, now=now)
            self._enqueue(db, {"request_id": request_id, "kind": "rejected", "by": user}, now)
            return "rejected"

    def expire_approvals(self, *, now: datetime, error: str) -> list[str]:
        """Requests whose approval did not come in time end as expired, each said in its
        thread. Returns them."""
        with self._write() as db:
            ended = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM requests WHERE state = 'approving' "
                    "AND approval_expires_at <= ?",
                    [_now_text(now)],
                ).fetchall()
            ]
            for request_id in ended:
                db.execute(
                    "UPDATE requests SET state = 'expired' WHERE id = ? AND state = 'approving'",
                    [request_id],
                )
                self._end_unsent(db, request_id, error=error, now=now)
                self._audit_request(
                    db, request_id, event="approval_expired", actor=BOT_ACTOR, now=now
                )
                self._enqueue(db, {"request_id": request_id, "kind": "approval_expired"}, now)
            return ended

    def _end_unsent(self, db: Database, request_id: str, *, error: str, now: datetime) -> None:
        """Operations that will never be sent now (the request rejected, not approved in time,
        refused by the file in force), refused before the API: their lines say why. Its waves
        stop; a request some of whose operations went is summed up once they have ended."""
        went = db.execute(
            "SELECT 1 FROM operations WHERE request_id = ? "
            "AND state IN ('sending', 'submitted', 'unknown') LIMIT 1",
            [request_id],
        ).fetchone()
        db.execute(
            "UPDATE operations SET state = 'rejected', final = 1, error = ?, updated_at = ?, "
            f"held_since = NULL, held_by = NULL WHERE request_id = ? AND state IN {UNSENT}",
            [error, _now_text(now), request_id],
        )
        db.execute(
            "UPDATE requests SET wave_state = 'stopped' "
            "WHERE id = ? AND wave_state IN ('going', 'halted')",
            [request_id],
        )
        if went is not None:
            self._maybe_finished(db, request_id, now)

    # --- judged again when the bot acts ------------------------------------------------------

    def rejudge(
        self,
        request_id: str,
        *,
        judged_under: str,
        policy: dict[str, Any],
        needed: int,
        approver_sets: Sequence[Sequence[str] | None],
        expires_at: datetime,
        voided: Sequence[str],
        claimed: Sequence[int],
        release: bool,
        rules: Sequence[str],
        now: datetime,
    ) -> str:
        """A new policy file's verdict on a confirmed request (or one waiting for approval),
        kept in one transaction: its `policy` snapshot, `needed` approvals from
        `approver_sets`, the voices of `voided` people (the file no longer lets them approve)
        no longer counted. A compare-and-set on `judged_under`, the fingerprint of the file it
        was judged under: another click may have kept this verdict first ("stale").

        More approvals asked than it has: it waits for them ("approving"), its unsent
        operations drafts again (`claimed`: taken by the sender a moment ago, put back), its
        public message showing Approve and Reject, its thread told why. Enough: one waiting
        for approval goes ("released") if `release`, else waits for a click that moves it on
        ("kept"); one confirmed goes on ("ok")."""
        with self._write() as db:
            if not self._cas(
                db,
                "UPDATE requests SET approvals_needed = ?, approvers = ?, policy = ? "
                "WHERE id = ? AND state IN ('confirmed', 'approving') "
                "AND coalesce(json_extract(policy, '$.fingerprint'), '') = ?",
                [
                    needed,
                    json.dumps([None if s is None else list(s) for s in approver_sets]),
                    json.dumps(policy),
                    request_id,
                    judged_under,
                ],
            ):
                return "stale"
            if voided:
                marks = ", ".join("?" for _ in voided)
                db.execute(
                    f"UPDATE approvals SET verdict = '{LAPSED}' WHERE request_id = ? "
                    f"AND verdict = '{APPROVE}' AND user IN ({marks})",
                    [request_id, *voided],
                )
            count = self._approvals(db, request_id)
            detail = {"rules": list(rules), "needed": needed, "count": count}
            self._audit_request(
                db,
                request_id,
                event="rejudged",
                actor=BOT_ACTOR,
                now=now,
                detail={**detail, "voided": list(voided)},
            )
            (state,) = db.execute(
                "SELECT state FROM requests WHERE id = ?", [request_id]
            ).fetchone()
            if count < needed:
                self._wait_for_approval(
                    db, request_id, expires_at=expires_at, claimed=claimed, now=now
                )
                self._enqueue(
                    db, {"request_id": request_id, "kind": APPROVAL_NEEDED, **detail}, now
                )
                return "approving"
            if state == "confirmed":
                return "ok"
            if not release:
                return "kept"
            db.execute("UPDATE requests SET state = 'confirmed' WHERE id = ?", [request_id])
            self._enqueue(db, {"request_id": request_id, "kind": APPROVAL_NEEDED, **detail}, now)
            if self._release(db, request_id, now=now, run_at=None):
                self._enqueue(db, {"request_id": request_id, "kind": WAVE_STARTED, "wave": 1}, now)
            return "released"

    def ask_approval_for_window(
        self,
        request_id: str,
        *,
        needed: int,
        approver_sets: Sequence[Sequence[str] | None],
        expires_at: datetime,
        claimed: Sequence[int],
        about: dict[str, Any],
        now: datetime,
    ) -> bool:
        """A confirmed request an operation of which would now run outside a window whose
        `outside` is "approve": it waits for `needed` approvals given now, for that time (any
        given before were for another time and no longer count), its thread told why, once.
        False: it was not confirmed (another operation of it asked first)."""
        with self._write() as db:
            if not self._cas(
                db,
                "UPDATE requests SET approvals_needed = ?, approvers = ?, "
                "policy = json_set(coalesce(policy, '{}'), '$.approval', json(json_patch("
                "coalesce(json_extract(policy, '$.approval'), '{}'), "
                "'{\"covers_outside\": true}'))) WHERE id = ? AND state = 'confirmed'",
                [
                    needed,
                    json.dumps([None if s is None else list(s) for s in approver_sets]),
                    request_id,
                ],
            ):
                return False
            db.execute(
                f"UPDATE approvals SET verdict = '{LAPSED}' WHERE request_id = ? "
                f"AND verdict = '{APPROVE}'",
                [request_id],
            )
            self._wait_for_approval(db, request_id, expires_at=expires_at, claimed=claimed, now=now)
            detail = {"why": "window", **about, "needed": needed}
            self._audit_request(
                db, request_id, event=APPROVAL_NEEDED, actor=BOT_ACTOR, now=now, detail=detail
            )
            self._enqueue(db, {"request_id": request_id, "kind": APPROVAL_NEEDED, **detail}, now)
            return True

    def _wait_for_approval(
        self,
        db: Database,
        request_id: str,
        *,
        expires_at: datetime,
        claimed: Sequence[int],
        now: datetime,
    ) -> None:
        """A request goes back to waiting for approval: its unsent operations are drafts
        again (`claimed`: taken by the sender a moment ago, put back), released with it."""
        db.execute(
            "UPDATE requests SET state = 'approving', approval_expires_at = ? "
            "WHERE id = ? AND state = 'confirmed'",
            [_now_text(expires_at), request_id],
        )
        ids = ", ".join(str(int(i)) for i in claimed)
        db.execute(
            "UPDATE operations SET state = 'draft', held_since = NULL, held_by = NULL, "
            "updated_at = ? WHERE request_id = ? AND (state = 'new' "
            f"OR (state = 'sending' AND id IN ({ids or 'NULL'})))",
            [_now_text(now), request_id],
        )

    def _approvals(self, db: Database, request_id: str) -> int:
        (count,) = db.execute(
            f"SELECT count(*) FROM approvals WHERE request_id = ? AND verdict = '{APPROVE}'",
            [request_id],
        ).fetchone()
        return int(count)

    def refuse_by_policy(self, request_id: str, *, reason: str, now: datetime) -> bool:
        """The file in force no longer allows a request at all (its requester, its channel, a
        rule): it ends as rejected by it (no vote of anyone's), nothing more of it sent; what
        it sent already is still followed."""
        with self._write() as db:
            if not self._cas(
                db,
                "UPDATE requests SET state = 'rejected' "
                "WHERE id = ? AND state IN ('confirmed', 'approving')",
                [request_id],
            ):
                return False
            self._audit_request(
                db,
                request_id,
                event=POLICY_REFUSED,
                actor=BOT_ACTOR,
                now=now,
                detail={"reason": reason},
            )
            self._enqueue(
                db, {"request_id": request_id, "kind": POLICY_REFUSED, "reason": reason}, now
            )
            self._end_unsent(db, request_id, error=reason, now=now)
            return True

    def park_outside(self, operation_id: int, *, now: datetime, announce: dict[str, Any]) -> bool:
        """Due (or claimed a moment ago) but its time to run is outside a window that blocks:
        it waits for a person's Move or Drop, asked once in its thread while any waits."""
        with self._write() as db:
            if not self._announced(
                db,
                f"UPDATE operations SET state = '{OUTSIDE}', held_since = NULL, held_by = NULL, "
                "updated_at = ? WHERE id = ? AND state IN ('new', 'sending')",
                [_now_text(now), operation_id],
                announce=announce,
                now=now,
            ):
                return False
            self._audit_operation(db, operation_id, event="outside_window", now=now)
            return True

    def move_outside(
        self, request_id: str, *, times: dict[int, datetime], user: str, now: datetime
    ) -> int:
        """A person's Move: the operations waiting outside their window go, each for the time
        given (its window's next start, or now in an open one). Returns how many moved."""
        with self._write() as db:
            moved = 0
            for operation_id, moment in times.items():
                moved += db.execute(
                    f"UPDATE operations SET state = {_TO_SEND}, {_retimed('?')}, "
                    "next_send_at = NULL, "
                    f"updated_at = ? WHERE id = ? AND request_id = ? AND state = '{OUTSIDE}'",
                    [
                        format_api_time(moment),
                        format_api_time(moment),
                        _now_text(now),
                        operation_id,
                        request_id,
                    ],
                ).rowcount
            if moved:
                shown = sorted({format_api_time(m) for m in times.values()})
                self._audit_request(
                    db, request_id, event="moved", actor=user, now=now, detail={"times": shown}
                )
                self._enqueue(
                    db,
                    {"request_id": request_id, "kind": OUTSIDE_MOVED, "by": user, "count": moved},
                    now,
                )
            return moved

    def drop_outside(self, request_id: str, *, user: str, error: str, now: datetime) -> int:
        """A person's Drop: the operations waiting outside their window are never sent."""
        with self._write() as db:
            return self._drop_outside(db, request_id, by=user, error=error, now=now)

    def drop_unanswered_outside(
        self, *, kept_before: datetime, error: str, now: datetime
    ) -> list[str]:
        """Operations kept outside their window since before `kept_before`, nobody having
        moved or dropped them: never sent, each request's thread told once. Returns those
        requests."""
        with self._write() as db:
            ended = [
                row[0]
                for row in db.execute(
                    "SELECT DISTINCT request_id FROM operations INDEXED BY idx_operations_outside "
                    f"WHERE state = '{OUTSIDE}' AND updated_at <= ?",
                    [_now_text(kept_before)],
                ).fetchall()
            ]
            for request_id in ended:
                self._drop_outside(db, request_id, by=None, error=error, now=now)
            return ended

    def _drop_outside(
        self, db: Database, request_id: str, *, by: str | None, error: str, now: datetime
    ) -> int:
        """What waits outside its window ends unsent: by a person's Drop, or (`by` None)
        nobody having answered in time. Said in the thread, and summed up if it was the last."""
        dropped = db.execute(
            "UPDATE operations SET state = 'rejected', final = 1, error = ?, updated_at = ? "
            f"WHERE request_id = ? AND state = '{OUTSIDE}'",
            [error, _now_text(now), request_id],
        ).rowcount
        if not dropped:
            return 0
        detail = {"count": dropped, **({} if by else {"unanswered": True})}
        self._audit_request(
            db, request_id, event="dropped", actor=by or BOT_ACTOR, now=now, detail=detail
        )
        announce = {"request_id": request_id, "kind": OUTSIDE_DROPPED, "count": dropped}
        self._enqueue(db, {**announce, **({"by": by} if by else {})}, now)
        self._maybe_finished(db, request_id, now)
        return dropped

    def tell_once(self, announce: dict[str, Any], *, now: datetime) -> bool:
        """A notice its request's thread gets once, whichever operation meets it first (an
        operation sent outside a window that only warns)."""
        with self._write() as db:
            told = db.execute(
                "SELECT 1 FROM outbox WHERE request_id = ? AND kind = ? LIMIT 1",
                [announce["request_id"], announce["kind"]],
            ).fetchone()
            if told is not None:
                return False
            self._enqueue(db, announce, now)
            return True

    def _request_in(self, db: Database, request_id: str) -> RequestRecord | None:
        return self.get_request(request_id)  # the store's lock is re-entrant

    # --- freezes ----------------------------------------------------------------------------

    def add_freeze(
        self,
        *,
        devices: Sequence[str] | None,
        reason: str,
        by: str,
        channel: str | None,
        now: datetime,
        until: datetime | None,
    ) -> Freeze:
        with self._write() as db:
            freeze_id = (
                db["freezes"]
                .insert(
                    {
                        "devices": json.dumps(list(devices)) if devices is not None else None,
                        "reason": reason,
                        "frozen_by": by,
                        "channel": channel,
                        "created_at": _now_text(now),
                        "until": _now_text(until) if until else None,
                    }
                )
                .last_pk
            )
            self._audit(
                db,
                event="frozen",
                actor=by,
                now=now,
                channel=channel,
                detail={
                    "freeze": freeze_id,
                    "devices": list(devices) if devices is not None else None,
                    "until": _now_text(until) if until else None,
                    "reason": reason,
                },
            )
        return self._freeze(freeze_id)

    def active_freezes(self, *, now: datetime) -> list[Freeze]:
        with self._lock:
            return [
                Freeze.from_row(r)
                for r in self.db.query(
                    f"SELECT * FROM freezes WHERE id IN ({_ACTIVE_FREEZES}) ORDER BY id",
                    [_now_text(now)],
                )
            ]

    # --- the Home tab: what one person sees, from the store alone --------------------------

    def pending_of(self, requester: str, *, now: datetime, limit: int) -> list[RequestRecord]:
        """Requests waiting for `requester`'s confirmation (not yet expired), newest first:
        found among the requests not yet expired, whoever asked, never in the person's
        history (the ones nobody clicked stay pending after their expiry)."""
        with self._lock:
            ids = [
                row[0]
                for row in self.db.execute(
                    "SELECT id FROM requests INDEXED BY idx_requests_pending "
                    "WHERE state = 'pending' AND expires_at > ? AND requester = ? "
                    "ORDER BY created_at DESC LIMIT ?",
                    [_now_text(now), requester, limit],
                )
            ]
            return [r for r in map(self.get_request, ids) if r is not None]

    def approving_requests(self, *, limit: int) -> list[RequestRecord]:
        """Requests waiting for approval, the soonest to expire first (who may approve each
        is the policy's question, asked by the caller)."""
        with self._lock:
            ids = [
                row[0]
                for row in self.db.execute(
                    "SELECT id FROM requests INDEXED BY idx_requests_approving "
                    "WHERE state = 'approving' ORDER BY approval_expires_at LIMIT ?",
                    [limit],
                )
            ]
            return [r for r in map(self.get_request, ids) if r is not None]

    def in_flight_of(self, requester: str, *, limit: int) -> tuple[list[OperationRecord], int]:
        """`requester`'s operations not yet ended, of requests confirmed or waiting for
        approval, the soonest first: up to `limit` of them, and how many in all. Found among
        the operations not yet ended and the requests waiting for approval, whoever asked:
        what is unfinished, never the person's history."""
        sent = (
            "FROM operations o INDEXED BY idx_operations_live JOIN requests r "
            "ON r.id = o.request_id WHERE o.final = 0 AND o.state <> 'draft' "
            "AND o.state NOT IN ('rejected', 'stopped') AND r.requester = ? "
            "AND r.state IN ('confirmed', 'approving')"
        )
        approving = (
            "FROM requests r INDEXED BY idx_requests_approving JOIN operations o "
            "ON o.request_id = r.id WHERE r.state = 'approving' AND r.requester = ? "
            "AND o.final = 0 AND o.state = 'draft'"
        )
        with self._lock:
            rows = self.db.query(
                f"SELECT o.* {sent} UNION ALL SELECT o.* {approving} "
                "ORDER BY scheduled_at, id LIMIT ?",
                [requester, requester, limit],
            )
            ops = [OperationRecord.from_row(r) for r in rows]
            (total,) = self.db.execute(
                f"SELECT (SELECT count(*) {sent}) + (SELECT count(*) {approving})",
                [requester, requester],
            ).fetchone()
        return ops, total

    def scheduled_between(
        self, start: datetime, end: datetime, *, limit: int
    ) -> tuple[list[OperationRecord], int]:
        """Operations of confirmed requests not yet ended whose time is in [start, end), the
        soonest first: up to `limit`, and how many in all."""
        where = (
            "FROM operations o INDEXED BY idx_operations_live "
            "JOIN requests r ON r.id = o.request_id WHERE o.final = 0 AND o.state <> 'draft' "
            "AND o.scheduled_at >= ? AND o.scheduled_at < ? AND r.state = 'confirmed' "
            "AND o.state NOT IN ('rejected', 'stopped')"
        )
        window = [format_api_time(start), format_api_time(end)]
        with self._lock:
            rows = self.db.query(
                f"SELECT o.* {where} ORDER BY o.scheduled_at, o.id LIMIT ?", [*window, limit]
            )
            ops = [OperationRecord.from_row(r) for r in rows]
            (total,) = self.db.execute(f"SELECT count(*) {where}", window).fetchone()
        return ops, total

    def lift_freezes(self, freeze_ids: Sequence[int], *, by: str, now: datetime) -> list[Freeze]:
        """Lift those still active; returns the ones this call lifted."""
        lifted = []
        with self._write() as db:
            for freeze_id in freeze_ids:
                if self._cas(
                    db,
                    "UPDATE freezes SET lifted_at = ?, lifted_by = ? "
                    "WHERE id = ? AND lifted_at IS NULL",
                    [_now_text(now), by, freeze_id],
                ):
                    lifted.append(freeze_id)
                    self._audit(
                        db, event="unfrozen", actor=by, now=now, detail={"freeze": freeze_id}
                    )
        return [self._freeze(i) for i in lifted]

    def _freeze(self, freeze_id: int) -> Freeze:
        with self._lock:
            return Freeze.from_row(self.db["freezes"].get(freeze_id))

    def hold(
        self, operation_id: int, *, freeze: int, now: datetime, announce: dict[str, Any]
    ) -> bool:
        """A due operation waits for a freeze to end; its thread is told once. Held already
        (one freeze ended, another covers it): it now waits for that one, untold."""
        with self._write() as db:
            if not self._announced(
                db,
                "UPDATE operations SET held_since = ?, held_by = ? "
                "WHERE id = ? AND state = 'new' AND held_since IS NULL",
                [_now_text(now), freeze, operation_id],
                announce=announce,
                now=now,
            ):
                db.execute(
                    "UPDATE operations SET held_by = ? WHERE id = ? AND state = 'new' "
                    "AND held_since IS NOT NULL",
                    [freeze, operation_id],
                )
                return False
            self._audit_operation(db, operation_id, event="held", now=now)
            return True

    def unhold(self, operation_id: int, *, now: datetime, announce: dict[str, Any]) -> bool:
        """The freeze ended: the operation goes, for its time or, if that went by while it was
        held, for the moment the freeze ended. The time held never counts as lateness; a
        freeze that ended while the bot was down still does (`stale_send`)."""
        with self._write() as db:
            row = db.execute(
                "SELECT coalesce(f.lifted_at, f.until) FROM operations o "
                "JOIN freezes f ON f.id = o.held_by WHERE o.id = ?",
                [operation_id],
            ).fetchone()
            ended = min(now, datetime.fromisoformat(row[0])) if row and row[0] else now
            if not self._announced(
                db,
                "UPDATE operations SET held_since = NULL, held_by = NULL, "
                f"{_retimed('max(scheduled_at, ?)')} "
                "WHERE id = ? AND state = 'new' AND held_since IS NOT NULL",
                [format_api_time(ended), format_api_time(ended), operation_id],
                announce=announce,
                now=now,
            ):
                return False
            self._audit_operation(db, operation_id, event="released", now=now)
            return True

    def end_request(self, request_id: str, *, to: str, user: str | None, now: datetime) -> bool:
        """pending → cancelled (by its requester) or expired (user None)."""
        sql = "UPDATE requests SET state = ? WHERE id = ? AND state = 'pending'"
        params: list[Any] = [to, request_id]
        if user is not None:
            sql += " AND requester = ?"
            params.append(user)
        with self._write() as db:
            if not self._cas(db, sql, params):
                return False
            self._audit_request(db, request_id, event=to, actor=user or BOT_ACTOR, now=now)
            return True

    def expire_pending(self, *, now: datetime) -> list[str]:
        """Requests nobody clicked in time end as expired, each with its audit line now (not
        when someone clicks later): the trail and `opsbot_requests_total` count them as they
        happen. Found by their expiry among the pending ones alone (an index)."""
        with self._write() as db:
            ended = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM requests INDEXED BY idx_requests_pending "
                    "WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at",
                    [_now_text(now)],
                ).fetchall()
            ]
            for request_id in ended:
                if self._cas(
                    db,
                    "UPDATE requests SET state = 'expired' WHERE id = ? AND state = 'pending'",
                    [request_id],
                ):
                    self._audit_request(db, request_id, event="expired", actor=BOT_ACTOR, now=now)
            return ended

    def _audit_request(
        self,
        db: Database,
        request_id: str,
        *,
        event: str,
        actor: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
    ) -> None:
        channel = db.execute("SELECT channel FROM requests WHERE id = ?", [request_id]).fetchone()
        self._audit(
            db,
            event=event,
            actor=actor,
            now=now,
            request_id=request_id,
            channel=channel[0] if channel else None,
            detail=detail,
        )

    # --- operations -----------------------------------------------------------------------

    def start_sending(self, operation_id: int, *, now: datetime) -> bool:
        """new → sending: only the winner may POST this operation, and never while a freeze
        covers its device. The freeze is checked in the claim's own transaction: a freeze
        committed before it wins, however long ago the sender picked the operation up."""
        with self._write() as db:
            return self._cas(
                db,
                "UPDATE operations SET state = 'sending', updated_at = ? "
                f"WHERE id = ? AND state = 'new' AND NOT EXISTS ({_FROZEN})",
                [_now_text(now), operation_id, _now_text(now)],
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
        """sending → submitted: the API answered the create call with its operation."""
        with self._write() as db:
            if not self._submitted(
                db,
                operation_id,
                where="state = 'sending'",
                where_params=[],
                end_watch=False,  # a Send again that went: its first attempt is still watched
                api_id=api_id,
                status=status,
                estimated_duration=estimated_duration,
                now=now,
                announce=announce,
            ):
                return False
            self._audit_operation(
                db,
                operation_id,
                event="api_created",
                now=now,
                api_id=api_id,
                post=True,
                detail={
                    "answer": {
                        "id": api_id,
                        "status": status,
                        "estimated_duration": estimated_duration,
                    }
                },
            )
            return True

    def record_unsent(
        self,
        operation_id: int,
        *,
        state: str,
        error: str,
        now: datetime,
        announce: dict[str, Any],
        answer: dict[str, Any] | None = None,
    ) -> bool:
        """sending → rejected | unknown, with the sentence that explains it. `answer`: what
        the API said to the create call, if it was made and said anything (its HTTP status);
        None for an operation given up before its call (too late to send)."""
        with self._write() as db:
            if not self._cas(
                db,
                "UPDATE operations SET state = ?, error = ?, final = ?, updated_at = ?, "
                "unknown_since = CASE WHEN ? = 'unknown' THEN ? END, asked_at = NULL "
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
            if state == "unknown":
                event = "api_unknown"
            else:
                event = "api_refused" if answer is not None else "not_sent"
            self._audit_operation(
                db,
                operation_id,
                event=event,
                now=now,
                post=answer is not None,
                detail={"error": error, **({"answer": answer} if answer is not None else {})},
            )
            self._enqueue(db, announce, now)
            self._maybe_finished(db, announce["request_id"], now)
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
                # The API's error, kept: a halted wave names it.
                "error = coalesce(?, error), "
                "running_since = CASE WHEN ? THEN coalesce(running_since, ?) "
                "ELSE running_since END "
                "WHERE id = ? AND status IS ? AND state = 'submitted'",
                [
                    new,
                    int(is_final(new)),
                    _now_text(now),
                    announce.get("error") or None,
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
            if is_final(new):
                # Only the outcome: the steps on the way (scheduled, running) are in
                # status_changes, and a line each would make the trail mostly polling noise.
                error = announce.get("error")
                self._audit_operation(
                    db,
                    operation_id,
                    event="api_status",
                    now=now,
                    detail={"old": old, "new": new, **({"error": error} if error else {})},
                )
            self._enqueue(db, announce, now)
            self._maybe_finished(db, announce["request_id"], now)
            return True

    def operations_to_poll(self) -> list[OperationRecord]:
        with self._lock:
            return [
                OperationRecord.from_row(r)
                for r in self.db.query(
                    "SELECT * FROM operations WHERE state = 'submitted' AND final = 0 ORDER BY id"
                )
            ]

    # The poller's questions name their index: without statistics SQLite prefers the one on
    # (state, final), which walks every operation followed to find the few that are due.
    def operations_unplaced(self, *, limit: int = 1000) -> list[OperationRecord]:
        """Operations followed but not yet in the poller's schedule (just submitted)."""
        with self._lock:
            return [
                OperationRecord.from_row(r)
                for r in self.db.query(
                    "SELECT * FROM operations INDEXED BY idx_operations_next_check "
                    "WHERE state = 'submitted' AND final = 0 "
                    "AND next_check_at IS NULL LIMIT ?",
                    [limit],
                )
            ]

    def operations_due(self, *, by: datetime, limit: int = 5000) -> list[OperationRecord]:
        """Operations followed whose next look is due by `by`, soonest first (the index on
        next_check_at answers it: the cost is what is due, not what is followed)."""
        with self._lock:
            return [
                OperationRecord.from_row(r)
                for r in self.db.query(
                    "SELECT * FROM operations INDEXED BY idx_operations_next_check "
                    "WHERE state = 'submitted' AND final = 0 "
                    "AND next_check_at <= ? ORDER BY next_check_at LIMIT ?",
                    [_now_text(by), limit],
                )
            ]

    def next_check_due(self) -> datetime | None:
        """When the soonest look is due; the epoch if one is not yet placed; None: nothing
        is followed. Two index seeks, whatever the number followed."""
        with self._lock:
            unplaced = self.db.execute(
                "SELECT 1 FROM operations INDEXED BY idx_operations_next_check "
                "WHERE state = 'submitted' AND final = 0 "
                "AND next_check_at IS NULL LIMIT 1"
            ).fetchone()
            if unplaced:
                return datetime.fromtimestamp(0, UTC)
            (soonest,) = self.db.execute(
                "SELECT min(next_check_at) FROM operations INDEXED BY idx_operations_next_check "
                "WHERE state = 'submitted' AND final = 0"
            ).fetchone()
        return None if soonest is None else datetime.fromisoformat(soonest)

    def submitted_since(self, operation_id: int) -> int:
        """How many operations this bot created at the API since this one (itself included):
        roughly how far from the newest end of the API's list it is."""
        with self._lock:
            return self.db.execute(
                "SELECT count(*) FROM operations WHERE id >= ? AND api_id IS NOT NULL",
                [operation_id],
            ).fetchone()[0]

    def schedule_checks(self, plans: Sequence[tuple[int, datetime | None, datetime, int]]) -> int:
        """(operation id, the next look it had, the next look, failed looks in a row) for
        each: a compare-and-set on the next look it had, so a plan made from a stale read
        (the operation was sent again meanwhile) is dropped. One transaction for all.
        Returns how many were placed."""
        placed = 0
        with self._write() as db:
            for operation_id, was, at, failures in plans:
                placed += self._cas(
                    db,
                    "UPDATE operations SET next_check_at = ?, check_failures = ? "
                    "WHERE id = ? AND next_check_at IS ? AND state = 'submitted' AND final = 0",
                    [
                        _now_text(at),
                        failures,
                        operation_id,
                        None if was is None else _now_text(was),
                    ],
                )
        return placed

    def operations_to_send(self, *, now: datetime, root_wait: timedelta) -> list[OperationRecord]:
        """Confirmed operations not yet sent whose (re)try time has come, once Slack has
        answered their request's public message or taken a post in its channel tried since
        the confirmation (`root_posted`'s `covers`), or `root_wait` after the confirmation
        whatever Slack is doing: only a definite "not in channel" may still stop them. In a
        channel that turned the bot away, they wait for that answer however long it takes."""
        with self._lock:
            return [
                OperationRecord.from_row(r)
                for r in self.db.query(
                    "SELECT o.* FROM operations o JOIN requests r ON r.id = o.request_id "
                    "WHERE o.state = 'new' AND r.state = 'confirmed' "
                    "AND (o.next_send_at IS NULL OR o.next_send_at <= ?) "
                    "AND (r.root_tried_at IS NOT NULL OR (r.confirmed_at <= ? AND r.channel "
                    "NOT IN (SELECT channel FROM refused_channels))) ORDER BY o.id",
                    [_now_text(now), _now_text(now - root_wait)],
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
        self,
        operation_id: int,
        *,
        error: str,
        not_before: datetime,
        now: datetime,
        announce: dict[str, Any],
        answer: dict[str, Any] | None = None,
    ) -> bool:
        """sending → new, to be tried again later: the API surely did not create it."""
        with self._write() as db:
            if not self._announced(
                db,
                "UPDATE operations SET state = 'new', error = ?, next_send_at = ?, "
                "send_attempts = send_attempts + 1, updated_at = ? "
                "WHERE id = ? AND state = 'sending'",
                [error, _now_text(not_before), _now_text(now), operation_id],
                announce=announce,
                now=now,
            ):
                return False
            self._audit_operation(
                db,
                operation_id,
                event="api_retrying",
                now=now,
                post=True,
                detail={
                    "error": error,
                    "answer": answer or {},
                    "retry_at": _now_text(not_before),
                },
            )
            return True

    def adopt_found(
        self,
        operation_id: int,
        *,
        was: str,
        api_id: str,
        status: str,
        scheduled_at: datetime,
        estimated_duration: int | None,
        end_watch: bool,
        now: datetime,
        announce: dict[str, Any],
    ) -> bool:
        """`was` → submitted: the API's list shows the operation this one created, for
        `scheduled_at`. `was` is 'unknown' (the create call went unanswered), 'new' (sent
        again on a person's word but not yet gone: it never will) or 'rejected' (dropped, or
        refused when sent again). `end_watch` False: more than one attempt went, and another
        may still turn up."""
        with self._write() as db:
            db.execute(
                "UPDATE operations SET scheduled_at = ? WHERE id = ? AND state = ?",
                [format_api_time(scheduled_at), operation_id, was],
            )
            if not self._submitted(
                db,
                operation_id,
                where="state = ? AND api_id IS NULL",
                where_params=[was],
                end_watch=end_watch,
                api_id=api_id,
                status=status,
                estimated_duration=estimated_duration,
                now=now,
                announce=announce,
            ):
                return False
            # Found running after its wave had halted on it (a Drop, say): the halt is lifted,
            # and the wave decides again when this one ends.
            db.execute(
                "UPDATE requests SET wave_state = 'going', halted_at = NULL "
                "WHERE id = (SELECT request_id FROM operations WHERE id = ?) "
                "AND wave_state = 'halted' AND wave = (SELECT wave FROM operations WHERE id = ?) "
                "AND EXISTS (SELECT 1 FROM operations WHERE id = ? AND final = 0)",
                [operation_id, operation_id, operation_id],
            )
            self._audit_operation(
                db,
                operation_id,
                event="adopted",
                now=now,
                api_id=api_id,
                detail={
                    "was": was,
                    "status": status,
                    "scheduled_at": format_api_time(scheduled_at),
                },
            )
            return True

    def _submitted(
        self,
        db: Database,
        operation_id: int,
        *,
        where: str,
        where_params: Sequence[Any],
        end_watch: bool,
        api_id: str,
        status: str,
        estimated_duration: int | None,
        now: datetime,
        announce: dict[str, Any],
    ) -> bool:
        """The operation is the API's `api_id` from now on, if it still is as `where` says:
        its first status recorded, announced, and its request summed up if it was the last."""
        if not self._cas(
            db,
            "UPDATE operations SET state = 'submitted', api_id = ?, status = ?, final = ?, "
            # A new entry in the poller's schedule, placed by the poller without asking.
            "next_check_at = NULL, check_failures = 0, "
            "estimated_duration = ?, error = NULL, updated_at = ?, watch_original_until = "
            f"{'NULL' if end_watch else 'watch_original_until'} WHERE id = ? AND {where}",
            [
                api_id,
                status,
                int(is_final(status)),
                estimated_duration,
                _now_text(now),
                operation_id,
                *where_params,
            ],
        ):
            return False
        self._record_first_status(db, operation_id, status, now)
        self._enqueue(db, announce, now)
        self._maybe_finished(db, announce["request_id"], now)
        return True

    def api_ids_taken(self, api_ids: Sequence[str]) -> set[str]:
        """Those of `api_ids` that are some operation's already."""
        if not api_ids:
            return set()
        marks = ", ".join("?" for _ in api_ids)
        with self._lock:
            return {
                r["api_id"]
                for r in self.db.query(
                    f"SELECT api_id FROM operations WHERE api_id IN ({marks})", list(api_ids)
                )
            }

    def recover_after_crash(self, *, now: datetime, error: str) -> int:
        """At start-up: a POST that was in flight has an unknown outcome; `error` says why, on
        each such operation. Returns how many."""
        with self._write() as db:
            in_flight = [
                row[0] for row in db.execute("SELECT id FROM operations WHERE state = 'sending'")
            ]
            db.execute(
                "UPDATE operations SET state = 'unknown', unknown_since = ?, updated_at = ?, "
                "error = ?, asked_at = NULL WHERE state = 'sending'",
                [_now_text(now), _now_text(now), error],
            )
            for operation_id in in_flight:
                self._audit_operation(
                    db,
                    operation_id,
                    event="api_unknown",
                    now=now,
                    post=True,
                    detail={"error": error},
                )
            return len(in_flight)

    # --- unknown outcomes, settled by the API's list or by a person --------------------------

    def ask_about_unknown(self, operation_id: int, *, now: datetime, announce: dict) -> bool:
        """Once per unknown outcome: the requester is asked whether to send it again."""
        with self._write() as db:
            return self._announced(
                db,
                "UPDATE operations SET asked_at = ?, updated_at = ? "
                "WHERE id = ? AND state = 'unknown' AND asked_at IS NULL",
                [_now_text(now), _now_text(now), operation_id],
                announce=announce,
                now=now,
            )

    def send_again(
        self,
        operation_id: int,
        *,
        user: str,
        now: datetime,
        run_at: datetime | None,
        watch_until: datetime,
        announce: dict,
    ) -> bool:
        """unknown → new (a draft while its request waits for an approval), on a person's
        word (at `run_at` if given: a request for now runs now); the first attempt is still
        looked for until `watch_until`, in case it reached the API after all."""
        with self._write() as db:
            if not self._announced(
                db,
                f"UPDATE operations SET state = {_TO_SEND}, next_send_at = NULL, answered_by = ?, "
                "send_attempts = send_attempts + 1, watch_original_until = ?, updated_at = ?, "
                "earlier_times = CASE WHEN ? IS NULL THEN earlier_times ELSE "
                "json_insert(coalesce(earlier_times, '[]'), '$[#]', scheduled_at) END, "
                "scheduled_at = coalesce(?, scheduled_at) WHERE id = ? AND state = 'unknown'",
                [
                    user,
                    _now_text(watch_until),
                    _now_text(now),
                    format_api_time(run_at) if run_at else None,
                    format_api_time(run_at) if run_at else None,
                    operation_id,
                ],
                announce=announce,
                now=now,
            ):
                return False
            self._audit_operation(
                db,
                operation_id,
                event="sent_again",
                actor=user,
                now=now,
                detail={"run_at": format_api_time(run_at) if run_at else None},
            )
            return True

    def drop_unknown(
        self,
        operation_id: int,
        *,
        user: str,
        now: datetime,
        error: str,
        watch_until: datetime,
        announce: dict,
    ) -> bool:
        """unknown → rejected, on a person's word: nothing more is sent for it; its attempt
        is still looked for until `watch_until`, in case it reached the API after all."""
        with self._write() as db:
            if not self._announced(
                db,
                "UPDATE operations SET state = 'rejected', final = 1, error = ?, "
                "answered_by = ?, watch_original_until = ?, updated_at = ? "
                "WHERE id = ? AND state = 'unknown'",
                [error, user, _now_text(watch_until), _now_text(now), operation_id],
                announce=announce,
                now=now,
                ends=True,
            ):
                return False
            self._audit_operation(db, operation_id, event="dropped", actor=user, now=now)
            return True

    def operations_watched(self, *, now: datetime) -> list[OperationRecord]:
        """Operations a person sent again or dropped whose first attempt may still appear in
        the API's list (one being sent right now is left for the next look)."""
        with self._lock:
            watched = [
                OperationRecord.from_row(r)
                for r in self.db.query(
                    "SELECT * FROM operations WHERE watch_original_until > ?", [_now_text(now)]
                )
            ]
        # State and order are sorted out here, not in SQL: asked there, SQLite reads every
        # operation ever (by the state index or by id) rather than the few still watched.
        return sorted(
            # Sent again but waiting in the bot (for a freeze, an approval, a window): its
            # first attempt, found, is taken for it, and it is never sent.
            (
                op
                for op in watched
                if op.state in ("new", "draft", OUTSIDE, "submitted", "rejected")
            ),
            key=lambda op: op.id,
        )

    def adopt_late_original(
        self,
        operation_id: int,
        *,
        api_id: str,
        status: str,
        scheduled_at: datetime,
        estimated_duration: int | None,
        now: datetime,
        announce: dict,
    ) -> bool:
        """The first attempt of an operation that was sent again reached the API after all:
        it becomes an operation of the request too, tracked like the others, and the
        watching ends."""
        with self._write() as db:
            if not self._cas(
                db,
                "UPDATE operations SET watch_original_until = NULL "
                "WHERE id = ? AND watch_original_until IS NOT NULL AND state = 'submitted'",
                [operation_id],
            ):
                return False
            row = db.execute(
                "SELECT request_id, device_name, operation_type, parameters, wave "
                "FROM operations WHERE id = ?",
                [operation_id],
            ).fetchone()
            seq = db.execute(
                "SELECT max(seq) + 1 FROM operations WHERE request_id = ?", [row[0]]
            ).fetchone()[0]
            twin = (
                db["operations"]
                .insert(
                    {
                        "request_id": row[0],
                        "seq": seq,
                        "device_name": row[1],
                        "operation_type": row[2],
                        "parameters": row[3],
                        "wave": row[4],  # of its original's wave: the next waits for it too
                        "scheduled_at": format_api_time(scheduled_at),
                        "state": "submitted",
                        "api_id": api_id,
                        "status": status,
                        "final": int(is_final(status)),
                        "estimated_duration": estimated_duration,
                        "created_at": _now_text(now),
                        "updated_at": _now_text(now),
                    }
                )
                .last_pk
            )
            self._record_first_status(db, twin, status, now)
            self._audit_operation(
                db,
                twin,
                event="adopted",
                now=now,
                detail={
                    "was": "sent_again",
                    "twin_of": operation_id,
                    "status": status,
                    "scheduled_at": format_api_time(scheduled_at),
                },
            )
            self._enqueue(db, {**announce, "operation_id": twin}, now)
            # A twin already failed ends its wave as any failure does; one still running
            # reopens a finished request, summed up again when it ends.
            self._maybe_finished(db, announce["request_id"], now)
            return True

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
            return self._announced(
                db,
                "UPDATE operations SET overdue_warned = 1 WHERE id = ? AND overdue_warned = 0",
                [operation_id],
                announce=announce,
                now=now,
            )

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

    # --- device names the API has shown -------------------------------------------------------

    def learn_devices(self, names: Sequence[str], *, now: datetime) -> None:
        """Remember these spellings (the API's own): the newest spelling of a name wins."""
        rows = {name.lower(): name for name in names if name}
        if not rows:
            return
        with self._write() as db:
            db.conn.executemany(
                "INSERT INTO devices (key, name, seen_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET name = excluded.name, seen_at = excluded.seen_at",
                [(key, name, _now_text(now)) for key, name in rows.items()],
            )

    def known_devices(self) -> dict[str, str]:
        """Every device name the API has shown, by its lower-case form."""
        with self._lock:
            return {r["key"]: r["name"] for r in self.db.query("SELECT key, name FROM devices")}

    # --- outbox ---------------------------------------------------------------------------

    def _record_first_status(
        self, db: Database, operation_id: int, status: str, now: datetime
    ) -> None:
        db["status_changes"].insert(
            {
                "operation_id": operation_id,
                "old_status": None,
                "new_status": status,
                "at": _now_text(now),
            }
        )

    def _maybe_finished(self, db: Database, request_id: str, now: datetime) -> None:
        """Once every operation of a request of several has ended, its thread gets one line
        summing them up; written in the transaction of the change that ended the last one.
        Once per ending: a request reopened (an operation dropped, then found in the API after
        all) is summed up again when it ends again. A request in waves first moves on (or
        halts) when the change ended its current wave."""
        self._advance_waves(db, request_id, now)
        # Asked on every status change, under the write lock: one indexed look while any
        # operation is unfinished (0.65 ms a change at 2,000 operations when it counted them).
        unfinished = db.execute(
            "SELECT 1 FROM operations WHERE request_id = ? AND final = 0 LIMIT 1", [request_id]
        ).fetchone()
        if unfinished is not None:
            return
        several = db.execute(
            "SELECT 1 FROM operations WHERE request_id = ? LIMIT 1 OFFSET 1", [request_id]
        ).fetchone()
        if several is None:
            return
        summed, reopened = db.execute(
            "SELECT sum(kind = ?), sum(kind IN (?, ?, ?)) FROM outbox WHERE request_id = ?",
            [FINISHED, *sorted(REOPENING), request_id],
        ).fetchone()
        if (summed or 0) > (reopened or 0):
            return
        self._enqueue(db, {"request_id": request_id, "kind": FINISHED}, now)

    def _routine(self, db: Database, announce: dict[str, Any]) -> bool:
        """An operation's routine step in a request on several devices: the live summary
        shows it, and its thread is not told. A step that is a failure (an operation the API
        answered already failed, a final status other than success) is always told."""
        kind = announce.get("kind")
        condition = TOLD_ONCE.get(str(kind))
        if condition is not None:
            # The change is made before it is announced: another operation of the request
            # still meeting the condition means the thread was told already (or will be).
            return self._several_devices(db, announce) and self._met_elsewhere(
                db, announce, condition
            )
        if kind not in ROUTINE_KINDS:
            return False
        if kind == "status":
            if is_failure(str(announce.get("new") or "")):
                return False
        else:
            row = db.execute(
                "SELECT status FROM operations WHERE id = ?", [announce.get("operation_id")]
            ).fetchone()
            if row is None or is_failure(row[0]):
                return False
        return self._several_devices(db, announce)

    def _several_devices(self, db: Database, announce: dict[str, Any]) -> bool:
        """Several devices, not several operations: two services restarted on one device, or
        a device's second operation found after a Send again, are still told step by step.
        The first operation on another device ends the search (the request's index)."""
        other = db.execute(
            "SELECT 1 FROM operations WHERE request_id = ? AND lower(device_name) != "
            "(SELECT lower(device_name) FROM operations WHERE id = ?) LIMIT 1",
            [announce["request_id"], announce.get("operation_id")],
        ).fetchone()
        return other is not None

    def _met_elsewhere(self, db: Database, announce: dict[str, Any], condition: str) -> bool:
        return (
            db.execute(
                f"SELECT 1 FROM operations WHERE request_id = ? AND id != ? AND {condition} "
                "LIMIT 1",
                [announce["request_id"], announce.get("operation_id")],
            ).fetchone()
            is not None
        )

    def _enqueue(self, db: Database, announce: dict[str, Any], now: datetime) -> None:
        data = dict(announce)
        db.execute(
            "UPDATE requests SET root_version = root_version + 1 WHERE id = ?",
            [data["request_id"]],
        )
        if self._routine(db, data):  # the public message is re-rendered, nothing more
            return
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
        return self._events(
            f"{_EVENTS} INDEXED BY idx_outbox_pending WHERE {_TO_DELIVER} ORDER BY o.id LIMIT ?",
            [limit],
        )

    def waiting_channels(self) -> list[str]:
        """The channels a public message waits to be posted in. Skipped through from one
        channel to the next in an index: the cost is a step or two per channel, however many
        messages wait in each."""
        with self._lock:
            return [
                row[0]
                for row in self.db.execute(
                    "WITH RECURSIVE lanes(channel) AS (SELECT min(channel) FROM outbox "
                    f"WHERE channel IS NOT NULL AND {_TO_DELIVER_ROW} UNION ALL "
                    "SELECT (SELECT min(channel) FROM outbox WHERE channel > lanes.channel "
                    f"AND {_TO_DELIVER_ROW}) FROM lanes WHERE lanes.channel IS NOT NULL) "
                    "SELECT channel FROM lanes WHERE channel IS NOT NULL"
                )
            ]

    def next_in_each_thread(
        self, channel: str | None, *, limit: int = 200, skip: Collection[str] = ()
    ) -> list[OutboxEvent]:
        """What may go out next into `channel` (None: the requesters' private messages): the
        oldest event still to deliver of each of its threads, a request's public message
        first (the first sign in public that the request was confirmed), then oldest first;
        at most `limit`, and none of the threads in `skip` (those waiting after a failure).
        A thread whose messages cannot go out holds up only itself, however many it has
        waiting, and a channel only itself: the cost is the messages read up to the `limit`
        (and past the skipped threads' ones), not what waits."""
        return self._events(
            f"{_EVENTS} INDEXED BY idx_outbox_channels WHERE o.channel IS ? AND {_TO_DELIVER} "
            "AND o.thread NOT IN (SELECT value FROM json_each(?)) AND NOT EXISTS (SELECT 1 "
            "FROM outbox p INDEXED BY idx_outbox_threads WHERE p.thread = o.thread "
            "AND p.id < o.id AND p.delivered_at IS NULL AND p.given_up_at IS NULL) "
            f"ORDER BY o.channel, o.kind <> '{ROOT}', o.id LIMIT ?",
            [channel, json.dumps(list(skip)), limit],
        )

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
                    channel=r["channel"],
                )
                for r in self.db.query(sql, params)
            ]

    def root_version(self, request_id: str) -> int:
        """How many changes its public message has to show: read before rendering it."""
        with self._lock:
            row = self.db.execute(
                "SELECT root_version FROM requests WHERE id = ?", [request_id]
            ).fetchone()
            return row[0] if row else 0

    def root_posted(
        self,
        event_id: int,
        *,
        status_ts: str,
        now: datetime,
        version: int = 0,
        covers: int | None = None,
    ) -> bool:
        """The request's public message is in the channel: its thread is known from now on.
        `version`: the root_version it was rendered at (read before): nothing to edit until
        the request changes again.

        `covers`: the newest outbox event when this post was tried (`newest_event_id()`, read
        before the call to Slack). Slack took a post in the channel after every request whose
        public message was queued by then had been confirmed: that answers, for each of them
        still waiting there, whether the bot may post in the channel, as its own message would
        have, and its operations need not wait for their own (paced) message any more. A
        request confirmed after the post was tried waits for a later one: a refusal since then
        can still stop it."""
        with self._write() as db:
            if not self._cas(
                db,
                "UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL "
                "AND given_up_at IS NULL",
                [_now_text(now), event_id],
            ):
                return False
            db.execute(
                "UPDATE requests SET status_ts = ?, root_tried_at = coalesce(root_tried_at, ?), "
                "root_shown = max(root_shown, ?), root_shown_at = julianday('now') "
                "WHERE id = (SELECT request_id FROM outbox WHERE id = ?)",
                [status_ts, _now_text(now), version, event_id],
            )
            if covers is not None:
                # Those still waiting in the channel, not answered for yet (their index), each
                # confirmed before the post was tried: its public message queued by then. Ids
                # order the confirmations exactly; the clock has whole seconds.
                db.execute(
                    "UPDATE requests INDEXED BY idx_requests_untried SET root_tried_at = ? "
                    "WHERE channel = "
                    "(SELECT r.channel FROM requests r JOIN outbox o ON o.request_id = r.id "
                    "WHERE o.id = ?) AND status_ts IS NULL "
                    "AND state IN ('confirmed', 'approving') AND root_tried_at IS NULL "
                    "AND EXISTS (SELECT 1 FROM outbox q WHERE q.request_id = requests.id "
                    "AND q.kind = ? AND q.id <= ?)",
                    [_now_text(now), event_id, ROOT, covers],
                )
            # The bot posts there again: it was invited back.
            db.execute(
                "DELETE FROM refused_channels WHERE channel = "
                "(SELECT r.channel FROM requests r JOIN outbox o ON o.request_id = r.id "
                "WHERE o.id = ?)",
                [event_id],
            )
            return True

    def root_tried(self, request_id: str, *, now: datetime) -> None:
        """Slack answered the public message with a passing failure (rate limit, outage): the
        operations need not wait for it any more."""
        with self._write() as db:
            db.execute(
                "UPDATE requests SET root_tried_at = coalesce(root_tried_at, ?) WHERE id = ?",
                [_now_text(now), request_id],
            )

    def stop_unposted(
        self,
        channel: str,
        *,
        reason: str,
        error: str,
        now: datetime,
        notice: str,
        only: str | None = None,
    ) -> list[str]:
        """Slack will never post in `channel` (the bot is not in it, it is gone or archived):
        the channel is remembered as refusing, and every confirmed request there whose public
        message has not gone out and none of whose operations has been sent stops here. Its
        public message is given up, its operations are not sent (`reason` says why), and its
        requester is told, with a `notice`, all in one transaction. Returns those stopped.

        `only`: a request whose public message was queued before a refusal already known:
        that one alone is looked at, and the channel is not marked again (the bot may have
        posted there since)."""
        with self._write() as db:
            stopped = [
                row[0]
                for row in db.execute(
                    "SELECT r.id FROM requests r WHERE r.channel = ? "
                    "AND r.state IN ('confirmed', 'approving') "
                    "AND r.status_ts IS NULL AND (? IS NULL OR r.id = ?) AND NOT EXISTS "
                    "(SELECT 1 FROM operations o WHERE o.request_id = r.id "
                    # Back in 'new' on a person's Send again: its first attempt may have gone.
                    # A request waiting for approval has only drafts. A later wave's
                    # operations wait in 'waiting'; one kept outside its window in 'outside'.
                    f"AND (o.state NOT IN {UNSENT} OR o.answered_by IS NOT NULL))",
                    [channel, only, only],
                ).fetchall()
            ]
            if only is None:
                db.execute(
                    "INSERT INTO refused_channels (channel, reason, since) VALUES (?, ?, ?) "
                    "ON CONFLICT (channel) DO UPDATE SET reason = excluded.reason",
                    [channel, reason, _now_text(now)],
                )
            for request_id in stopped:
                db.execute(
                    "UPDATE outbox SET given_up_at = ?, last_error = ? WHERE request_id = ? "
                    "AND kind = ? AND delivered_at IS NULL AND given_up_at IS NULL",
                    [_now_text(now), error[:500], request_id, ROOT],
                )
                db.execute(
                    "UPDATE requests SET root_tried_at = coalesce(root_tried_at, ?) WHERE id = ?",
                    [_now_text(now), request_id],
                )
                db.execute(
                    "UPDATE operations SET state = 'rejected', final = 1, error = ?, "
                    f"updated_at = ? WHERE request_id = ? AND state IN {UNSENT}",
                    [reason, _now_text(now), request_id],
                )
                # Nobody can approve a message that was never posted.
                db.execute(
                    "UPDATE requests SET state = 'expired' WHERE id = ? AND state = 'approving'",
                    [request_id],
                )
                self._audit_request(
                    db,
                    request_id,
                    event="stopped",
                    actor=BOT_ACTOR,
                    now=now,
                    detail={"reason": reason, "error": error},
                )
                self._enqueue(db, {"request_id": request_id, "kind": notice, "reason": reason}, now)
            return stopped

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

    def newest_event_id(self) -> int:
        with self._lock:
            return self.db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]

    def mark_delivered(self, event_id: int, *, now: datetime) -> bool:
        with self._write() as db:
            return self._cas(
                db,
                "UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL "
                "AND given_up_at IS NULL",
                [_now_text(now), event_id],
            )

    def stale_roots(
        self, *, limit: int = 1000, skip: Collection[str] = ()
    ) -> list[tuple[str, int, bool]]:
        """Requests whose public message is older than their state, in the order they are
        edited when edits are rationed: finished requests first (the end of a request is what
        its readers wait for), then the one shown longest ago (or the first few by id would
        take every turn). (id, version to show, finished), at most `limit`, none of `skip`
        (those shown too recently, or waiting after a failure): read from an index in that
        order, so the cost is what is read, not how many wait."""
        with self._lock:
            return [
                (r["id"], r["root_version"], not r["root_open"])
                for r in self.db.query(
                    "SELECT id, root_version, root_open FROM requests "
                    "WHERE root_version > root_shown AND status_ts IS NOT NULL "
                    "AND root_given_up_at IS NULL AND id NOT IN (SELECT value FROM json_each(?)) "
                    "ORDER BY root_open, root_shown_at LIMIT ?",
                    [json.dumps(list(skip)), limit],
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
                "UPDATE requests SET root_shown = max(root_shown, ?), "
                "root_shown_at = julianday('now') WHERE id = ?",
                [version, request_id],
            )

    def mark_attempt_started(self, event_id: int) -> None:
        """Counted before sending: after a crash mid-send, attempts > 0 says the message may
        have gone out, so the sender checks before sending it again."""
        with self._write() as db:
            db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", [event_id])

    def mark_attempt_failed(self, event_id: int, *, error: str, landed: bool = True) -> None:
        """`landed` False: Slack said the message was not posted (a 429), so this try does not
        count as one that may have gone out."""
        with self._write() as db:
            db.execute(
                "UPDATE outbox SET last_error = ?, attempts = attempts - ? WHERE id = ?",
                [error[:500], int(not landed), event_id],
            )
