"""Delivers the outbox: announcements written beside the changes they announce.

In order per request; when one cannot be delivered, the rest of that request's messages wait
for the next round, so a thread never reads out of order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.ports import Notifier
from store import Store

log = logging.getLogger(__name__)


class OutboxSender:
    def __init__(self, *, store: Store, notifier: Notifier, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock

    def deliver_pending(self) -> int:
        delivered = 0
        blocked: set[str] = set()
        for event in self._store.pending_outbox():
            if event.request_id in blocked:
                continue
            request = self._store.get_request(event.request_id)
            if request is None:  # cannot happen with foreign keys on; never loop on it
                self._store.mark_delivered(event.id, now=self._clock())
                continue
            try:
                self._notifier.deliver(event, request)
            except Exception as exc:
                blocked.add(event.request_id)
                self._store.mark_attempt_failed(event.id, error=f"{type(exc).__name__}: {exc}")
                log.warning("message %s for %s not delivered yet: %s", event.id, request.id, exc)
                continue
            self._store.mark_delivered(event.id, now=self._clock())
            delivered += 1
        return delivered
