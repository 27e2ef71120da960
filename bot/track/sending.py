"""Sends confirmed operations to the API: one POST per operation, each claimed before it is
sent, so that however many threads or processes try, one POST goes out per operation.

Runs in its own loop, never in a person's click: the click only marks the request confirmed.
A POST whose outcome is unknown (a timeout, a 5xx, a crash mid-call) is never sent again here;
the reconciler settles it from the API's list, or by asking the requester.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any

from bot import say
from bot.policy.gate import SendGate
from bot.run.failpoints import failpoint
from bot.track.tuning import Tuning
from bot.zequenze.api import ApiError, ZequenzeClient
from bot.zequenze.devices import DeviceBook
from store import OperationRecord, Store

log = logging.getLogger(__name__)


class Sender:
    def __init__(
        self,
        *,
        store: Store,
        api: ZequenzeClient,
        devices: DeviceBook,
        clock: Callable[[], datetime],
        tuning: Tuning,
        gate: SendGate,
        on_submitted: Callable[[], None] = lambda: None,
        stopping: threading.Event | None = None,
    ) -> None:
        self._store = store
        # Set when the bot stops: no operation is claimed after it, so a round over a backlog
        # ends with the POSTs already in flight, and the rest stay new for the next start.
        self._stopping = stopping or threading.Event()
        self._api = api
        self._devices = devices
        self._clock = clock
        self._tuning = tuning
        self._gate = gate
        self._on_submitted = on_submitted
        self._left_claimed = False  # a failed round may have left operations `sending`
        self._pool = ThreadPoolExecutor(
            max_workers=tuning.send_concurrency, thread_name_prefix="send"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def recover(self, error: str = say.track.STOPPED_WHILE_SENDING) -> None:
        """At start-up, after a crash: POSTs that were in flight have unknown outcomes."""
        unknown = self._store.recover_after_crash(now=self._clock(), error=error)
        if unknown:
            log.warning("recovered after a restart: %d operation(s) to reconcile", unknown)

    def submit_pending(self) -> int:
        """POST every confirmed operation whose time to be sent has come, a few at a time,
        until the bot stops; returns how many were sent (whatever the API answered)."""
        if self._left_claimed:
            # The last round failed (its database stopped answering) after claiming: a POST
            # it made may have no answer kept, its operation still `sending`. No round of ours
            # runs now and only the lease's holder claims, so each such one is an unknown
            # outcome, settled by the API's list, never sent again on a guess.
            self.recover(say.track.DATABASE_LOST_WHILE_SENDING)
            self._left_claimed = False
        due = self._store.operations_to_send(now=self._clock(), root_wait=self._tuning.root_wait)
        due = self._gate.admit(due)
        # Every claim ends before the round does, failed or not: the next round's recovery
        # must not take a POST still in flight for one whose answer was lost.
        claims = [self._pool.submit(self._claim_and_submit, operation) for operation in due]
        wait(claims)
        if any(claim.exception() is not None for claim in claims):
            self._left_claimed = True
        sent = sum(claim.result() for claim in claims)  # raises the first failure
        if sent:
            self._on_submitted()
        return sent

    def _claim_and_submit(self, operation: OperationRecord) -> bool:
        # Claimed right before its POST: a crash between the two leaves one operation whose
        # outcome is unknown, not a batch of them. Once the bot stops, none is claimed: one
        # claimed is always sent, and its answer (or its unknown outcome) recorded.
        if self._stopping.is_set():
            return False
        if not self._store.start_sending(operation.id, now=self._clock()):
            return False
        failpoint("before_post")
        try:
            self._submit(operation)
        except Exception:
            # The POST went out or not; either way only the API's list can tell now.
            log.exception(
                "sending operation %s failed unexpectedly", operation.id, extra=operation.log_ids()
            )
            self._not_created(operation, ApiError(say.recovery.SEND_CRASHED, outcome_unknown=True))
        return True

    def _submit(self, operation: OperationRecord) -> None:
        if operation.scheduled_at < self._clock() - self._tuning.stale_send:
            # Sending it now would run it long after the time the person confirmed.
            late = say.recovery.too_late_to_send(self._tuning.stale_send)
            self._store.record_unsent(
                operation.id,
                state="rejected",
                error=late,
                now=self._clock(),
                announce=operation.announce("unsent", error=late),
            )
            return
        if not self._gate.last_look(operation):
            return  # put aside: outside its window at the moment it would run
        try:
            created = self._api.create_operation(operation.spec())
        except ApiError as exc:
            self._not_created(operation, exc)
            return
        failpoint("after_post")
        duration = created.get("estimated_duration")
        status = created.get("status")
        try:
            self._store.record_submitted(
                operation.id,
                api_id=created["id"],
                status=status if isinstance(status, str) and status else "scheduled",
                estimated_duration=duration if isinstance(duration, int) else None,
                now=self._clock(),
                announce=operation.announce("submitted"),
            )
        except Exception:
            # The API has it, but its answer could not be kept (a repeated id, a locked file):
            # only reconciling against the API's list can say which operation is this one.
            log.exception(
                "could not record the answer to operation %s",
                operation.id,
                extra={**operation.log_ids(), "api_id": created["id"]},
            )
            self._not_created(
                operation,
                ApiError(say.recovery.ANSWER_NOT_RECORDED, outcome_unknown=True),
                answer={"id": created["id"], "status": status},
            )
            return
        self._devices.learn([created])

    def _not_created(
        self, operation: OperationRecord, exc: ApiError, *, answer: dict[str, Any] | None = None
    ) -> None:
        now = self._clock()
        # For the audit: what came back to the POST; an HTTP status of None is no answer at
        # all (a timeout, a dropped connection, a crash mid-call).
        answer = answer or {"http_status": exc.status}
        if exc.outcome_unknown:
            # The API may have created it: never POST again without evidence or a person.
            self._store.record_unsent(
                operation.id,
                state="unknown",
                error=exc.message,
                now=now,
                announce=operation.announce("unsent", error=exc.message, unknown=True),
                answer=answer,
            )
        elif exc.retryable and operation.send_attempts + 1 < self._tuning.max_send_attempts:
            delay = min(300.0, self._tuning.send_backoff * 2**operation.send_attempts)
            self._store.requeue(
                operation.id,
                error=exc.message,
                not_before=now + timedelta(seconds=delay),
                now=now,
                announce=operation.announce("requeued", error=exc.message, retry_in=delay),
                answer=answer,
            )
        else:
            self._store.record_unsent(
                operation.id,
                state="rejected",
                error=exc.message,
                now=now,
                announce=operation.announce("unsent", error=exc.message),
                answer=answer,
            )
