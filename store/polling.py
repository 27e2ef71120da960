"""The poller's bookkeeping: which operations to ask the API about, when, and how it went."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from store.base import (
    StoreBase,
    _now_text,
    null_safe_equal,
)
from store.records import (
    OperationRecord,
)


class Polling(StoreBase):
    def operations_to_poll(self) -> list[OperationRecord]:
        with self.engine.read() as tx:
            return [
                OperationRecord.from_row(r)
                for r in tx.rows(
                    "SELECT * FROM operations WHERE state = 'submitted' AND final = 0 ORDER BY id"
                )
            ]

    # The poller's questions name their index: without statistics SQLite prefers the one on
    # (state, final), which walks every operation followed to find the few that are due.
    @property
    def _next_check(self) -> str:
        return self.dialect.indexed_by("idx_operations_next_check")

    def operations_unplaced(self, *, limit: int = 1000) -> list[OperationRecord]:
        """Operations followed but not yet in the poller's schedule (just submitted)."""
        with self.engine.read() as tx:
            return [
                OperationRecord.from_row(r)
                for r in tx.rows(
                    f"SELECT * FROM operations{self._next_check} "
                    "WHERE state = 'submitted' AND final = 0 "
                    "AND next_check_at IS NULL LIMIT ?",
                    [limit],
                )
            ]

    def operations_due(self, *, by: datetime, limit: int = 5000) -> list[OperationRecord]:
        """Operations followed whose next look is due by `by`, soonest first (the index on
        next_check_at answers it: the cost is what is due, not what is followed)."""
        with self.engine.read() as tx:
            return [
                OperationRecord.from_row(r)
                for r in tx.rows(
                    f"SELECT * FROM operations{self._next_check} "
                    "WHERE state = 'submitted' AND final = 0 "
                    "AND next_check_at <= ? ORDER BY next_check_at LIMIT ?",
                    [_now_text(by), limit],
                )
            ]

    def next_check_due(self) -> datetime | None:
        """When the soonest look is due; the epoch if one is not yet placed; None: nothing
        is followed. Two index seeks, whatever the number followed."""
        with self.engine.read() as tx:
            unplaced = tx.value(
                f"SELECT 1 FROM operations{self._next_check} "
                "WHERE state = 'submitted' AND final = 0 "
                "AND next_check_at IS NULL LIMIT 1"
            )
            if unplaced:
                return datetime.fromtimestamp(0, UTC)
            soonest = tx.value(
                f"SELECT min(next_check_at) FROM operations{self._next_check} "
                "WHERE state = 'submitted' AND final = 0"
            )
        return None if soonest is None else datetime.fromisoformat(soonest)

    def submitted_since(self, operation_id: int) -> int:
        """How many operations this bot created at the API since this one (itself included):
        roughly how far from the newest end of the API's list it is."""
        with self.engine.read() as tx:
            return tx.value(
                "SELECT count(*) FROM operations WHERE id >= ? AND api_id IS NOT NULL",
                [operation_id],
            )

    def schedule_checks(self, plans: Sequence[tuple[int, datetime | None, datetime, int]]) -> int:
        """(operation id, the next look it had, the next look, failed looks in a row) for
        each: a compare-and-set on the next look it had, so a plan made from a stale read
        (the operation was sent again meanwhile) is dropped. One transaction for all.
        Returns how many were placed."""
        placed = 0
        with self.engine.write() as tx:
            for operation_id, was, at, failures in plans:
                had, had_params = null_safe_equal(
                    "next_check_at", None if was is None else _now_text(was)
                )
                placed += self._cas(
                    tx,
                    "UPDATE operations SET next_check_at = ?, check_failures = ? "
                    f"WHERE id = ? AND {had} AND state = 'submitted' AND final = 0",
                    [_now_text(at), failures, operation_id, *had_params],
                )
        return placed

    def check_failed(
        self, operation_id: int, *, now: datetime, announce_after: float, announce: dict
    ) -> bool:
        """Remember since when checks fail; announce once when that is longer than
        `announce_after` seconds. True when this call announced."""
        with self.engine.write() as tx:
            tx.execute(
                "UPDATE operations SET check_failing_since = coalesce(check_failing_since, ?) "
                "WHERE id = ?",
                [_now_text(now), operation_id],
            )
            row = tx.row(
                "SELECT check_failing_since, outage_announced FROM operations WHERE id = ?",
                [operation_id],
            )
            assert row is not None
            since = datetime.fromisoformat(row["check_failing_since"])
            if row["outage_announced"] or (now - since).total_seconds() < announce_after:
                return False
            tx.execute("UPDATE operations SET outage_announced = 1 WHERE id = ?", [operation_id])
            self._enqueue(tx, announce, now)
            return True

    def check_succeeded(self, operation_id: int, *, now: datetime, announce: dict) -> bool:
        """Checks work again; if an outage was announced, say that contact is back."""
        with self.engine.write() as tx:
            announced = self._cas(
                tx,
                "UPDATE operations SET check_failing_since = NULL, outage_announced = 0 "
                "WHERE id = ? AND outage_announced = 1",
                [operation_id],
            )
            if announced:
                self._enqueue(tx, announce, now)
            else:
                tx.execute(
                    "UPDATE operations SET check_failing_since = NULL WHERE id = ?", [operation_id]
                )
            return announced

    def warn_overdue(self, operation_id: int, *, now: datetime, announce: dict) -> bool:
        with self.engine.write() as tx:
            return self._announced(
                tx,
                "UPDATE operations SET overdue_warned = 1 WHERE id = ? AND overdue_warned = 0",
                [operation_id],
                announce=announce,
                now=now,
            )

    def status_history(self, operation_id: int) -> list[dict[str, Any]]:
        with self.engine.read() as tx:
            return tx.rows(
                "SELECT old_status, new_status, at FROM status_changes "
                "WHERE operation_id = ? ORDER BY id",
                [operation_id],
            )
