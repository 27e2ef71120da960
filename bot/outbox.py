"""Delivers the outbox: announcements written beside the changes they announce.

In order per thread: when one message cannot be delivered, the rest of that thread waits, so a
thread never reads out of order. Posts into one channel are paced (Slack allows about one
message per second per channel), and a thread whose delivery fails backs off while the chat
service is unreachable. The public status message is re-rendered once per round, only when
its request changed since it was last shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from bot.ports import Notifier
from store import OutboxEvent, RequestRecord, Store

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


class OutboxSender:
    def __init__(
        self,
        *,
        store: Store,
        notifier: Notifier,
        clock: Callable[[], datetime],
        channel_gap: float = 1.0,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self._channel_gap = channel_gap
        self._last_post: dict[str, float] = {}  # channel → monotonic time of the last post
        self._retry_at: dict[tuple, float] = {}  # thread → monotonic time to try again
        self._failures: dict[tuple, int] = {}

    def deliver_pending(self) -> int:
        delivered = 0
        waiting: set[tuple] = set()
        for event in self._store.pending_outbox():
            request = self._store.get_request(event.request_id)
            if request is None:  # cannot happen with foreign keys on; never loop on it
                self._store.mark_delivered(event.id, now=self._clock())
                continue
            thread = _thread_of(event, request)
            if thread in waiting or self._retry_at.get(thread, 0.0) > time.monotonic():
                waiting.add(thread)
                continue
            channel = request.channel or ""
            if time.monotonic() - self._last_post.get(channel, -1e9) < self._channel_gap:
                waiting.add(thread)
                continue
            self._store.mark_attempt_started(event.id)
            try:
                self._notifier.deliver(event, request)
            except Exception as exc:
                waiting.add(thread)
                self._back_off(thread)
                self._store.mark_attempt_failed(event.id, error=f"{type(exc).__name__}: {exc}")
                log.warning("message %s for %s not delivered yet: %s", event.id, request.id, exc)
                continue
            self._last_post[channel] = time.monotonic()
            self._failures.pop(thread, None)
            self._retry_at.pop(thread, None)
            self._store.mark_delivered(event.id, now=self._clock())
            delivered += 1
        self._refresh_roots()
        return delivered

    def _refresh_roots(self) -> None:
        for request_id, version in self._store.stale_roots():
            request = self._store.get_request(request_id)
            if request is None:
                continue
            try:
                self._notifier.refresh(request)
            except Exception as exc:
                log.warning("status message of %s not refreshed yet: %s", request_id, exc)
                continue
            self._store.root_shown(request_id, version=version)

    def _back_off(self, thread: tuple) -> None:
        failures = self._failures.get(thread, 0) + 1
        self._failures[thread] = failures
        self._retry_at[thread] = time.monotonic() + min(MAX_BACKOFF, 0.5 * 2 ** (failures - 1))


def _thread_of(event: OutboxEvent, request: RequestRecord) -> tuple:
    if event.kind.startswith("private"):
        return ("private", request.id)
    return (request.channel, request.reply_thread)
