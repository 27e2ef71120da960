"""Asks the API about every operation that is not final, and records what changed.

Calls run concurrently with a bound, so one slow answer never holds up the rest; one failing
operation or API error never stops the others. While the API cannot be reached, each operation
backs off on its own; the thread is told once when one could not be checked for too long, and
again when contact is back. An operation running far longer than expected gets one warning.
One the API answers about but no longer holds is told once and no longer followed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from bot.api import ApiError, ZequenzeClient
from bot.backoff import Backoff
from bot.devices import DeviceBook
from bot.failpoints import failpoint
from store import VANISHED, OperationRecord, Store, is_running

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class PollTuning:
    concurrency: int = 16
    max_backoff: float = 300.0  # seconds between checks of an operation the API will not answer
    outage_notice: float = 300.0  # tell the thread after this long without a successful check
    overdue_factor: float = 3.0  # running beyond factor × estimated_duration + grace is overdue
    overdue_grace: float = 120.0


class Poller:
    def __init__(
        self,
        *,
        store: Store,
        api: ZequenzeClient,
        devices: DeviceBook,
        clock: Callable[[], datetime],
        interval: float,
        on_change: Callable[[], None] = lambda: None,
        tuning: PollTuning | None = None,
    ) -> None:
        self._store = store
        self._api = api
        self._devices = devices
        self._clock = clock
        self._on_change = on_change
        self._tuning = tuning = tuning or PollTuning()
        self._pool = ThreadPoolExecutor(max_workers=tuning.concurrency, thread_name_prefix="poll")
        # Per operation id: an operation the API will not answer is checked less and less often.
        self._backoff = Backoff(first=interval, cap=tuning.max_backoff)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def poll_once(self) -> int:
        """One round over every tracked operation that is due; returns how many changed."""
        operations = [op for op in self._store.operations_to_poll() if self._backoff.ready(op.id)]
        changed = sum(self._pool.map(self._check, operations))
        if changed:
            self._on_change()
        return changed

    def _check(self, operation: OperationRecord) -> bool:
        assert operation.api_id is not None
        try:
            item = self._api.get_operation(operation.api_id, update_status=True)
        except ApiError as exc:
            log.warning("could not check %s: %s", operation.api_id, exc.message)
            return self._failed(operation)
        except Exception:
            log.exception("could not check %s", operation.api_id)
            return self._failed(operation)
        if item is None:
            log.warning("operation %s: the API no longer knows it", operation.api_id)
            status, announce = VANISHED, operation.announce("vanished")
        else:
            self._devices.learn([item])
            status = item.get("status")
            if not isinstance(status, str) or not status.strip():
                log.warning("operation %s: no usable status in the API's answer", operation.api_id)
                return self._failed(operation)
            status = status.strip()
            error = item.get("error")
            announce = operation.announce(
                "status",
                old=operation.status,
                new=status,
                error=error if isinstance(error, str) else None,
            )
        self._backoff.reset(operation.id)
        changed = False
        if status != operation.status:
            changed = self._store.record_status(
                operation.id, old=operation.status, new=status, now=self._clock(), announce=announce
            )
        if changed:
            failpoint("after_status_recorded")
        if operation.check_failing_since is not None:
            changed |= self._store.check_succeeded(
                operation.id,
                now=self._clock(),
                announce=operation.announce("reachable", status=status),
            )
        return self._check_overdue(operation, status) or changed

    def _failed(self, operation: OperationRecord) -> bool:
        self._backoff.failed(operation.id)
        now = self._clock()
        since = operation.check_failing_since or now
        return self._store.check_failed(
            operation.id,
            now=now,
            announce_after=self._tuning.outage_notice,
            announce=operation.announce("unreachable", minutes=(now - since).total_seconds() / 60),
        )

    def _check_overdue(self, operation: OperationRecord, status: str) -> bool:
        if not is_running(status) or operation.overdue_warned:
            return False
        started, expected = operation.running_since, operation.estimated_duration
        if started is None or not expected:
            return False
        running = (self._clock() - started).total_seconds()
        if running <= expected * self._tuning.overdue_factor + self._tuning.overdue_grace:
            return False
        return self._store.warn_overdue(
            operation.id,
            now=self._clock(),
            announce=operation.announce("overdue", minutes=running / 60),
        )
