"""The Home tab's questions: what one person sees, from the store alone."""

from __future__ import annotations

from datetime import datetime

from bot.model import format_api_time
from store.base import (
    StoreBase,
    _now_text,
)
from store.records import (
    OperationRecord,
    RequestRecord,
)


class Home(StoreBase):
    def pending_of(self, requester: str, *, now: datetime, limit: int) -> list[RequestRecord]:
        """Requests waiting for `requester`'s confirmation (not yet expired), newest first:
        found among the requests not yet expired, whoever asked, never in the person's
        history (the ones nobody clicked stay pending after their expiry)."""
        with self.engine.read() as tx:
            ids = [
                row["id"]
                for row in tx.rows(
                    f"SELECT id FROM requests{self.dialect.indexed_by('idx_requests_pending')} "
                    "WHERE state = 'pending' AND expires_at > ? AND requester = ? "
                    "ORDER BY created_at DESC LIMIT ?",
                    [_now_text(now), requester, limit],
                )
            ]
            return [r for r in (self._request(tx, i) for i in ids) if r is not None]

    def approving_requests(self, *, limit: int) -> list[RequestRecord]:
        """Requests waiting for approval, the soonest to expire first (who may approve each
        is the policy's question, asked by the caller)."""
        with self.engine.read() as tx:
            ids = [
                row["id"]
                for row in tx.rows(
                    f"SELECT id FROM requests{self.dialect.indexed_by('idx_requests_approving')} "
                    "WHERE state = 'approving' ORDER BY approval_expires_at NULLS FIRST LIMIT ?",
                    [limit],
                )
            ]
            return [r for r in (self._request(tx, i) for i in ids) if r is not None]

    def in_flight_of(self, requester: str, *, limit: int) -> tuple[list[OperationRecord], int]:
        """`requester`'s operations not yet ended, of requests confirmed or waiting for
        approval, the soonest first: up to `limit` of them, and how many in all. Found among
        the operations not yet ended and the requests waiting for approval, whoever asked:
        what is unfinished, never the person's history."""
        d = self.dialect
        sent = (
            f"FROM operations o{d.indexed_by('idx_operations_live')} JOIN requests r "
            "ON r.id = o.request_id WHERE o.final = 0 AND o.state <> 'draft' "
            "AND o.state NOT IN ('rejected', 'stopped') AND r.requester = ? "
            "AND r.state IN ('confirmed', 'approving')"
        )
        approving = (
            f"FROM requests r{d.indexed_by('idx_requests_approving')} JOIN operations o "
            "ON o.request_id = r.id WHERE r.state = 'approving' AND r.requester = ? "
            "AND o.final = 0 AND o.state = 'draft'"
        )
        with self.engine.read() as tx:
            rows = tx.rows(
                f"SELECT o.* {sent} UNION ALL SELECT o.* {approving} "
                "ORDER BY scheduled_at, id LIMIT ?",
                [requester, requester, limit],
            )
            ops = [OperationRecord.from_row(r) for r in rows]
            total = tx.value(
                f"SELECT (SELECT count(*) {sent}) + (SELECT count(*) {approving})",
                [requester, requester],
            )
        return ops, total

    def scheduled_between(
        self, start: datetime, end: datetime, *, limit: int
    ) -> tuple[list[OperationRecord], int]:
        """Operations of confirmed requests not yet ended whose time is in [start, end), the
        soonest first: up to `limit`, and how many in all."""
        where = (
            f"FROM operations o{self.dialect.indexed_by('idx_operations_live')} "
            "JOIN requests r ON r.id = o.request_id WHERE o.final = 0 AND o.state <> 'draft' "
            "AND o.scheduled_at >= ? AND o.scheduled_at < ? AND r.state = 'confirmed' "
            "AND o.state NOT IN ('rejected', 'stopped')"
        )
        window = [format_api_time(start), format_api_time(end)]
        with self.engine.read() as tx:
            rows = tx.rows(
                f"SELECT o.* {where} ORDER BY o.scheduled_at, o.id LIMIT ?", [*window, limit]
            )
            ops = [OperationRecord.from_row(r) for r in rows]
            total = tx.value(f"SELECT count(*) {where}", window)
        return ops, total
