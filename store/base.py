"""What every part of the store shares: its engine, the compare-and-set, and what a change
brings with it in its own transaction (its announcement, its audit line, its request's
summary).

Every state change is an atomic compare-and-set: `UPDATE … WHERE state = <expected>`, and the
caller learns whether it won. That is what makes a double click create one operation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from store.dialect import Dialect
from store.engine import Engine, Tx
from store.records import (
    FINISHED,
    REOPENING,
    ROUTINE_KINDS,
    TOLD_ONCE,
    OperationRecord,
    RequestRecord,
    Vote,
    is_failure,
)


def _now_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


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


def _retimed(dialect: Dialect, new: str) -> str:
    """SQL that moves an operation to the time `new` (an SQL expression, written twice: give
    its parameters twice). One a person sent again after an unknown outcome keeps the time it
    had in `earlier_times`: a create call for that time may have reached the API, and is
    still recognised in its list by it."""
    return (
        f"earlier_times = CASE WHEN answered_by IS NOT NULL AND scheduled_at != {new} "
        f"THEN {dialect.json_append('earlier_times', 'scheduled_at')} "
        f"ELSE earlier_times END, scheduled_at = {new}"
    )


def null_safe_equal(column: str, value: Any) -> tuple[str, list[Any]]:
    """`column IS ?`, written so that both engines can use an index and know the parameter's
    type: `column IS NULL`, or `column = ?` with its parameter."""
    return (f"{column} IS NULL", []) if value is None else (f"{column} = ?", [value])


def shown_at() -> float:
    """When a public message was shown, as SQLite's `julianday('now')` gave it (the column is
    a Julian day number): the wall clock, not the bot's, as before; a parameter, so the SQL is
    the same on every engine."""
    return datetime.now(UTC).timestamp() / 86400 + 2440587.5


# The lease whose holder does the background work (bot/track/leadership.py, store/leases.py).
BACKGROUND_LEASE = "background"

BOT_ACTOR = "opsbot"  # the audit's actor for what the bot does on its own (send, poll, expire)


class StoreBase:
    """The state every part of the store shares: an engine (store/engine.py) and its dialect.
    The parts (store/requests.py, store/waves.py, …) are mixins over it, composed by
    `store.db.Store`."""

    engine: Engine
    dialect: Dialect
    fence: str | None = None

    def _fenced(self) -> tuple[str, list[Any]]:
        """The condition (` AND EXISTS …`, and its parameters) a claim that leads to an outside
        call which is not idempotent (a POST, a message) adds to its compare-and-set: that this
        process still holds the background lease, unexpired by the database's clock, judged
        in the claim's own transaction. Writers go one at a time, so a replica whose lease ran
        out and was taken over claims nothing, even with a round of its still going. Nothing
        when `fence` is None (one process on its own database)."""
        if self.fence is None:
            return "", []
        return (
            " AND EXISTS (SELECT 1 FROM leases WHERE name = ? AND holder = ? "
            f"AND expires_at > {self.dialect.clock()})",
            [BACKGROUND_LEASE, self.fence],
        )

    def _advance_waves(self, tx: Tx, request_id: str, now: datetime) -> None:
        raise NotImplementedError  # store/waves.py

    def _release(self, tx: Tx, request_id: str, *, now: datetime, run_at: datetime | None) -> bool:
        raise NotImplementedError  # store/waves.py

    def _cas(self, tx: Tx, sql: str, params: Sequence[Any]) -> bool:
        return tx.execute(sql, params) == 1

    def _announced(
        self,
        tx: Tx,
        sql: str,
        params: Sequence[Any],
        *,
        announce: dict[str, Any],
        now: datetime,
        ends: bool = False,
    ) -> bool:
        """A compare-and-set and, if it won, its announcement in the same transaction (and,
        when the change `ends` an operation, its request's summary if it was the last)."""
        if not self._cas(tx, sql, params):
            return False
        self._enqueue(tx, announce, now)
        if ends:
            self._maybe_finished(tx, announce["request_id"], now)
        return True

    def _audit(
        self,
        tx: Tx,
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
        tx.execute(
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
        tx: Tx,
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
        row = tx.row(
            "SELECT o.request_id, o.device_name, o.operation_type, o.scheduled_at, "
            "o.parameters, o.api_id, r.channel FROM operations o "
            "JOIN requests r ON r.id = o.request_id WHERE o.id = ?",
            [operation_id],
        )
        assert row is not None
        extra: dict[str, Any] = {"operation": operation_id}
        if post:
            extra["post"] = {
                "device_name": row["device_name"],
                "operation_type": row["operation_type"],
                "scheduled_at": row["scheduled_at"],
                "parameters": json.loads(row["parameters"] or "{}"),
            }
        self._audit(
            tx,
            event=event,
            actor=actor,
            now=now,
            request_id=row["request_id"],
            channel=row["channel"],
            device_name=row["device_name"],
            api_id=api_id or row["api_id"],
            detail={**extra, **(detail or {})},
        )

    def _audit_request(
        self,
        tx: Tx,
        request_id: str,
        *,
        event: str,
        actor: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
    ) -> None:
        channel = tx.value("SELECT channel FROM requests WHERE id = ?", [request_id])
        self._audit(
            tx,
            event=event,
            actor=actor,
            now=now,
            request_id=request_id,
            channel=channel,
            detail=detail,
        )

    def _request(self, tx: Tx, request_id: str) -> RequestRecord | None:
        """The request as the transaction `tx` sees it."""
        row = tx.row("SELECT * FROM requests WHERE id = ?", [request_id])
        if row is None:
            return None
        ops = [
            OperationRecord.from_row(r)
            for r in tx.rows(
                "SELECT * FROM operations WHERE request_id = ? ORDER BY seq", [request_id]
            )
        ]
        votes = [
            Vote(user=r["user"], verdict=r["verdict"], at=datetime.fromisoformat(r["at"]))
            for r in tx.rows(
                "SELECT * FROM approvals WHERE request_id = ? ORDER BY at", [request_id]
            )
        ]
        return RequestRecord.from_row(row, ops, votes)

    def _record_first_status(self, tx: Tx, operation_id: int, status: str, now: datetime) -> None:
        tx.insert(
            "status_changes",
            {
                "operation_id": operation_id,
                "old_status": None,
                "new_status": status,
                "at": _now_text(now),
            },
        )

    def _maybe_finished(self, tx: Tx, request_id: str, now: datetime) -> None:
        """Once every operation of a request of several has ended, its thread gets one line
        summing them up; written in the transaction of the change that ended the last one.
        Once per ending: a request reopened (an operation dropped, then found in the API after
        all) is summed up again when it ends again. A request in waves first moves on (or
        halts) when the change ended its current wave."""
        self._advance_waves(tx, request_id, now)
        # Asked on every status change, under the write lock: one indexed look while any
        # operation is unfinished (0.65 ms a change at 2,000 operations when it counted them).
        unfinished = tx.value(
            "SELECT 1 FROM operations WHERE request_id = ? AND final = 0 LIMIT 1", [request_id]
        )
        if unfinished is not None:
            return
        several = tx.value(
            "SELECT 1 FROM operations WHERE request_id = ? LIMIT 1 OFFSET 1", [request_id]
        )
        if several is None:
            return
        told = tx.row(
            "SELECT sum(CASE WHEN kind = ? THEN 1 ELSE 0 END) AS summed, "
            "sum(CASE WHEN kind IN (?, ?, ?) THEN 1 ELSE 0 END) AS reopened "
            "FROM outbox WHERE request_id = ?",
            [FINISHED, *sorted(REOPENING), request_id],
        )
        assert told is not None  # an aggregate: one row
        if (told["summed"] or 0) > (told["reopened"] or 0):
            return
        self._enqueue(tx, {"request_id": request_id, "kind": FINISHED}, now)

    def _routine(self, tx: Tx, announce: dict[str, Any]) -> bool:
        """An operation's routine step in a request on several devices: the live summary
        shows it, and its thread is not told. A step that is a failure (an operation the API
        answered already failed, a final status other than success) is always told."""
        kind = announce.get("kind")
        condition = TOLD_ONCE.get(str(kind))
        if condition is not None:
            # The change is made before it is announced: another operation of the request
            # still meeting the condition means the thread was told already (or will be).
            return self._several_devices(tx, announce) and self._met_elsewhere(
                tx, announce, condition
            )
        if kind not in ROUTINE_KINDS:
            return False
        if kind == "status":
            if is_failure(str(announce.get("new") or "")):
                return False
        else:
            row = tx.row(
                "SELECT status FROM operations WHERE id = ?", [announce.get("operation_id")]
            )
            if row is None or is_failure(row["status"]):
                return False
        return self._several_devices(tx, announce)

    def _several_devices(self, tx: Tx, announce: dict[str, Any]) -> bool:
        """Several devices, not several operations: two services restarted on one device, or
        a device's second operation found after a Send again, are still told step by step.
        The first operation on another device ends the search (the request's index)."""
        other = tx.value(
            "SELECT 1 FROM operations WHERE request_id = ? AND lower(device_name) != "
            "(SELECT lower(device_name) FROM operations WHERE id = ?) LIMIT 1",
            [announce["request_id"], announce.get("operation_id")],
        )
        return other is not None

    def _met_elsewhere(self, tx: Tx, announce: dict[str, Any], condition: str) -> bool:
        return (
            tx.value(
                f"SELECT 1 FROM operations WHERE request_id = ? AND id != ? AND {condition} "
                "LIMIT 1",
                [announce["request_id"], announce.get("operation_id")],
            )
            is not None
        )

    def _enqueue(self, tx: Tx, announce: dict[str, Any], now: datetime) -> None:
        data = dict(announce)
        tx.execute(
            "UPDATE requests SET root_version = root_version + 1 WHERE id = ?",
            [data["request_id"]],
        )
        if self._routine(tx, data):  # the public message is re-rendered, nothing more
            return
        tx.insert(
            "outbox",
            {
                "request_id": data.pop("request_id"),
                "kind": data.pop("kind"),
                "data": json.dumps(data),
                "created_at": _now_text(now),
                "attempts": 0,
            },
        )
