"""The bot's state in one SQLite file, through sqlite-utils.

Every state change is an atomic compare-and-set: `UPDATE … WHERE state = <expected>`, and the
caller learns whether it won. That is what makes a double click create one operation.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import waves as waves_of
from bot.model import OperationSpec, format_api_time
from store.audit import Audit
from store.base import (
    BOT_ACTOR,
    StoreBase,
    _now_text,
)
from store.engine import SqliteEngine, Tx, insert_statement
from store.facts import Facts
from store.freezes import Freezes
from store.home import Home
from store.operations import Operations
from store.outbox import Outbox
from store.polling import Polling
from store.records import (
    APPROVAL_NEEDED,
    APPROVE,
    LAPSED,
    POLICY_REFUSED,
    REJECT,
    ROOT,
    UNSENT,
    WAVE_STARTED,
    RequestRecord,
)
from store.unknown import UnknownOutcomes
from store.waves import Waves
from store.windows import Windows

if TYPE_CHECKING:
    from sqlite_utils import Database


class Store(
    Windows,
    Waves,
    Operations,
    UnknownOutcomes,
    Outbox,
    Polling,
    Home,
    Freezes,
    Facts,
    Audit,
    StoreBase,
):
    """The bot's state over one engine (store/engine.py): every statement in a transaction
    from `engine.write()` or a reading from `engine.read()`."""

    def __init__(self, *, path: str | Path, read_only: bool = False) -> None:
        """`read_only`: for looking only (`opsbot audit`): the file must exist, nothing is
        created or migrated, and a write fails."""
        self.path = str(path)
        self.engine = SqliteEngine(path=path, read_only=read_only)
        self.dialect = self.engine.dialect

    @property
    def db(self) -> Database:
        """SQLite only: the sqlite-utils Database under the engine, for the tests and
        benchmarks that are about SQLite itself (its migrations, its VM steps, its plans)."""
        return self.engine.db

    def backup(self, path: str | Path) -> None:
        """A consistent copy of the live database (SQLite's online backup), safe while the
        bot runs."""
        self.engine.backup(path)

    def close(self) -> None:
        self.engine.close()

    def ping(self) -> None:
        """A trivial query: raises when the database does not answer (closed, unreadable)."""
        self.engine.ping()

    def gauges(self) -> dict[str, Any]:
        """What the metrics read at each scrape, each from a small table or an index of what
        is unfinished: the operations sent by status word (counted as they change), the
        outbox's backlog and its oldest message's time, unknown outcomes and requests waiting
        for approval."""
        with self.engine.read() as tx:
            statuses = tx.rows(
                "SELECT word, operations FROM operation_statuses WHERE operations > 0"
            )
            backlog = tx.row(
                "SELECT count(*) AS n, min(created_at) AS oldest FROM outbox "
                "WHERE delivered_at IS NULL AND given_up_at IS NULL"
            )
            unknown = tx.value("SELECT count(*) FROM operations WHERE state = 'unknown'")
            approving = tx.value("SELECT count(*) FROM requests WHERE state = 'approving'")
        assert backlog is not None
        oldest = backlog["oldest"]
        return {
            "statuses": {r["word"]: int(r["operations"]) for r in statuses},
            "outbox_backlog": int(backlog["n"]),
            "outbox_oldest": datetime.fromisoformat(oldest) if oldest else None,
            "unknown_outcomes": int(unknown),
            "approvals_waiting": int(approving),
        }

    # --- the audit trail ------------------------------------------------------------------

    # --- facts learnt at start ------------------------------------------------------------

    # --- requests -------------------------------------------------------------------------

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
        (`wave_size`, `canary`), each operation carries its device's wave."""
        request_id = "r_" + secrets.token_hex(6)
        numbers = waves_of.numbers(specs, size=wave_size, canary=canary)
        with self.engine.write() as tx:
            request = {
                "id": request_id,
                "state": "pending",
                "requester": requester,
                "surface": surface,
                "text": text,
                "tz": tz,
                "immediate": int(immediate),
                "notes": json.dumps(list(notes)),
                "channel": channel,
                "thread_ts": thread_ts,
                "response_url": response_url,
                "created_at": _now_text(now),
                "expires_at": _now_text(expires_at),
                "policy": json.dumps(policy or {}),
                "wave_size": wave_size,
                "canary": int(canary),
                "waves": max(numbers) if numbers else 0,
            }
            tx.execute(insert_statement("requests", list(request)), list(request.values()))
            tx.insert_many(
                "operations",
                [
                    {
                        "request_id": request_id,
                        "seq": seq,
                        "device_name": spec.device_name,
                        "operation_type": spec.operation_type,
                        "parameters": json.dumps(spec.parameters),
                        "scheduled_at": format_api_time(spec.scheduled_at),
                        "state": "draft",
                        "final": 0,
                        "created_at": _now_text(now),
                        "updated_at": _now_text(now),
                        "wave": numbers[seq] if numbers else None,
                    }
                    for seq, spec in enumerate(specs)
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
                    **({"waves": max(numbers)} if numbers else {}),
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
    ) -> bool:
        """A pending request's operations move to new times (into their maintenance window),
        by its requester, before it is confirmed."""
        with self.engine.write() as tx:
            request = self._request(tx, request_id)
            if request is None or request.state != "pending" or request.requester != user:
                return False
            notes = [*request.notes, note] if note not in request.notes else list(request.notes)
            if not self._cas(
                tx,
                "UPDATE requests SET immediate = 0, policy = ?, notes = ? "
                "WHERE id = ? AND state = 'pending'",
                [json.dumps(policy), json.dumps(notes), request_id],
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

    # --- waves ------------------------------------------------------------------------------

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

    # --- judged again when the bot acts ------------------------------------------------------

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

    # --- freezes ----------------------------------------------------------------------------

    # --- the Home tab: what one person sees, from the store alone --------------------------

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

    # --- operations -----------------------------------------------------------------------

    # --- unknown outcomes, settled by the API's list or by a person --------------------------

    # --- the poller's bookkeeping -----------------------------------------------------------

    # --- device names the API has shown -------------------------------------------------------

    # --- outbox ---------------------------------------------------------------------------
