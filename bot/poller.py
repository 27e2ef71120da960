"""Asks the API about every operation that is not final, and records what changed.

Calls run concurrently with a bound, so one slow answer never holds up the rest; one failing
operation or API error never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from bot.api import ApiError, ZequenzeClient
from store import OperationRecord, Store

log = logging.getLogger(__name__)


class Poller:
    def __init__(
        self,
        *,
        store: Store,
        api: ZequenzeClient,
        clock: Callable[[], datetime],
        on_change: Callable[[], None] = lambda: None,
        concurrency: int = 8,
    ) -> None:
        self._store = store
        self._api = api
        self._clock = clock
        self._on_change = on_change
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="poll")

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def poll_once(self) -> int:
        """One round over every tracked operation; returns how many changed."""
        operations = self._store.operations_to_poll()
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
            return False
        except Exception:
            log.exception("could not check %s", operation.api_id)
            return False
        if item is None:
            log.warning("operation %s is no longer listed by the API", operation.api_id)
            return False
        status = item.get("status")
        if not isinstance(status, str) or not status.strip():
            log.warning("operation %s came back without a status", operation.api_id)
            return False
        status = status.strip()
        if status == operation.status:
            return False
        return self._store.record_status(
            operation.id,
            old=operation.status,
            new=status,
            now=self._clock(),
            announce={
                "request_id": operation.request_id,
                "kind": "status",
                "operation_id": operation.id,
                "old": operation.status,
                "new": status,
                "error": item.get("error") if isinstance(item.get("error"), str) else None,
            },
        )
