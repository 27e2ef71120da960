"""Maintenance windows: operations kept outside a window that blocks, moved or dropped by a
person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.model import format_api_time
from store.base import (
    _TO_SEND,
    BOT_ACTOR,
    StoreBase,
    _now_text,
    _retimed,
)
from store.engine import Tx
from store.records import (
    OUTSIDE,
    OUTSIDE_DROPPED,
    OUTSIDE_MOVED,
)


class Windows(StoreBase):
    def park_outside(self, operation_id: int, *, now: datetime, announce: dict[str, Any]) -> bool:
        """Due (or claimed a moment ago) but its time to run is outside a window that blocks:
        it waits for a person's Move or Drop, asked once in its thread while any waits."""
        with self.engine.write() as tx:
            if not self._announced(
                tx,
                f"UPDATE operations SET state = '{OUTSIDE}', held_since = NULL, held_by = NULL, "
                "updated_at = ? WHERE id = ? AND state IN ('new', 'sending')",
                [_now_text(now), operation_id],
                announce=announce,
                now=now,
            ):
                return False
            self._audit_operation(tx, operation_id, event="outside_window", now=now)
            return True

    def move_outside(
        self, request_id: str, *, times: dict[int, datetime], user: str, now: datetime
    ) -> int:
        """A person's Move: the operations waiting outside their window go, each for the time
        given (its window's next start, or now in an open one). Returns how many moved."""
        with self.engine.write() as tx:
            moved = 0
            for operation_id, moment in times.items():
                moved += tx.execute(
                    f"UPDATE operations SET state = {_TO_SEND}, {_retimed(self.dialect, '?')}, "
                    "next_send_at = NULL, "
                    f"updated_at = ? WHERE id = ? AND request_id = ? AND state = '{OUTSIDE}'",
                    [
                        format_api_time(moment),
                        format_api_time(moment),
                        _now_text(now),
                        operation_id,
                        request_id,
                    ],
                )
            if moved:
                shown = sorted({format_api_time(m) for m in times.values()})
                self._audit_request(
                    tx, request_id, event="moved", actor=user, now=now, detail={"times": shown}
                )
                self._enqueue(
                    tx,
                    {"request_id": request_id, "kind": OUTSIDE_MOVED, "by": user, "count": moved},
                    now,
                )
            return moved

    def drop_outside(self, request_id: str, *, user: str, error: str, now: datetime) -> int:
        """A person's Drop: the operations waiting outside their window are never sent."""
        with self.engine.write() as tx:
            return self._drop_outside(tx, request_id, by=user, error=error, now=now)

    def drop_unanswered_outside(
        self, *, kept_before: datetime, error: str, now: datetime
    ) -> list[str]:
        """Operations kept outside their window since before `kept_before`, nobody having
        moved or dropped them: never sent, each request's thread told once. Returns those
        requests."""
        with self.engine.write() as tx:
            ended = [
                row["request_id"]
                for row in tx.rows(
                    "SELECT DISTINCT request_id FROM operations"
                    f"{self.dialect.indexed_by('idx_operations_outside')} "
                    f"WHERE state = '{OUTSIDE}' AND updated_at <= ?",
                    [_now_text(kept_before)],
                )
            ]
            for request_id in ended:
                self._drop_outside(tx, request_id, by=None, error=error, now=now)
            return ended

    def _drop_outside(
        self, tx: Tx, request_id: str, *, by: str | None, error: str, now: datetime
    ) -> int:
        """What waits outside its window ends unsent: by a person's Drop, or (`by` None)
        nobody having answered in time. Said in the thread, and summed up if it was the last."""
        dropped = tx.execute(
            "UPDATE operations SET state = 'rejected', final = 1, error = ?, updated_at = ? "
            f"WHERE request_id = ? AND state = '{OUTSIDE}'",
            [error, _now_text(now), request_id],
        )
        if not dropped:
            return 0
        detail = {"count": dropped, **({} if by else {"unanswered": True})}
        self._audit_request(
            tx, request_id, event="dropped", actor=by or BOT_ACTOR, now=now, detail=detail
        )
        announce = {"request_id": request_id, "kind": OUTSIDE_DROPPED, "count": dropped}
        self._enqueue(tx, {**announce, **({"by": by} if by else {})}, now)
        self._maybe_finished(tx, request_id, now)
        return dropped
