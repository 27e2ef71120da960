"""The audit trail: what was done, by whom, when; written in the transaction of the change."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from store.base import (
    StoreBase,
    _now_text,
)

AUDIT_PAGE = 500


class Audit(StoreBase):
    def audit_counts(self, events: Sequence[str]) -> dict[str, int]:
        """How many audit lines of each of `events` the trail holds: counted by the database
        as each line is written (migration 0009), so the answer costs a row per event, however
        long the trail."""
        marks = ", ".join("?" for _ in events)
        with self.engine.read() as tx:
            rows = tx.rows(
                f"SELECT event, lines FROM audit_events WHERE event IN ({marks})", list(events)
            )
        return {r["event"]: int(r["lines"]) for r in rows}

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
        with self.engine.write() as tx:
            self._audit(
                tx,
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
        if not self.engine.has_table("audit"):
            return  # a database no opsbot with an audit trail has opened yet
        start = 0
        if since is not None:
            with self.engine.read() as tx:
                # INDEXED BY: left to itself SQLite walks the ids from the first until one is
                # recent enough (its min() shortcut), all the trail for a question about today.
                first = tx.value(
                    f"SELECT min(id) FROM audit{self.dialect.indexed_by('idx_audit_at')} "
                    "WHERE at >= ?",
                    [_now_text(since)],
                )
            if first is None:
                return
            start = first - 1
        floor = _now_text(since) if since is not None else ""
        left = limit
        while left is None or left > 0:
            page = AUDIT_PAGE if left is None else min(AUDIT_PAGE, left)
            with self.engine.read() as tx:
                rows = tx.rows(
                    "SELECT a.*, r.channel AS request_channel, "
                    "coalesce(r.thread_ts, r.status_ts) AS root_ts FROM audit a "
                    "LEFT JOIN requests r ON r.id = a.request_id "
                    # Walked by id, never by the `at` index (that would sort each page out of
                    # everything since).
                    f"WHERE a.id > ? AND {self.dialect.unindexed('a.at')} >= ? "
                    "ORDER BY a.id LIMIT ?",
                    [start, floor, page],
                )
            for row in rows:
                row["detail"] = json.loads(row["detail"] or "{}")
                yield row
            if len(rows) < page:
                return
            start = rows[-1]["id"]
            if left is not None:
                left -= len(rows)
