"""Assembles the bot's parts around one chat surface and runs their background loops."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.policy.config import OPEN_POLICY, PolicyConfig
from bot.policy.gate import SendGate
from bot.policy.rules import Policy
from bot.ports import Groups, Notifier
from bot.run.metrics import Metrics
from bot.service import OpsService, precise_utcnow, utcnow
from bot.track.leadership import Leadership
from bot.track.outbox import OutboxSender
from bot.track.pacing import BURST, ChannelPacer, SharedBuckets
from bot.track.poller import Poller, PollTuning
from bot.track.reconcile import Reconciler
from bot.track.sending import Sender
from bot.track.ticker import Ticker
from bot.track.tuning import DEFAULT_TUNING, Tuning
from bot.understand.when import warm_up
from bot.zequenze.api import CallRecord, ZequenzeClient
from bot.zequenze.devices import DeviceBook
from store import Store

log = logging.getLogger(__name__)

OUTBOX_INTERVAL = 0.25  # short: a paced channel's next message goes out as soon as it may
SEND_INTERVAL = 1.0  # operations become due by the clock too (a retry time, the root wait)
RECOVERY_INTERVAL = 2.0
SEED_PAGE = 100  # device names learnt from the newest operations when the bot knows none
# Stopping, each loop's round ends between two items (no operation claimed, no look or
# message begun, no GET retried once the stop is under way), after the call in hand: an API
# or a Slack call, each within its timeout (10 s). The stop waits this long for them rather
# than cut one off (a process manager kills us anyway), then flushes the outbox for at most
# FLUSH_TIME (the rest goes after the next start).
STOP_TIMEOUT = 15.0
FLUSH_TIME = 5.0
WAIT_NOTICE = 2.0  # a round still running after this is logged, so a slow stop is explained
DEFAULT_POLL_TUNING = PollTuning()
LOOK_TIMEOUT = 3.0
# Edits of public messages, for the whole workspace: chat.update is Tier 3 ("50+ per minute");
# 45 a minute with a burst of 5 stays under it.
EDIT_GAP = 60 / 45
EDIT_BURST = 5


class Runtime:
    """Store + API client + service, with four loops beside them: the sender (operations to
    the API), the poller, the outbox (messages to Slack), and recovery (unknown outcomes)."""

    def __init__(
        self,
        *,
        database: str | Path,
        api_url: str,
        api_token: str,
        poll_interval: float,
        notifier: Notifier,
        clock: Callable[[], datetime] = utcnow,
        channel_gap: float = 1.0,
        edit_gap: float = EDIT_GAP,
        tuning: Tuning = DEFAULT_TUNING,
        poll_tuning: PollTuning = DEFAULT_POLL_TUNING,
        api_retry_base: float = 0.5,
        api_timeout: float = 10.0,
        config: PolicyConfig = OPEN_POLICY,
        groups: Groups | None = None,
        shared: bool | None = None,
    ) -> None:
        """`database`: a SQLite file's path, or a PostgreSQL URL (store.Store.open). `shared`:
        other replicas may use the same database, so the background rounds run only while
        this one holds the lease (bot/track/leadership.py), and its claims are fenced by it; by
        default, on PostgreSQL. A SQLite file is kept to one process by its lock (the tests
        force `shared` to run replicas in one process)."""
        self.store = Store.open(database)
        if shared is None:
            shared = self.store.shared
        self.started = False
        # Set first when stopping: every loop's round, and the API client, end between items.
        self._stopping = threading.Event()
        self.metrics = Metrics(
            store=self.store,
            next_check_due=self.store.next_check_due,
            clock=precise_utcnow if clock is utcnow else clock,
        )
        # Both clients' calls: readiness asks whether the API answers, the metrics count them.
        self.api_calls = CallRecord(observe=self.metrics.api_call)
        self.api = ZequenzeClient(
            base_url=api_url,
            token=api_token,
            retry_base=api_retry_base,
            timeout=api_timeout,
            calls=self.api_calls,
            stopping=self._stopping,
        )
        self.policy = Policy(config=config, members=groups)
        # A person waits for the pre-flight look: no retries, and a short wait.
        self._look = ZequenzeClient(
            base_url=api_url,
            token=api_token,
            retries=0,
            timeout=min(api_timeout, LOOK_TIMEOUT),
            calls=self.api_calls,
        )
        self.devices = DeviceBook(
            store=self.store, clock=clock, fetch=self._newest_operations, catalog=config.catalog
        )
        # Shared with the Slack app's own posts (answers to mentions): one pace per channel.
        self.pacer = self._pacer(shared, "post", gap=channel_gap)
        outbox = OutboxSender(
            store=self.store,
            notifier=notifier,
            clock=clock,
            pacer=self.pacer,
            on_root_answered=self._root_answered,
            summary_gap=tuning.summary_gap,
            edits=self._pacer(shared, "edit", gap=edit_gap, burst=EDIT_BURST),
            on_request_changed=lambda request: self.service.request_changed(request),
            stopping=self._stopping,
        )
        self._flush = lambda: outbox.deliver_pending(within=FLUSH_TIME)
        self.outbox = Ticker(
            name="outbox",
            interval=OUTBOX_INTERVAL,
            job=outbox.deliver_pending,
            pause=outbox.next_turn,
        )
        self._poller = Poller(
            store=self.store,
            api=self.api,
            devices=self.devices,
            # Looks are placed to the fraction of a second (an interval may be under one): the
            # default clock's whole seconds would make a look due at 12:00:00.1 wait for :01.
            clock=precise_utcnow if clock is utcnow else clock,
            interval=poll_interval,
            on_change=self.outbox.wake,
            tuning=poll_tuning,
            stopping=self._stopping,
        )
        # The poller sleeps until its next look is due (each operation has its own time).
        self.poller = Ticker(
            name="poller",
            interval=poll_interval,
            job=self._poller.poll_once,
            pause=self._poller.pause,
        )
        self.service = OpsService(
            store=self.store,
            api=self.api,
            devices=self.devices,
            clock=clock,
            policy=self.policy,
            look=self._look,
            on_confirmed=self._confirmed,
            tuning=tuning,
        )
        self._sender = Sender(
            store=self.store,
            api=self.api,
            devices=self.devices,
            clock=clock,
            tuning=tuning,
            gate=SendGate(
                store=self.store, policy=self.policy, desk=self.service.desk, clock=clock
            ),
            on_submitted=self._submitted,
            stopping=self._stopping,
        )
        self.sending = Ticker(name="sending", interval=SEND_INTERVAL, job=self._send)
        self._reconciler = Reconciler(
            store=self.store,
            api=self.api,
            devices=self.devices,
            clock=clock,
            tuning=tuning,
            on_change=self._submitted,
            stopping=self._stopping,
        )
        self.recovery = Ticker(
            name="recovery",
            interval=min(poll_interval, RECOVERY_INTERVAL),
            job=self._reconciler.reconcile,
        )
        self._loops = (self.recovery, self.sending, self.poller, self.outbox)
        self.leadership: Leadership | None = None
        if shared:
            self.leadership = Leadership(
                store=self.store,
                holder=replica_name(),
                settle=lambda term: self._sender.recover(),
                on_leading=self._wake_all,
            )
            # POSTs and messages are claimed only while the lease is ours, by the database.
            self.store.fence = self.leadership.holder
        for loop in self._loops:
            loop.only_while(self.leading)
        self.metrics.leading(self.leading)

    @property
    def loops(self) -> tuple[Ticker, ...]:
        return self._loops

    def _pacer(self, shared: bool, kind: str, *, gap: float, burst: int = BURST) -> ChannelPacer:
        """Slack's pace, per channel (`post`) or for the workspace (`edit`): in this process,
        or, with replicas, in the database they share (Slack counts every process's calls)."""
        if not shared:
            return ChannelPacer(gap=gap, burst=burst)
        return ChannelPacer(
            gap=gap, burst=burst, clock=time.time, buckets=SharedBuckets(self.store, kind)
        )

    def leading(self) -> bool:
        """Whether this process does the background work now: always, on its own database."""
        return self.leadership is None or self.leadership.leading

    def _wake_all(self) -> None:
        for loop in self._loops:
            loop.wake()

    def _send(self) -> int:
        self.service.expire_due()
        return self._sender.submit_pending()

    def _confirmed(self) -> None:
        self.outbox.wake()  # the public message goes first
        self.sending.wake()

    def _root_answered(self) -> None:
        self.sending.wake()

    def _submitted(self) -> None:
        self.outbox.wake()
        # Only to place the new operation in the schedule (no GET): its first look comes
        # at its own time, and the others' stay where they are.
        self.poller.wake()

    def _newest_operations(self) -> list[dict[str, Any]]:
        return self.api.newest_operations(limit=SEED_PAGE).items

    def start(self) -> Runtime:
        warm_up()
        if self.leadership is None:
            self._sender.recover()
        else:
            # Not at every replica's start: a POST the leader has in flight is not unknown.
            self.leadership.start()
        for loop in self._loops:
            loop.start()
        self.started = True
        return self

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the loops, each round at its next item, deliver what can be, close the file.
        What is left (operations not claimed, looks not taken, messages not sent) stays in
        the store for the next start; a POST in flight is waited for and its answer kept."""
        self._stopping.set()
        loops = self._loops
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
            if self.leadership is not None:
                self.leadership.stop(release=False)
            return
        # The poller's looks still in flight are recorded first, so the flush carries what
        # they announce; none is begun now, and none waits for a retry.
        self._poller.close()
        if self.leading():
            try:
                self._flush()
            except Exception:
                log.exception("could not flush the outbox while stopping")
        if self.leadership is not None:
            # Only now that no round of ours runs: the next leader never overlaps with us.
            self.leadership.stop()
        self.close()

    def close(self) -> None:
        """Release the poller's pool, the API client and the database, with no final flush:
        for a runtime whose start-up failed (its flush would post to a Slack that just failed),
        and as the last step of stop()."""
        self._poller.close()
        self._sender.close()
        self._look.close()
        self.api.close()
        self.store.close()

    @staticmethod
    def _ended(loop: Ticker, deadline: float) -> bool:
        if loop.join(min(WAIT_NOTICE, max(0.0, deadline - time.monotonic()))):
            return True
        log.warning("stopping: waiting for the %s round to finish", loop.name)
        return loop.join(max(0.0, deadline - time.monotonic()))


def replica_name() -> str:
    """Who holds the lease, as an operator reads it: the machine, the process, and a random
    part (a restarted process may get the same pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
