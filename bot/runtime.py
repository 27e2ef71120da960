"""Assembles the bot's parts around one chat surface and runs their background loops."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.api import ZequenzeClient
from bot.outbox import OutboxSender
from bot.poller import Poller
from bot.ports import Notifier
from bot.service import OpsService, utcnow
from bot.ticker import Ticker
from bot.when import warm_up
from store import Store

log = logging.getLogger(__name__)

OUTBOX_INTERVAL = 1.0


class Runtime:
    """Store + API client + service, with the poller and the outbox sender beside them."""

    def __init__(
        self,
        *,
        db_path: str,
        api_url: str,
        api_token: str,
        poll_interval: float,
        notifier: Notifier,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = Store(path=db_path)
        self.api = ZequenzeClient(base_url=api_url, token=api_token)
        sender = OutboxSender(store=self.store, notifier=notifier, clock=clock)
        self.outbox = Ticker(name="outbox", interval=OUTBOX_INTERVAL, job=sender.deliver_pending)
        self._flush = sender.deliver_pending
        self._poller = Poller(
            store=self.store, api=self.api, clock=clock, on_change=self.outbox.wake
        )
        self.poller = Ticker(name="poller", interval=poll_interval, job=self._poller.poll_once)
        self.service = OpsService(
            store=self.store,
            api=self.api,
            notifier=notifier,
            clock=clock,
            on_submitted=self._submitted,
        )

    def _submitted(self) -> None:
        self.outbox.wake()
        self.poller.wake()

    def start(self) -> Runtime:
        warm_up()
        # Operations confirmed before a restart but never sent go out now; everything not final
        # is polled again; messages not yet delivered are sent once.
        self.service.submit_pending()
        self.outbox.start()
        self.poller.start()
        return self

    def stop(self) -> None:
        self.poller.stop()
        self.outbox.stop()
        try:
            self._flush()
        except Exception:
            log.exception("could not flush the outbox while stopping")
        self._poller.close()
        self.api.close()
        self.store.close()
