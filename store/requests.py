"""Requests: created, moved, confirmed, cancelled or expired, and read back as records."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.model import OperationSpec, format_api_time
from store.base import (
    BOT_ACTOR,
    StoreBase,
    _now_text,
)
from store.engine import insert_statement
from store.records import (
    ROOT,
    WAVE_STARTED,
    RequestRecord,
)


class Requests(StoreBase):
    """Requests and the records read back from them."""

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
        (`wave_size`, `canary`), each operation carries its device's wave.

        What is recorded is `RequestRecord.preview` of the same arguments (the dry run), so
        the two can never number waves or read an argument differently."""
        plan = RequestRecord.preview(
            specs=specs,
            requester=requester,
            surface=surface,
            text=text,
            tz=tz,
            immediate=immediate,
            notes=notes,
            channel=channel,
            thread_ts=thread_ts,
            response_url=response_url,
            now=now,
            expires_at=expires_at,
            policy=policy,
            wave_size=wave_size,
            canary=canary,
        )
        request_id = "r_" + secrets.token_hex(6)
        with self.engine.write() as tx:
            request = {
                "id": request_id,
                "state": "pending",
                "requester": plan.requester,
                "surface": plan.surface,
                "text": plan.text,
                "tz": plan.tz,
                "immediate": int(plan.immediate),
                "notes": json.dumps(list(plan.notes)),
                "channel": plan.channel,
                "thread_ts": plan.thread_ts,
                "response_url": plan.response_url,
                "created_at": _now_text(plan.created_at),
                "expires_at": _now_text(plan.expires_at),
                "policy": json.dumps(plan.policy),
                "wave_size": plan.wave_size,
                "canary": int(plan.canary),
                "waves": plan.waves,
            }
            tx.execute(insert_statement("requests", list(request)), list(request.values()))
            tx.insert_many(
                "operations",
                [
                    {
                        "request_id": request_id,
                        "seq": op.seq,
                        "device_name": op.device_name,
                        "operation_type": op.operation_type,
                        "parameters": json.dumps(op.parameters),
                        "scheduled_at": format_api_time(op.scheduled_at),
                        "state": "draft",
                        "final": 0,
                        "created_at": _now_text(now),
                        "updated_at": _now_text(now),
                        "wave": op.wave,
                    }
                    for op in plan.operations
                ],
            )
            self._audit(
                tx,
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
                    **({"waves": plan.waves} if plan.waves else {}),
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
        immediate: bool = False,
    ) -> bool:
        """A pending request's operations move to new times (into their maintenance window),
        by its requester, before it is confirmed; `immediate`: into the windows open now, it
        becomes a request for now, run when confirmed."""
        with self.engine.write() as tx:
            request = self._request(tx, request_id)
            if request is None or request.state != "pending" or request.requester != user:
                return False
            notes = [*request.notes, note] if note not in request.notes else list(request.notes)
            if not self._cas(
                tx,
                "UPDATE requests SET immediate = ?, policy = ?, notes = ? "
                "WHERE id = ? AND state = 'pending'",
                [int(immediate), json.dumps(policy), json.dumps(notes), request_id],
            ):
                return False
            for operation_id, moment in times.items():
                tx.execute(
                    "UPDATE operations SET scheduled_at = ? WHERE id = ? AND state = 'draft'",
                    [format_api_time(moment), operation_id],
                )
            self._audit_request(
                tx,
                request_id,
                event="moved",
                actor=user,
                now=now,
                detail={"times": sorted({format_api_time(m) for m in times.values()})},
            )
            return True

    def get_request(self, request_id: str) -> RequestRecord | None:
        with self.engine.read() as tx:
            return self._request(tx, request_id)

    def request_of_operation(self, operation_id: int) -> RequestRecord | None:
        with self.engine.read() as tx:
            request_id = tx.value("SELECT request_id FROM operations WHERE id = ?", [operation_id])
            return None if request_id is None else self._request(tx, request_id)

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
        with self.engine.write() as tx:
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
                tx,
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
            started = not approvals_needed and self._release(tx, request_id, now=now, run_at=run_at)
            self._enqueue(tx, {"request_id": request_id, "kind": ROOT}, now)
            if started:  # after the public message: the thread's first reply
                self._enqueue(tx, {"request_id": request_id, "kind": WAVE_STARTED, "wave": 1}, now)
            self._audit_request(
                tx,
                request_id,
                event="confirmed",
                actor=user,
                now=now,
                detail={"approvals_needed": approvals_needed} if approvals_needed else None,
            )
            return True

    def end_request(self, request_id: str, *, to: str, user: str | None, now: datetime) -> bool:
        """pending → cancelled (by its requester) or expired (user None)."""
        sql = "UPDATE requests SET state = ? WHERE id = ? AND state = 'pending'"
        params: list[Any] = [to, request_id]
        if user is not None:
            sql += " AND requester = ?"
            params.append(user)
        with self.engine.write() as tx:
            if not self._cas(tx, sql, params):
                return False
            self._audit_request(tx, request_id, event=to, actor=user or BOT_ACTOR, now=now)
            return True

    def expire_pending(self, *, now: datetime) -> list[str]:
        """Requests nobody clicked in time end as expired, each with its audit line now (not
        when someone clicks later): the trail and `opsbot_requests_total` count them as they
        happen. Found by their expiry among the pending ones alone (an index)."""
        with self.engine.write() as tx:
            ended = [
                row["id"]
                for row in tx.rows(
                    f"SELECT id FROM requests{self.dialect.indexed_by('idx_requests_pending')} "
                    "WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at",
                    [_now_text(now)],
                )
            ]
            for request_id in ended:
                if self._cas(
                    tx,
                    "UPDATE requests SET state = 'expired' WHERE id = ? AND state = 'pending'",
                    [request_id],
                ):
                    self._audit_request(tx, request_id, event="expired", actor=BOT_ACTOR, now=now)
            return ended

    def tell_once(self, announce: dict[str, Any], *, now: datetime) -> bool:
        """A notice its request's thread gets once, whichever operation meets it first (an
        operation sent outside a window that only warns)."""
        with self.engine.write() as tx:
            told = tx.value(
                "SELECT 1 FROM outbox WHERE request_id = ? AND kind = ? LIMIT 1",
                [announce["request_id"], announce["kind"]],
            )
            if told is not None:
                return False
            self._enqueue(tx, announce, now)
            return True
