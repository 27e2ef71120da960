"""Delivers the outbox: announcements written beside the changes they announce.

In order per thread: each round takes the oldest undelivered event of every thread, so a thread
never reads out of order and one thread whose messages cannot go out holds up only itself. Posts
into one channel are paced (Slack allows about one message per second per channel). A message
Slack will never take (the bot was removed from the channel, the thread is gone) is given up and
the requester is told once, privately; any other failure backs the thread off and is tried again.
The public status message is re-rendered once per round, only when its request changed since it
was last shown; a failing edit backs off per request, and a message that is gone is left alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from bot.backoff import Backoff
from bot.ports import CannotPost, Notifier
from store import OutboxEvent, Store

log = logging.getLogger(__name__)

THREAD_BACKOFF = (0.5, 30.0)  # first delay and cap, seconds: Slack unreachable or rate-limiting
ROOT_BACKOFF = (1.0, 300.0)  # the same for editing a status message
UNDELIVERED = "private_undelivered"

Settled = Literal["delivered", "given up"]


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
        self._threads = Backoff(first=THREAD_BACKOFF[0], cap=THREAD_BACKOFF[1])
        self._roots = Backoff(first=ROOT_BACKOFF[0], cap=ROOT_BACKOFF[1])

    def deliver_pending(self) -> int:
        """Send what may go out now, then re-render stale status messages; returns how many
        messages were delivered."""
        delivered = 0
        # One event per thread per pass keeps each thread in order; passes repeat while they
        # settle something, so a burst still goes out in one round where pacing allows. The
        # status messages follow each pass, as soon as what they show has been announced.
        while True:
            settled = [self._send(event) for event in self._store.next_in_each_thread()]
            delivered += settled.count("delivered")
            self._refresh_roots()
            if not any(settled):
                return delivered

    def _send(self, event: OutboxEvent) -> Settled | None:
        """Try one thread's next event: "delivered", "given up", or None (still waiting)."""
        request = self._store.get_request(event.request_id)
        if request is None:  # cannot happen with foreign keys on; never loop on it
            self._store.mark_delivered(event.id, now=self._clock())
            return "delivered"
        channel = request.channel or ""
        if not self._threads.ready(event.thread) or (
            time.monotonic() - self._last_post.get(channel, -1e9) < self._channel_gap
        ):
            return None
        self._store.mark_attempt_started(event.id)
        # A post Slack refuses counts against its per-channel pace as much as one it takes.
        self._last_post[channel] = time.monotonic()
        try:
            self._notifier.deliver(event, request)
        except CannotPost as exc:
            self._give_up(event, reason=exc.message, error=str(exc.__cause__ or exc))
            return "given up"
        except Exception as exc:
            delay = self._threads.failed(event.thread)
            self._store.mark_attempt_failed(event.id, error=f"{type(exc).__name__}: {exc}")
            log.warning(
                "message %s for %s not delivered; trying again in %.1f s: %s",
                event.id,
                request.id,
                delay,
                exc,
            )
            return None
        self._threads.reset(event.thread)
        self._store.mark_delivered(event.id, now=self._clock())
        return "delivered"

    def _give_up(self, event: OutboxEvent, *, reason: str, error: str) -> None:
        # The thread's later events are still tried, each once (the bot may be invited back),
        # but the requester hears of it once. A private message that failed has nobody left
        # to tell.
        notice = (
            None
            if event.kind.startswith("private")
            else {"request_id": event.request_id, "kind": UNDELIVERED, "reason": reason}
        )
        self._store.give_up_delivery(event.id, error=error, now=self._clock(), notice=notice)
        self._threads.reset(event.thread)
        log.warning("message %s for %s given up: %s", event.id, event.request_id, error)

    def _refresh_roots(self) -> None:
        for request_id, version in self._store.stale_roots():
            if not self._roots.ready(request_id):
                continue
            request = self._store.get_request(request_id)
            if request is None:
                continue
            try:
                self._notifier.refresh(request)
            except CannotPost as exc:
                self._roots.reset(request_id)
                self._store.give_up_root(request_id, now=self._clock())
                log.warning(
                    "status message of %s cannot be edited any more: %s",
                    request_id,
                    exc.__cause__ or exc,
                )
                continue
            except Exception as exc:
                delay = self._roots.failed(request_id)
                log.warning(
                    "status message of %s not refreshed; trying again in %.0f s: %s",
                    request_id,
                    delay,
                    exc,
                )
                continue
            self._roots.reset(request_id)
            self._store.root_shown(request_id, version=version)
