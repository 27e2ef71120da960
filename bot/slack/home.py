"""Publishing a person's Home tab (`views.publish`): on open, after a click made there, and
when their own request changes (from the outbox), at most once every `gap` seconds each.

Only people who opened the tab since the bot started are refreshed: the others see it built
afresh when they open it. Nothing runs on a timer for everyone: a refresh is asked for by a
change, and a burst of changes within `gap` is one publish at its end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.service import OpsService
from bot.slack import home_tab
from bot.slack.notifier import ZoneLookup
from store import RequestRecord

log = logging.getLogger(__name__)

HOME_GAP = 3.0  # seconds between two publishes of one person's Home


class HomePublisher:
    def __init__(
        self,
        *,
        client: WebClient,
        service: OpsService,
        zones: ZoneLookup,
        gap: float = HOME_GAP,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._service = service
        self._zones = zones
        self._gap = gap
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # user → when their Home was last published
        self._due: dict[str, threading.Timer] = {}  # a publish held back by the gap

    def publish(self, user: str, *, notice: str | None = None) -> None:
        """Now, whatever the gap: the person opened the tab or clicked in it."""
        with self._lock:
            timer = self._due.pop(user, None)
            self._last[user] = self._monotonic()
        if timer is not None:
            timer.cancel()
        zone = self._zones(user)
        data = home_tab.gather(self._service, user=user, tz=zone.tz, zone_note=zone.note)
        try:
            self._client.views_publish(user_id=user, view=home_tab.home_view(data, notice=notice))
        except SlackApiError as exc:
            log.warning("Home tab not published: %s", exc.response.get("error"))

    def request_changed(self, request: RequestRecord) -> None:
        """A request changed: its requester's Home shows it, and one that needs approval is
        on the Home of whoever may approve it, so every opened Home is looked at again (each
        at its own pace; who may approve is for the Home's reading to say)."""
        self.changed(request.requester)
        if request.approvals_needed:
            with self._lock:
                opened = [user for user in self._last if user != request.requester]
            for user in opened:
                self.changed(user)

    def changed(self, user: str) -> None:
        """Something the person's Home shows changed: published again if they opened it, at
        most once every `gap` seconds (the last change of a burst is always shown)."""
        with self._lock:
            last = self._last.get(user)
            if last is None or user in self._due:
                return
            # On a thread of its own, never the caller's (the outbox's loop must not wait on
            # Slack for a Home tab).
            wait = max(last + self._gap - self._monotonic(), 0.0)
            timer = threading.Timer(wait, self._held, args=(user,))
            timer.daemon = True
            self._due[user] = timer
            timer.start()

    def _held(self, user: str) -> None:
        with self._lock:
            if self._due.pop(user, None) is None:
                return  # published meanwhile
            self._last[user] = self._monotonic()
        self._guarded(user)

    def _guarded(self, user: str) -> None:
        try:
            self.publish_quietly(user)
        except Exception:
            log.exception("Home tab not refreshed")

    def publish_quietly(self, user: str) -> None:
        zone = self._zones.peek(user) or self._zones(user)
        data = home_tab.gather(self._service, user=user, tz=zone.tz, zone_note=zone.note)
        try:
            self._client.views_publish(user_id=user, view=home_tab.home_view(data))
        except SlackApiError as exc:
            log.warning("Home tab not refreshed: %s", exc.response.get("error"))

    def close(self) -> None:
        with self._lock:
            timers, self._due = list(self._due.values()), {}
        for timer in timers:
            timer.cancel()
