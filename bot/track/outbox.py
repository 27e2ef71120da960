"""Delivers the outbox: announcements written beside the changes they announce.

In order per thread: each round takes the oldest undelivered event of every thread, so a thread
never reads out of order and one thread whose messages cannot go out holds up only itself. A
confirmed request's public message is its thread's first event. Every post into a channel
takes its turn at the channel's pacer (Slack allows about one message per second per channel),
and a 429 holds that channel alone for as long as Slack asked. A pass reads only what may go:
per channel, as many of its threads' next messages as it has turns for (none while it waits
for its turn, however many wait there), and a message's request only as it is sent; so a
backlog in one channel costs neither CPU nor the store's lock, and holds up no other channel.
A message Slack will never take is given up and the requester is told once, privately; a public
message refused because the bot is not in the channel stops its request if nothing of it was
sent yet, and every other request waiting there. A public message Slack took answers the same
question for every request confirmed in its channel before it was tried: their operations go
without waiting for their own messages' turns. Any other failure backs the thread off and is
tried again. The public status message is re-rendered once per round, only when its request
changed since it was last shown, at most once every `summary_gap` seconds per request (a
request of many devices changes many times a second; its message is a live summary, not a
log), and within the workspace's budget of edits, finished requests first, then the one shown
longest ago (read in that order, as many as there are turns); the last state is always shown.
A failing edit backs off per request, a 429 holds every edit, and a message that is gone is
left alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from math import inf
from typing import Literal

from bot.ports import CannotPost, Notifier, NotInChannel, RateLimited
from bot.run.failpoints import failpoint
from bot.track.backoff import Backoff
from bot.track.pacing import ChannelPacer
from store import ROOT, OutboxEvent, RequestRecord, Store

log = logging.getLogger(__name__)

THREAD_BACKOFF = (0.5, 30.0)  # first delay and cap, seconds: Slack unreachable or failing
ROOT_BACKOFF = (1.0, 300.0)  # the same for editing a status message
UNDELIVERED = "private_undelivered"
NOT_POSTED = "private_not_posted"  # the request stopped: its public message was refused
NOT_TRIED = "not tried: the channel refused the bot"
WORKSPACE = "chat.update"  # the edit budget's one key: Slack counts edits per workspace
PER_PASS = 200  # events read at most per channel (or of private answers) in one pass

Settled = Literal["delivered", "given up"]


class OutboxSender:
    def __init__(
        self,
        *,
        store: Store,
        notifier: Notifier,
        clock: Callable[[], datetime],
        pacer: ChannelPacer,
        on_root_answered: Callable[[], None] = lambda: None,
        summary_gap: float = 0.0,
        edits: ChannelPacer | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        on_request_changed: Callable[[RequestRecord], None] = lambda _: None,
        stopping: threading.Event | None = None,
    ) -> None:
        self._store = store
        # Set when the bot stops: a round ends between two messages (what is left is in the
        # store, for the last flush or the next start), not after a whole backlog.
        self._stopping = stopping or threading.Event()
        # A request whose change went out (a message, its status message edited): its
        # requester's Home tab follows.
        self._on_request_changed = on_request_changed
        self._notifier = notifier
        self._clock = clock
        self._pacer = pacer
        # The operations of a request wait for Slack's first answer to its public message.
        self._on_root_answered = on_root_answered
        self._threads = Backoff(first=THREAD_BACKOFF[0], cap=THREAD_BACKOFF[1])
        self._roots = Backoff(first=ROOT_BACKOFF[0], cap=ROOT_BACKOFF[1])
        # Channel → (the newest event queued when Slack turned the bot away, the sentence).
        self._refused_channels: dict[str, tuple[int, str]] = {}
        self._paced: set[str] = set()  # channels whose next message waits for its turn
        # Request → when its public message was last posted or edited (monotonic), and the
        # soonest moment a stale one held back by `summary_gap` may be edited.
        self._summary_gap = summary_gap
        # chat.update is limited for the whole workspace (Tier 3, about 50 a minute): every
        # edit takes its turn here, whatever its channel.
        self._edits = edits or ChannelPacer(gap=0.0)
        self._monotonic = monotonic
        self._edited: dict[str, float] = {}
        self._next_edit = inf

    def next_turn(self) -> float:
        """Seconds until a channel whose message waited for its turn has one: the loop runs
        again then, rather than at its next tick."""
        paced, self._paced = self._paced, set()
        edit = max(0.0, self._next_edit - self._monotonic())
        return min((self._pacer.wait(channel) for channel in paced), default=edit)

    def deliver_pending(self, *, within: float | None = None) -> int:
        """Send what may go out now, then re-render stale status messages; returns how many
        messages were delivered. A round ends between two messages once the bot stops.
        `within` (the last flush, when stopping): seconds it may take, again ending between
        two messages; every stale status message is edited now, however recently it was."""
        until = None if within is None else self._monotonic() + within
        delivered = 0
        # One event per thread per pass keeps each thread in order; passes repeat while they
        # settle something, so a burst still goes out in one round where pacing allows. The
        # status messages follow each pass, as soon as what they show has been announced.
        while True:
            settled: list[Settled | None] = []
            for event in self._next_events():
                if self._over(until):
                    return delivered + settled.count("delivered")
                settled.append(self._send(event))
            delivered += settled.count("delivered")
            self._refresh_roots(until=until)
            if not any(settled) or self._over(until):
                return delivered

    def _over(self, until: float | None) -> bool:
        """A round's time is up: the bot is stopping, or the last flush's time has run out."""
        if until is None:
            return self._stopping.is_set()
        return self._monotonic() >= until

    def _next_events(self) -> list[OutboxEvent]:
        """The next event of each thread that may go out now, a request's public message
        first. Only what a channel has turns for is read (and every private answer: they are
        not paced), so a pass costs what can be sent, not what waits: a channel without a
        turn is not read at all, however many messages wait in it."""
        backing_off = self._threads.waiting()
        events = self._store.next_in_each_thread(None, limit=PER_PASS, skip=backing_off)
        for channel in self._store.waiting_channels():
            refused = self._refused_channels.get(channel)
            if refused is not None:
                # What was queued before Slack turned the bot away is given up without a turn,
                # a pass at a time. Once none of it is left, the channel is read as any other.
                heads = self._store.next_in_each_thread(channel, limit=PER_PASS)
                if len(heads) < PER_PASS and all(event.id > refused[0] for event in heads):
                    del self._refused_channels[channel]
                events += heads
            elif turns := self._pacer.turns(channel):
                events += self._store.next_in_each_thread(
                    channel, limit=min(turns, PER_PASS), skip=backing_off
                )
            else:
                self._paced.add(channel)
        return sorted(events, key=lambda event: (event.kind != ROOT, event.id))

    def _send(self, event: OutboxEvent) -> Settled | None:
        """Try one thread's next event: "delivered", "given up", or None (still waiting). Its
        request is read only once the event goes out: what it shows is read as it is sent."""
        channel = event.channel or ""
        private = event.kind.startswith("private")
        if not self._threads.ready(event.thread):
            return None
        refused = self._refused_channels.get(channel)
        if refused is not None and not private and event.id <= refused[0]:
            # Queued before Slack turned the bot away from this channel: trying each would
            # only spend the channel's pace on certain refusals. Later ones are tried (the
            # bot may have been invited back).
            if event.kind == ROOT:  # its request may still be stopped before it is sent
                self._channel_refused(
                    event, channel, reason=refused[1], error=NOT_TRIED, only=event.request_id
                )
            else:
                self._give_up(event, reason=refused[1], error=NOT_TRIED)
            return "given up"
        # Private answers go through the response_url or as ephemeral messages: not posts
        # into the channel, and not under its per-channel limit.
        if not private and not self._pacer.try_take(channel):
            self._paced.add(channel)
            return None
        # A first try posts without looking for an earlier one: Slack's answer is news of the
        # channel from now on, for every request confirmed there before it (queued by then),
        # whose operations need not wait for their own message. A later try may find the
        # message an earlier one left, posted before some of them.
        covers = (
            self._store.newest_event_id() if event.kind == ROOT and not event.attempts else None
        )
        # Read before rendering: a change made meanwhile is still shown by an edit.
        version = self._store.root_version(event.request_id) if event.kind == ROOT else 0
        request = self._store.get_request(event.request_id)
        if request is None:  # cannot happen with foreign keys on; never loop on it
            self._store.mark_delivered(event.id, now=self._clock())
            return "delivered"
        if not self._store.mark_attempt_started(event.id):
            return None  # another replica leads now: its outbox sends this
        try:
            if event.kind == ROOT:
                ts = self._notifier.post_root(request, retry=event.attempts > 0)
                failpoint("after_root_posted")
                self._store.root_posted(
                    event.id, status_ts=ts, now=self._clock(), version=version, covers=covers
                )
                self._edited[request.id] = self._monotonic()
                self._threads.reset(event.thread)
                self._on_root_answered()
                self._on_request_changed(request)  # now in public: a Home tab may show it
                return "delivered"
            self._notifier.deliver(event, request)
        except RateLimited as exc:
            self._rate_limited(event, request, exc)
            return None
        except NotInChannel as exc:
            error = str(exc.__cause__ or exc)
            if private:  # an ephemeral answer refused says nothing of the channel's posts
                self._give_up(event, reason=exc.message, error=error)
            else:
                self._refused_channels[channel] = (self._store.newest_event_id(), exc.message)
                self._channel_refused(event, channel, reason=exc.message, error=error)
            return "given up"
        except CannotPost as exc:
            self._give_up(event, reason=exc.message, error=str(exc.__cause__ or exc))
            return "given up"
        except Exception as exc:
            self._failed(event, request, exc)
            return None
        self._threads.reset(event.thread)
        self._store.mark_delivered(event.id, now=self._clock())
        self._on_request_changed(request)
        return "delivered"

    def _channel_refused(
        self,
        event: OutboxEvent,
        channel: str,
        *,
        reason: str,
        error: str,
        only: str | None = None,
    ) -> None:
        """Slack turned the bot away from `channel`. Every request there whose public message
        has not gone out and none of whose operations was sent stops now, this one included
        (its requester is told why, privately), or, with `only`, that request alone; any
        other message is given up."""
        stopped = self._store.stop_unposted(
            channel, reason=reason, error=error, now=self._clock(), notice=NOT_POSTED, only=only
        )
        if event.request_id in stopped:
            self._threads.reset(event.thread)
        else:
            self._give_up(event, reason=reason, error=error)
        if stopped:
            log.warning(
                "Slack refused channel %s (%s): %d request(s) stopped before anything was sent",
                channel,
                error,
                len(stopped),
            )
            self._on_root_answered()

    def _rate_limited(self, event: OutboxEvent, request: RequestRecord, exc: RateLimited) -> None:
        # A 429 means the message was not posted: nothing to look for before the next try.
        self._store.mark_attempt_failed(event.id, error=str(exc), landed=False)
        if event.kind.startswith("private"):
            self._threads.failed(event.thread, at_least=exc.retry_after)
        else:
            self._pacer.hold(request.channel or "", exc.retry_after)
        self._root_waited_for(event, request)
        log.warning(
            "message %s for %s: Slack is rate-limiting; trying again in %.0f s",
            event.id,
            request.id,
            exc.retry_after,
            extra={"request_id": request.id},
        )

    def _failed(self, event: OutboxEvent, request: RequestRecord, exc: Exception) -> None:
        delay = self._threads.failed(event.thread)
        self._store.mark_attempt_failed(event.id, error=f"{type(exc).__name__}: {exc}")
        self._root_waited_for(event, request)
        log.warning(
            "message %s for %s not delivered; trying again in %.1f s: %s",
            event.id,
            request.id,
            delay,
            exc,
            extra={"request_id": request.id},
        )

    def _root_waited_for(self, event: OutboxEvent, request: RequestRecord) -> None:
        """Slack is failing for now, not refusing: the operations need not wait for it."""
        if event.kind == ROOT:
            self._store.root_tried(request.id, now=self._clock())
            self._on_root_answered()

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
        if event.kind == ROOT:
            self._store.root_tried(event.request_id, now=self._clock())
            self._on_root_answered()
        log.warning(
            "message %s for %s given up: %s",
            event.id,
            event.request_id,
            error,
            extra={"request_id": event.request_id},
        )

    def _refresh_roots(self, *, until: float | None) -> None:
        """`until`: the last flush's end (see deliver_pending)."""
        final = until is not None
        now = self._monotonic()
        # Only those still within their gap matter: they wait, and say when they may go.
        self._edited = {r: at for r, at in self._edited.items() if at + self._summary_gap > now}
        held: dict[str, float] = {} if final else self._edited
        self._next_edit = min((at + self._summary_gap for at in held.values()), default=inf)
        # Read in the order they are edited (finished requests first, then the one shown
        # longest ago), as many as the workspace has turns for (one, to learn when the next
        # turn is needed): what waits is not read.
        stale = self._store.stale_roots(
            limit=max(1, self._edits.turns(WORKSPACE)), skip=[*held, *self._roots.waiting()]
        )
        for request_id, version, _ in stale:
            if self._over(until):
                return
            if not self._roots.ready(request_id):
                continue
            if not self._edits.try_take(WORKSPACE):
                # The rest wait for the workspace's next turn, the finished ones first.
                self._next_edit = min(self._next_edit, now + self._edits.wait(WORKSPACE))
                break
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
                    extra={"request_id": request_id},
                )
                continue
            except Exception as exc:
                wait = exc.retry_after if isinstance(exc, RateLimited) else 0.0
                if wait:
                    self._edits.hold(WORKSPACE, wait)
                delay = self._roots.failed(request_id, at_least=wait)
                log.warning(
                    "status message of %s not refreshed; trying again in %.0f s: %s",
                    request_id,
                    delay,
                    exc,
                    extra={"request_id": request_id},
                )
                continue
            self._roots.reset(request_id)
            self._store.root_shown(request_id, version=version)
            self._edited[request_id] = self._monotonic()
            self._on_request_changed(request)
