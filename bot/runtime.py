"""Assembles the bot's parts around one chat surface and runs their background loops."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from bot.api import ZequenzeClient
from bot.outbox import OutboxSender
from bot.poller import Poller, PollTuning
from bot.ports import Notifier
from bot.service import OpsService, Tuning, utcnow
from bot.ticker import Ticker
from bot.when import warm_up
from store import Store

log = logging.getLogger(__name__)

OUTBOX_INTERVAL = 0.25  # short: a paced channel's next message goes out as soon as it may
RECOVERY_INTERVAL = 2.0
# A round of the outbox during a Slack outage, or of the poller with retries, can take a while;
# stopping waits this long for it rather than cut it off (a process manager kills us anyway).
STOP_TIMEOUT = 60.0
WAIT_NOTICE = 2.0  # a round still running after this is logged, so a slow stop is explained
DEFAULT_TUNING = Tuning()
DEFAULT_POLL_TUNING = PollTuning()


class Runtime:
    """Store + API client + service, with three loops beside them: the poller, the outbox
    sender, and recovery (retrying sends that surely failed, reconciling unknown outcomes)."""

    def __init__(
        self,
        *,
        db_path: str,
        api_url: str,
        api_token: str,
        poll_interval: float,
        notifier: Notifier,
        clock: Callable[[], datetime] = utcnow,
        channel_gap: float = 1.0,
        tuning: Tuning = DEFAULT_TUNING,
        poll_tuning: PollTuning = DEFAULT_POLL_TUNING,
        api_retry_base: float = 0.5,
        api_timeout: float = 10.0,
    ) -> None:
        self.store = Store(path=db_path)
        self.api = ZequenzeClient(
            base_url=api_url, token=api_token, retry_base=api_retry_base, timeout=api_timeout
        )
        sender = OutboxSender(
            store=self.store, notifier=notifier, clock=clock, channel_gap=channel_gap
        )
        self._flush = sender.deliver_pending
        self.outbox = Ticker(name="outbox", interval=OUTBOX_INTERVAL, job=sender.deliver_pending)
        self._poller = Poller(
            store=self.store,
            api=self.api,
            clock=clock,
            interval=poll_interval,
            on_change=self.outbox.wake,
            tuning=poll_tuning,
        )
        self.poller = Ticker(name="poller", interval=poll_interval, job=self._poller.poll_once)
        self.service = OpsService(
            store=self.store,
            api=self.api,
            notifier=notifier,
            clock=clock,
            on_submitted=self._submitted,
            tuning=tuning,
        )
        self.recovery = Ticker(
            name="recovery", interval=min(poll_interval, RECOVERY_INTERVAL), job=self._recover
        )

    def _submitted(self) -> None:
        self.outbox.wake()
        self.poller.wake()

    def _recover(self) -> None:
        self.service.reconcile_unknown()
        self.service.submit_pending()

    def start(self) -> Runtime:
        warm_up()
        self.service.recover()
        self.outbox.start()
        self.poller.start()
        self.recovery.start()
        return self

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the loops, let the last round finish, deliver what can be, close the file."""
        loops = (self.recovery, self.poller, self.outbox)
        for loop in loops:
            loop.stop()
        deadline = time.monotonic() + timeout
        running = [loop.name for loop in loops if not self._ended(loop, deadline)]
        if running:
            # A round still running owns the sender and the database: flushing now would send
            # its message a second time, and closing would pull the file from under it. What
            # is left undelivered goes out after the next start.
            log.error(
                "stopped without flushing or closing: %s still running after %.0f s",
                ", ".join(running),
                timeout,
            )
            return
        try:
            self._flush()
        except Exception:
            log.exception("could not flush the outbox while stopping")
        self.close()

    def close(self) -> None:
        """Release the poller's pool, the API client and the database, with no final flush:
        for a runtime whose start-up failed (its flush would post to a Slack that just failed),
        and as the last step of stop()."""
        self._poller.close()
        self.api.close()
        self.store.close()

    @staticmethod
    def _ended(loop: Ticker, deadline: float) -> bool:
        if loop.join(min(WAIT_NOTICE, max(0.0, deadline - time.monotonic()))):
            return True
        log.warning("stopping: waiting for the %s round to finish", loop.name)
        return loop.join(max(0.0, deadline - time.monotonic()))
