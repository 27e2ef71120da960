"""Unknown outcomes: a create call that went unanswered, settled by the API's list or by a person,
never by sending again on a guess.
"""

from __future__ import annotations

from datetime import datetime

from bot.model import format_api_time
from store.base import (
    _TO_SEND,
    StoreBase,
    _now_text,
)
from store.records import (
    OUTSIDE,
    OperationRecord,
    is_final,
)


class UnknownOutcomes(StoreBase):
    def ask_about_unknown(self, operation_id: int, *, now: datetime, announce: dict) -> bool:
        """Once per unknown outcome: the requester is asked whether to send it again."""
        with self.engine.write() as tx:
            return self._announced(
                tx,
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
        # Sent for a new time, it keeps the time it had in `earlier_times`.
        retimed = (
            f"earlier_times = {self.dialect.json_append('earlier_times', 'scheduled_at')}, "
            "scheduled_at = ?, "
            if run_at
            else ""
        )
        with self.engine.write() as tx:
            if not self._announced(
                tx,
                f"UPDATE operations SET state = {_TO_SEND}, next_send_at = NULL, answered_by = ?, "
                f"send_attempts = send_attempts + 1, {retimed}watch_original_until = ?, "
                "updated_at = ? WHERE id = ? AND state = 'unknown'",
                [
                    user,
                    *([format_api_time(run_at)] if run_at else []),
                    _now_text(watch_until),
                    _now_text(now),
                    operation_id,
                ],
                announce=announce,
                now=now,
            ):
                return False
            self._audit_operation(
                tx,
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
        with self.engine.write() as tx:
            if not self._announced(
                tx,
                "UPDATE operations SET state = 'rejected', final = 1, error = ?, "
                "answered_by = ?, watch_original_until = ?, updated_at = ? "
                "WHERE id = ? AND state = 'unknown'",
                [error, user, _now_text(watch_until), _now_text(now), operation_id],
                announce=announce,
                now=now,
                ends=True,
            ):
                return False
            self._audit_operation(tx, operation_id, event="dropped", actor=user, now=now)
            return True

    def operations_watched(self, *, now: datetime) -> list[OperationRecord]:
        """Operations a person sent again or dropped whose first attempt may still appear in
        the API's list (one being sent right now is left for the next look)."""
        with self.engine.read() as tx:
            watched = [
                OperationRecord.from_row(r)
                for r in tx.rows(
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
        with self.engine.write() as tx:
            if not self._cas(
                tx,
                "UPDATE operations SET watch_original_until = NULL "
                "WHERE id = ? AND watch_original_until IS NOT NULL AND state = 'submitted'",
                [operation_id],
            ):
                return False
            row = tx.row(
                "SELECT request_id, device_name, operation_type, parameters, wave "
                "FROM operations WHERE id = ?",
                [operation_id],
            )
            assert row is not None
            seq = tx.value(
                "SELECT max(seq) + 1 FROM operations WHERE request_id = ?", [row["request_id"]]
            )
            twin = tx.insert(
                "operations",
                {
                    **row,  # of its original's wave too: the next waits for it
                    "seq": seq,
                    "scheduled_at": format_api_time(scheduled_at),
                    "state": "submitted",
                    "api_id": api_id,
                    "status": status,
                    "final": int(is_final(status)),
                    "estimated_duration": estimated_duration,
                    "created_at": _now_text(now),
                    "updated_at": _now_text(now),
                },
            )
            self._record_first_status(tx, twin, status, now)
            self._audit_operation(
                tx,
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
            self._enqueue(tx, {**announce, "operation_id": twin}, now)
            # A twin already failed ends its wave as any failure does; one still running
            # reopens a finished request, summed up again when it ends.
            self._maybe_finished(tx, announce["request_id"], now)
            return True
