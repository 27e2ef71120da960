"""Operations: claimed for sending, sent, refused or retried, and their statuses as the API
reports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.model import format_api_time
from store.base import (
    StoreBase,
    _now_text,
    null_safe_equal,
)
from store.engine import Tx
from store.freezes import frozen_sql
from store.records import (
    OperationRecord,
    is_final,
    is_running,
)


class Operations(StoreBase):
    def start_sending(self, operation_id: int, *, now: datetime) -> bool:
        """new → sending: only the winner may POST this operation, never while a freeze
        covers its device, and, among replicas, only while this one holds the background lease
        (`_fenced`). Both are checked in the claim's own transaction: a freeze committed
        before it wins, however long ago the sender picked the operation up."""
        fence, fence_params = self._fenced()
        with self.engine.write() as tx:
            return self._cas(
                tx,
                "UPDATE operations SET state = 'sending', updated_at = ? "
                f"WHERE id = ? AND state = 'new' AND NOT EXISTS ({frozen_sql(self.dialect)})"
                + fence,
                [_now_text(now), operation_id, _now_text(now), *fence_params],
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
        with self.engine.write() as tx:
            if not self._submitted(
                tx,
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
                tx,
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
        with self.engine.write() as tx:
            if not self._cas(
                tx,
                "UPDATE operations SET state = ?, error = ?, final = ?, updated_at = ?, "
                "unknown_since = ?, asked_at = NULL WHERE id = ? AND state = 'sending'",
                [
                    state,
                    error,
                    int(state == "rejected"),
                    _now_text(now),
                    _now_text(now) if state == "unknown" else None,
                    operation_id,
                ],
            ):
                return False
            if state == "unknown":
                event = "api_unknown"
            else:
                event = "api_refused" if answer is not None else "not_sent"
            self._audit_operation(
                tx,
                operation_id,
                event=event,
                now=now,
                post=answer is not None,
                detail={"error": error, **({"answer": answer} if answer is not None else {})},
            )
            self._enqueue(tx, announce, now)
            self._maybe_finished(tx, announce["request_id"], now)
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
        running = "coalesce(running_since, ?)" if is_running(new) else "running_since"
        was, was_params = null_safe_equal("status", old)
        with self.engine.write() as tx:
            if not self._cas(
                tx,
                "UPDATE operations SET status = ?, final = ?, updated_at = ?, "
                # The API's error, kept: a halted wave names it.
                f"error = coalesce(?, error), running_since = {running} "
                f"WHERE id = ? AND {was} AND state = 'submitted'",
                [
                    new,
                    int(is_final(new)),
                    _now_text(now),
                    announce.get("error") or None,
                    *([_now_text(now)] if is_running(new) else []),
                    operation_id,
                    *was_params,
                ],
            ):
                return False
            tx.insert(
                "status_changes",
                {
                    "operation_id": operation_id,
                    "old_status": old,
                    "new_status": new,
                    "at": _now_text(now),
                },
            )
            if is_final(new):
                # Only the outcome: the steps on the way (scheduled, running) are in
                # status_changes, and a line each would make the trail mostly polling noise.
                error = announce.get("error")
                self._audit_operation(
                    tx,
                    operation_id,
                    event="api_status",
                    now=now,
                    detail={"old": old, "new": new, **({"error": error} if error else {})},
                )
            self._enqueue(tx, announce, now)
            self._maybe_finished(tx, announce["request_id"], now)
            return True

    def operations_to_send(self, *, now: datetime, root_wait: timedelta) -> list[OperationRecord]:
        """Confirmed operations not yet sent whose (re)try time has come, once Slack has
        answered their request's public message or taken a post in its channel tried since
        the confirmation (`root_posted`'s `covers`), or `root_wait` after the confirmation
        whatever Slack is doing: only a definite "not in channel" may still stop them. In a
        channel that turned the bot away, they wait for that answer however long it takes."""
        with self.engine.read() as tx:
            return [
                OperationRecord.from_row(r)
                for r in tx.rows(
                    "SELECT o.* FROM operations o JOIN requests r ON r.id = o.request_id "
                    "WHERE o.state = 'new' AND r.state = 'confirmed' "
                    "AND (o.next_send_at IS NULL OR o.next_send_at <= ?) "
                    "AND (r.root_tried_at IS NOT NULL OR (r.confirmed_at <= ? AND r.channel "
                    "NOT IN (SELECT channel FROM refused_channels))) ORDER BY o.id",
                    [_now_text(now), _now_text(now - root_wait)],
                )
            ]

    def operations_in_state(self, state: str) -> list[OperationRecord]:
        with self.engine.read() as tx:
            return [
                OperationRecord.from_row(r)
                for r in tx.rows("SELECT * FROM operations WHERE state = ? ORDER BY id", [state])
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
        with self.engine.write() as tx:
            if not self._announced(
                tx,
                "UPDATE operations SET state = 'new', error = ?, next_send_at = ?, "
                "send_attempts = send_attempts + 1, updated_at = ? "
                "WHERE id = ? AND state = 'sending'",
                [error, _now_text(not_before), _now_text(now), operation_id],
                announce=announce,
                now=now,
            ):
                return False
            self._audit_operation(
                tx,
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
        with self.engine.write() as tx:
            tx.execute(
                "UPDATE operations SET scheduled_at = ? WHERE id = ? AND state = ?",
                [format_api_time(scheduled_at), operation_id, was],
            )
            if not self._submitted(
                tx,
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
            tx.execute(
                "UPDATE requests SET wave_state = 'going', halted_at = NULL "
                "WHERE id = (SELECT request_id FROM operations WHERE id = ?) "
                "AND wave_state = 'halted' AND wave = (SELECT wave FROM operations WHERE id = ?) "
                "AND EXISTS (SELECT 1 FROM operations WHERE id = ? AND final = 0)",
                [operation_id, operation_id, operation_id],
            )
            self._audit_operation(
                tx,
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
        tx: Tx,
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
            tx,
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
        self._record_first_status(tx, operation_id, status, now)
        self._enqueue(tx, announce, now)
        self._maybe_finished(tx, announce["request_id"], now)
        return True

    def api_ids_taken(self, api_ids: Sequence[str]) -> set[str]:
        """Those of `api_ids` that are some operation's already."""
        if not api_ids:
            return set()
        marks = ", ".join("?" for _ in api_ids)
        with self.engine.read() as tx:
            return {
                r["api_id"]
                for r in tx.rows(
                    f"SELECT api_id FROM operations WHERE api_id IN ({marks})", list(api_ids)
                )
            }

    def operations_sent(self) -> list[OperationRecord]:
        """Every operation the API gave an id, oldest first: the demo's simulator, started
        again on a kept database, is told them, as the real API would still hold them."""
        with self.engine.read() as tx:
            return [
                OperationRecord.from_row(r)
                for r in tx.rows("SELECT * FROM operations WHERE api_id IS NOT NULL ORDER BY id")
            ]

    def recover_after_crash(self, *, now: datetime, error: str) -> int:
        """At start-up, or when this replica takes the lead: a POST that was in flight has an
        unknown outcome; `error` says why, on each such operation. Returns how many. Unknown
        since it was claimed, right before its POST: the wait before the API's list is read
        counts from the POST, not from the restart or the takeover (which came 10 s or more
        after it), and whatever the list shows, however late, is still adopted."""
        with self.engine.write() as tx:
            in_flight = [
                row["id"] for row in tx.rows("SELECT id FROM operations WHERE state = 'sending'")
            ]
            tx.execute(
                "UPDATE operations SET state = 'unknown', "
                "unknown_since = coalesce(updated_at, ?), updated_at = ?, "
                "error = ?, asked_at = NULL WHERE state = 'sending'",
                [_now_text(now), _now_text(now), error],
            )
            for operation_id in in_flight:
                self._audit_operation(
                    tx,
                    operation_id,
                    event="api_unknown",
                    now=now,
                    post=True,
                    detail={"error": error},
                )
            return len(in_flight)
