"""Approvals, and a request judged again when the bot acts (a new policy file, a window that asks
for approval).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from store.base import (
    BOT_ACTOR,
    StoreBase,
    _now_text,
)
from store.engine import Tx
from store.records import (
    APPROVAL_NEEDED,
    APPROVE,
    LAPSED,
    POLICY_REFUSED,
    REJECT,
    UNSENT,
    WAVE_STARTED,
    WINDOW_CLOSED,
)


class Approvals(StoreBase):
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
        with self.engine.write() as tx:
            request = self._request(tx, request_id)
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
            tx.execute(
                'INSERT INTO approvals (request_id, "user", verdict, at) VALUES (?, ?, ?, ?) '
                'ON CONFLICT (request_id, "user") DO UPDATE SET verdict = excluded.verdict, '
                "at = excluded.at",
                [request_id, user, APPROVE, _now_text(now)],
            )
            count = len(request.approvals) + 1
            self._audit_request(
                tx,
                request_id,
                event="approved",
                actor=user,
                now=now,
                detail={"count": count, "needed": request.approvals_needed},
            )
            self._enqueue(
                tx,
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
                tx,
                "UPDATE requests SET state = 'confirmed' WHERE id = ? AND state = 'approving'",
                [request_id],
            )
            if self._release(tx, request_id, now=now, run_at=run_at):
                self._enqueue(tx, {"request_id": request_id, "kind": WAVE_STARTED, "wave": 1}, now)
            return "approved"

    def reject(self, request_id: str, *, user: str, now: datetime, error: str) -> str:
        """approving → rejected: nothing is sent. Returns "rejected" or why not (as approve)."""
        with self.engine.write() as tx:
            request = self._request(tx, request_id)
            if request is None:
                return "not_found"
            if request.state != "approving":
                return request.state
            if request.approval_expires_at and request.approval_expires_at <= now:
                return "expired"
            self._cas(
                tx,
                "UPDATE requests SET state = 'rejected' WHERE id = ? AND state = 'approving'",
                [request_id],
            )
            tx.execute(
                'INSERT INTO approvals (request_id, "user", verdict, at) VALUES (?, ?, ?, ?) '
                'ON CONFLICT (request_id, "user") DO UPDATE SET verdict = excluded.verdict, '
                "at = excluded.at",
                [request_id, user, REJECT, _now_text(now)],
            )
            self._end_unsent(tx, request_id, error=error, now=now)
            self._audit_request(tx, request_id, event="rejected", actor=user, now=now)
            self._enqueue(tx, {"request_id": request_id, "kind": "rejected", "by": user}, now)
            return "rejected"

    def expire_approvals(self, *, now: datetime, error: str) -> list[str]:
        """Requests whose approval did not come in time end as expired, each said in its
        thread. Returns them."""
        with self.engine.write() as tx:
            ended = [
                row["id"]
                for row in tx.rows(
                    "SELECT id FROM requests WHERE state = 'approving' "
                    "AND approval_expires_at <= ?",
                    [_now_text(now)],
                )
            ]
            for request_id in ended:
                tx.execute(
                    "UPDATE requests SET state = 'expired' WHERE id = ? AND state = 'approving'",
                    [request_id],
                )
                self._end_unsent(tx, request_id, error=error, now=now)
                self._audit_request(
                    tx, request_id, event="approval_expired", actor=BOT_ACTOR, now=now
                )
                self._enqueue(tx, {"request_id": request_id, "kind": "approval_expired"}, now)
            return ended

    def _end_unsent(self, tx: Tx, request_id: str, *, error: str, now: datetime) -> None:
        """Operations that will never be sent now (the request rejected, not approved in time,
        refused by the file in force), refused before the API: their lines say why. Its waves
        stop; a request some of whose operations went is summed up once they have ended."""
        went = tx.value(
            "SELECT 1 FROM operations WHERE request_id = ? "
            "AND state IN ('sending', 'submitted', 'unknown') LIMIT 1",
            [request_id],
        )
        tx.execute(
            "UPDATE operations SET state = 'rejected', final = 1, error = ?, updated_at = ?, "
            f"held_since = NULL, held_by = NULL WHERE request_id = ? AND state IN {UNSENT}",
            [error, _now_text(now), request_id],
        )
        tx.execute(
            "UPDATE requests SET wave_state = 'stopped' "
            "WHERE id = ? AND wave_state IN ('going', 'halted')",
            [request_id],
        )
        if went is not None:
            self._maybe_finished(tx, request_id, now)

    def end_window_closed(
        self, request_id: str, *, error: str, now: datetime, claimed: Sequence[int] = ()
    ) -> bool:
        """A request moved into the windows open then, about to go (its last approval, a
        freeze's end) after one of them closed: it ends as expired, nothing of it sent, its
        thread told why (`policy["window_closed"]` marks why it expired). `claimed`:
        operations the sender took a moment ago, ended with the rest. False: it was not
        waiting to go (another click or loop ended or sent it first)."""
        with self.engine.write() as tx:
            # Read and written back in one transaction, as ask_approval_for_window does.
            policy = json.loads(
                tx.value("SELECT policy FROM requests WHERE id = ?", [request_id]) or "{}"
            )
            if not self._cas(
                tx,
                "UPDATE requests SET state = 'expired', policy = ? "
                "WHERE id = ? AND state IN ('confirmed', 'approving')",
                [json.dumps({**policy, "window_closed": True}), request_id],
            ):
                return False
            ids = ", ".join(str(int(i)) for i in claimed)
            tx.execute(
                "UPDATE operations SET state = 'new' WHERE request_id = ? AND state = 'sending' "
                f"AND id IN ({ids or 'NULL'})",
                [request_id],
            )
            self._audit_request(tx, request_id, event=WINDOW_CLOSED, actor=BOT_ACTOR, now=now)
            self._enqueue(tx, {"request_id": request_id, "kind": WINDOW_CLOSED}, now)
            self._end_unsent(tx, request_id, error=error, now=now)
            return True

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
        with self.engine.write() as tx:
            if not self._cas(
                tx,
                "UPDATE requests SET approvals_needed = ?, approvers = ?, policy = ? "
                "WHERE id = ? AND state IN ('confirmed', 'approving') "
                f"AND coalesce({self.dialect.json_text('policy', 'fingerprint')}, '') = ?",
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
                tx.execute(
                    f"UPDATE approvals SET verdict = '{LAPSED}' WHERE request_id = ? "
                    f"AND verdict = '{APPROVE}' AND \"user\" IN ({marks})",
                    [request_id, *voided],
                )
            count = self._approvals(tx, request_id)
            detail = {"rules": list(rules), "needed": needed, "count": count}
            self._audit_request(
                tx,
                request_id,
                event="rejudged",
                actor=BOT_ACTOR,
                now=now,
                detail={**detail, "voided": list(voided)},
            )
            state = tx.value("SELECT state FROM requests WHERE id = ?", [request_id])
            if count < needed:
                self._wait_for_approval(
                    tx, request_id, expires_at=expires_at, claimed=claimed, now=now
                )
                self._enqueue(
                    tx, {"request_id": request_id, "kind": APPROVAL_NEEDED, **detail}, now
                )
                return "approving"
            if state == "confirmed":
                return "ok"
            if not release:
                return "kept"
            tx.execute("UPDATE requests SET state = 'confirmed' WHERE id = ?", [request_id])
            self._enqueue(tx, {"request_id": request_id, "kind": APPROVAL_NEEDED, **detail}, now)
            if self._release(tx, request_id, now=now, run_at=None):
                self._enqueue(tx, {"request_id": request_id, "kind": WAVE_STARTED, "wave": 1}, now)
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
        with self.engine.write() as tx:
            # Read and written back in one transaction, one writer at a time: the policy's
            # approval now covers the time outside the window (JSON is changed in Python, the
            # same on every engine).
            policy = json.loads(
                tx.value("SELECT policy FROM requests WHERE id = ?", [request_id]) or "{}"
            )
            approval = policy.get("approval")
            policy["approval"] = {
                **(approval if isinstance(approval, dict) else {}),
                "covers_outside": True,
            }
            if not self._cas(
                tx,
                "UPDATE requests SET approvals_needed = ?, approvers = ?, policy = ? "
                "WHERE id = ? AND state = 'confirmed'",
                [
                    needed,
                    json.dumps([None if s is None else list(s) for s in approver_sets]),
                    json.dumps(policy),
                    request_id,
                ],
            ):
                return False
            tx.execute(
                f"UPDATE approvals SET verdict = '{LAPSED}' WHERE request_id = ? "
                f"AND verdict = '{APPROVE}'",
                [request_id],
            )
            self._wait_for_approval(tx, request_id, expires_at=expires_at, claimed=claimed, now=now)
            detail = {"why": "window", **about, "needed": needed}
            self._audit_request(
                tx, request_id, event=APPROVAL_NEEDED, actor=BOT_ACTOR, now=now, detail=detail
            )
            self._enqueue(tx, {"request_id": request_id, "kind": APPROVAL_NEEDED, **detail}, now)
            return True

    def _wait_for_approval(
        self,
        tx: Tx,
        request_id: str,
        *,
        expires_at: datetime,
        claimed: Sequence[int],
        now: datetime,
    ) -> None:
        """A request goes back to waiting for approval: its unsent operations are drafts
        again (`claimed`: taken by the sender a moment ago, put back), released with it."""
        tx.execute(
            "UPDATE requests SET state = 'approving', approval_expires_at = ? "
            "WHERE id = ? AND state = 'confirmed'",
            [_now_text(expires_at), request_id],
        )
        ids = ", ".join(str(int(i)) for i in claimed)
        tx.execute(
            "UPDATE operations SET state = 'draft', held_since = NULL, held_by = NULL, "
            "updated_at = ? WHERE request_id = ? AND (state = 'new' "
            f"OR (state = 'sending' AND id IN ({ids or 'NULL'})))",
            [_now_text(now), request_id],
        )

    def _approvals(self, tx: Tx, request_id: str) -> int:
        count = tx.value(
            f"SELECT count(*) FROM approvals WHERE request_id = ? AND verdict = '{APPROVE}'",
            [request_id],
        )
        return int(count)

    def refuse_by_policy(self, request_id: str, *, reason: str, now: datetime) -> bool:
        """The file in force no longer allows a request at all (its requester, its channel, a
        rule): it ends as rejected by it (no vote of anyone's), nothing more of it sent; what
        it sent already is still followed."""
        with self.engine.write() as tx:
            if not self._cas(
                tx,
                "UPDATE requests SET state = 'rejected' "
                "WHERE id = ? AND state IN ('confirmed', 'approving')",
                [request_id],
            ):
                return False
            self._audit_request(
                tx,
                request_id,
                event=POLICY_REFUSED,
                actor=BOT_ACTOR,
                now=now,
                detail={"reason": reason},
            )
            self._enqueue(
                tx, {"request_id": request_id, "kind": POLICY_REFUSED, "reason": reason}, now
            )
            self._end_unsent(tx, request_id, error=reason, now=now)
            return True
