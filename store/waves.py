"""Waves: a request's operations released a wave at a time, halted by a failure."""

from __future__ import annotations

from datetime import datetime

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
    STOPPED,
    SUCCEEDED_STATUSES,
    WAITING,
    WAVE_CONTINUED,
    WAVE_HALTED,
    WAVE_STARTED,
    WAVES_STOPPED,
)


class Waves(StoreBase):
    def _release(self, tx: Tx, request_id: str, *, now: datetime, run_at: datetime | None) -> bool:
        """The drafts become operations to send; in waves, only those of the wave under way
        (the first, at the first release), the others waiting for theirs. Each goes for its
        time, or for `run_at` (a request for now runs when confirmed or approved), or for now
        if its time went by while it waited for a person: waiting never makes it late. True
        when waves started (the caller announces the first)."""
        d = self.dialect
        current = d.greatest("1", "(SELECT wave FROM requests WHERE id = operations.request_id)")
        sets = f"state = CASE WHEN coalesce(wave, 1) <= {current} THEN 'new' ELSE '{WAITING}' END"
        moment = run_at if run_at is not None else now
        sets += ", updated_at = ?, " + _retimed(
            d, "?" if run_at else d.greatest("scheduled_at", "?")
        )
        tx.execute(
            f"UPDATE operations SET {sets} WHERE request_id = ? AND state = 'draft'",
            [_now_text(now), format_api_time(moment), format_api_time(moment), request_id],
        )
        return self._cas(
            tx,
            "UPDATE requests SET wave = 1, wave_state = 'going' "
            "WHERE id = ? AND waves > 1 AND wave = 0",
            [request_id],
        )

    def _advance_waves(self, tx: Tx, request_id: str, now: datetime) -> None:
        """In the transaction of a change that may have ended an operation: once every
        operation of the current wave is final, the next wave is released (sent now) if none
        failed, and the request halts if one did (refused before the API, or a final status
        other than success). An operation whose outcome is unknown is not final: the next
        wave waits for it. The last wave releases nothing: the summary says how it ended."""
        row = tx.row("SELECT waves, wave, wave_state FROM requests WHERE id = ?", [request_id])
        if row is None or row["waves"] < 2 or row["wave_state"] != "going":
            return
        waves, wave = row["waves"], row["wave"]
        if wave >= waves:
            return
        ops = tx.rows(
            "SELECT id, state, final, status FROM operations WHERE request_id = ? AND wave = ?",
            [request_id, wave],
        )
        if any(not op["final"] for op in ops):
            return
        failed = [
            op["id"]
            for op in ops
            if op["state"] != "submitted"
            or (op["status"] or "").strip().lower() not in SUCCEEDED_STATUSES
        ]
        if not failed:
            if self._next_wave(tx, request_id, wave=wave, state="going", now=now):
                self._enqueue(
                    tx, {"request_id": request_id, "kind": WAVE_STARTED, "wave": wave + 1}, now
                )
            return
        if self._cas(
            tx,
            "UPDATE requests SET wave_state = 'halted', halted_at = ? "
            "WHERE id = ? AND wave_state = 'going' AND wave = ?",
            [_now_text(now), request_id, wave],
        ):
            self._audit_request(
                tx,
                request_id,
                event="waves_halted",
                actor=BOT_ACTOR,
                now=now,
                detail={"wave": wave, "waves": waves, "failed": failed},
            )
            self._enqueue(
                tx,
                {"request_id": request_id, "kind": WAVE_HALTED, "wave": wave, "failed": failed},
                now,
            )

    def _next_wave(self, tx: Tx, request_id: str, *, wave: int, state: str, now: datetime) -> bool:
        """`wave` → the next, if the request is still at `wave` in `state` and every operation
        of `wave` has ended (one found in the API after all may have reopened it): its
        operations become due at the request's time, or now if that has passed (a wave
        released early, after a failure before the time, still waits for the time asked)."""
        if not self._cas(
            tx,
            "UPDATE requests SET wave = wave + 1, wave_state = 'going', halted_at = NULL "
            "WHERE id = ? AND wave = ? AND wave_state = ? AND wave < waves AND NOT EXISTS "
            "(SELECT 1 FROM operations o WHERE o.request_id = requests.id AND o.wave = ? "
            "AND o.final = 0)",
            [request_id, wave, state, wave],
        ):
            return False
        tx.execute(
            f"UPDATE operations SET state = {_TO_SEND}, updated_at = ?, "
            f"scheduled_at = {self.dialect.greatest('scheduled_at', '?')} "
            f"WHERE request_id = ? AND wave = ? AND state = '{WAITING}'",
            [_now_text(now), format_api_time(now), request_id, wave + 1],
        )
        return True

    def continue_waves(self, request_id: str, *, wave: int, user: str, now: datetime) -> str:
        """A halted request goes on: the wave after `wave` (the one that failed) is released,
        and only that one; the waves after it follow as usual. Whether this person may is the
        caller's to check first. Returns "continued", or why not: "not_found", "stale" (the
        request is halted after another wave: an older button), or its wave state."""
        with self.engine.write() as tx:
            row = tx.row("SELECT wave, wave_state FROM requests WHERE id = ?", [request_id])
            if row is None:
                return "not_found"
            if row["wave_state"] != "halted" or row["wave"] != wave:
                return "stale" if row["wave_state"] == "halted" else (row["wave_state"] or "none")
            if not self._next_wave(tx, request_id, wave=wave, state="halted", now=now):
                return "stale"
            self._audit_request(
                tx,
                request_id,
                event="waves_continued",
                actor=user,
                now=now,
                detail={"wave": wave + 1},
            )
            self._enqueue(
                tx,
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
        with self.engine.write() as tx:
            row = tx.row("SELECT wave, wave_state FROM requests WHERE id = ?", [request_id])
            if row is None:
                return "not_found"
            if row["wave_state"] != "halted" or row["wave"] != wave:
                return "stale" if row["wave_state"] == "halted" else (row["wave_state"] or "none")
            if not self._cas(
                tx,
                "UPDATE requests SET wave_state = 'stopped', stopped_by = ? "
                "WHERE id = ? AND wave = ? AND wave_state = 'halted'",
                [user, request_id, wave],
            ):
                return "stale"
            held = tx.execute(
                f"UPDATE operations SET state = '{STOPPED}', final = 1, error = ?, "
                f"updated_at = ? WHERE request_id = ? AND state = '{WAITING}'",
                [error, _now_text(now), request_id],
            )
            self._audit_request(
                tx,
                request_id,
                event="waves_stopped",
                actor=user,
                now=now,
                detail={"wave": wave, "never_sent": held},
            )
            self._enqueue(
                tx,
                {"request_id": request_id, "kind": WAVES_STOPPED, "by": user, "count": held},
                now,
            )
            self._maybe_finished(tx, request_id, now)
            return "stopped"

    def halted_requests(self) -> list[str]:
        """Requests halted after a failed wave, waiting for Continue or Stop, oldest first."""
        with self.engine.read() as tx:
            return [
                row["id"]
                for row in tx.rows(
                    f"SELECT id FROM requests{self.dialect.indexed_by('idx_requests_halted')} "
                    "WHERE wave_state = 'halted' ORDER BY halted_at NULLS FIRST, id"
                )
            ]
