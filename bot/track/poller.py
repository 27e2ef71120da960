"""Asks the API about the operations still followed, each when its answer can matter, and
records what changed.

Polling by need: each operation has its next look in the store (`next_check_at`), placed
after every look from what it is doing. One scheduled for tomorrow is looked at rarely and
without `update_status` (nothing can have happened to it but a cancellation), then asked
properly from shortly before its time; one running is asked at most `interval` apart, so a
status lasting longer than the interval is always seen (sampling: a phase longer than the
gap between two looks cannot fall between them); one running far past its expected duration
is asked less and less. The loop sleeps until the next look is due (`pause`), not on a
fixed tick, and a new operation is a new entry in the schedule, placed without asking.

When many answers are wanted at once, one listing of the API's newest operations (100 a
page, with `update_status`) can stand in for hundreds of calls by id: the poller takes
whichever costs fewer requests, and asks by id about any the pages did not show.

Calls by id run concurrently with a bound, so one slow answer never holds up the rest: a
round waits for them at most one interval, and a look still in flight is not asked again.
One failing operation or API error never stops the others. While the API cannot be reached,
each operation backs off on its own (its failed looks are counted in the store); the thread
is told once when one could not be checked for too long, and again when contact is back. An
operation running far longer than expected gets one warning. One the API answers about but
no longer holds is told once and no longer followed.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.run.failpoints import failpoint
from bot.zequenze.api import PAGE_SIZE, ApiError, ZequenzeClient
from bot.zequenze.devices import DeviceBook
from store import VANISHED, OperationRecord, Store, is_running
from store.records import WAITING_STATUSES

log = logging.getLogger(__name__)

# (operation id, the next look it had, its next look, failed looks in a row)
Plan = tuple[int, datetime | None, datetime, int]


@dataclass(frozen=True, kw_only=True)
class PollTuning:
    concurrency: int = 16
    max_backoff: float = 300.0  # seconds between checks of an operation the API will not answer
    outage_notice: float = 300.0  # tell the thread after this long without a successful check
    overdue_factor: float = 3.0  # running beyond factor × estimated_duration + grace is overdue
    overdue_grace: float = 120.0
    # An overdue operation is asked every quarter of the time it has been running (at least
    # every interval, at most this far apart): its next status is almost surely its end.
    overdue_max_gap: float = 300.0
    # The longest an operation waiting for its time goes unlooked at: one cancelled or
    # deleted elsewhere is noticed within this, at the cost of one cheap look (no
    # update_status) an hour per operation.
    idle_look: float = 3600.0
    # A round also takes looks due within this fraction of the interval: looks due close
    # together go together (one listing can answer them all), and none is ever late by it.
    early: float = 0.25
    page_size: int = PAGE_SIZE
    round_limit: int = 5000  # looks taken per round at most (the next round takes the rest)


@dataclass(frozen=True, kw_only=True)
class Look:
    """What a look found: the API's item, or None when the API no longer holds it."""

    item: dict[str, Any] | None


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
        stopping: threading.Event | None = None,
    ) -> None:
        self._store = store
        # Set when the bot stops: looks not yet asked are not asked (each stays due, for the
        # next start), so a round over a backlog ends with the calls already in flight.
        self._stopping = stopping or threading.Event()
        self._api = api
        self._devices = devices
        self._clock = clock
        self._on_change = on_change
        self._interval = interval
        self._tuning = tuning = tuning or PollTuning()
        self._pool = ThreadPoolExecutor(max_workers=tuning.concurrency, thread_name_prefix="poll")
        # Operations asked by id whose answer has not come yet: never asked twice at once.
        self._inflight: set[int] = set()
        self._inflight_lock = threading.Lock()
        self._more = False  # the last round left due looks for the next one
        # What each path cost, for the benchmark and the logs.
        self.listings = 0
        self.listing_requests = 0

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # --- the schedule ---------------------------------------------------------------------

    def pause(self) -> float:
        """Seconds until the next look is due (for the Ticker: the loop wakes then)."""
        if self._more:
            return self._interval * 0.01  # the rest of a full load, after a breath
        soonest = self._store.next_check_due()
        if soonest is None:
            return self._interval
        wait_for = (soonest - self._clock()).total_seconds()
        # A look due now but still in flight must not make the loop spin.
        return max(wait_for, self._interval * 0.05)

    def _next_look(
        self, op: OperationRecord, status: str, now: datetime, failures: int
    ) -> datetime:
        interval = self._interval
        tuning = self._tuning
        if failures:
            delay = min(tuning.max_backoff, interval * 2 ** (failures - 1))
            return now + timedelta(seconds=delay)
        if is_running(status):
            started, expected = op.running_since, op.estimated_duration
            if started is not None and expected:
                running = (now - started).total_seconds()
                if running > expected * tuning.overdue_factor + tuning.overdue_grace:
                    gap = min(tuning.overdue_max_gap, max(interval, running / 4))
                    return now + timedelta(seconds=gap)
            return now + timedelta(seconds=interval)
        if status.strip().lower() in WAITING_STATUSES:
            # Asked properly from one interval before its time: its start is then never
            # missed, and nothing before it needs more than the rare idle look.
            from_time = op.scheduled_at - timedelta(seconds=interval)
            if from_time > now + timedelta(seconds=interval):
                return min(from_time, now + timedelta(seconds=tuning.idle_look))
        # Running, due, or a word the bot does not know: as often as the interval allows.
        return now + timedelta(seconds=interval)

    def _wants_fresh(self, op: OperationRecord, now: datetime) -> bool:
        """Whether the answer matters enough to ask the API to contact the device."""
        status = (op.status or "").strip().lower()
        if status in WAITING_STATUSES:
            return op.scheduled_at - timedelta(seconds=self._interval) <= now
        return True

    def _place_new(self, now: datetime) -> None:
        """Just submitted: a first look at the right time, from what the create call said."""
        new = self._store.operations_unplaced()
        if new:
            self._store.schedule_checks(
                [(op.id, None, self._next_look(op, op.status or "", now, 0), 0) for op in new]
            )

    # --- a round --------------------------------------------------------------------------

    def poll_once(self) -> int:
        """One round over the looks that are due; returns how many changed (in the round:
        a look still in flight when the round ends tells `on_change` itself)."""
        started = self._clock()
        self._place_new(started)
        tuning = self._tuning
        horizon = started + timedelta(seconds=self._interval * tuning.early)
        due = self._store.operations_due(by=horizon, limit=tuning.round_limit)
        with self._inflight_lock:
            taken = [op for op in due if op.id not in self._inflight]
        # More are waiting only if this round took a full load itself: due looks still in
        # flight from an earlier round would otherwise make the loop spin until they answer.
        self._more = len(due) >= tuning.round_limit and len(taken) == len(due)
        due = taken
        if not due:
            return 0
        fresh = [op for op in due if self._wants_fresh(op, started)]
        idle = [op for op in due if not self._wants_fresh(op, started)]
        futures = [self._ask_by_id(op, fresh=False) for op in idle]
        changed = 0
        pages = self._pages_for(fresh)
        if pages is not None:
            changed, missing = self._listed(fresh, pages, started)
            fresh = missing
        futures += [self._ask_by_id(op, fresh=True) for op in fresh]
        # One slow answer must not hold up the next looks of the others: after an interval
        # the round ends, and an answer still to come tells `on_change` itself.
        done, late = wait(futures, timeout=self._interval)
        changed += sum(f.result() for f in done if not f.cancelled() and f.exception() is None)
        for future in late:
            future.add_done_callback(self._late_answer)
        if changed:
            self._on_change()
        return changed

    def _pages_for(self, fresh: Sequence[OperationRecord]) -> int | None:
        """Pages a listing may read to cover `fresh`, if that costs fewer requests than asking
        each by id; None if it does not. The bot's own creations since the oldest of them tell
        how far back it lies from the newest end (others' creations are found as we read: the
        walk stops at its page budget, and the rest are asked by id)."""
        if len(fresh) < 3:
            return None
        behind = self._store.submitted_since(min(op.id for op in fresh))
        pages = math.ceil(behind / self._tuning.page_size) + 1  # +1: telling the list's order
        if pages >= len(fresh):
            return None
        return min(len(fresh) - 1, pages + 2)  # a little room for others' new operations

    def _listed(
        self, fresh: Sequence[OperationRecord], pages: int, started: datetime
    ) -> tuple[int, list[OperationRecord]]:
        """Reads the newest pages (with update_status) until every one of `fresh` was seen;
        settles those and any other operation followed that the pages showed and whose look
        is due within the interval (its look is then done early: asking early never skips a
        status). Returns how many changed and those of `fresh` not seen."""
        wanted = {op.api_id: op for op in fresh if op.api_id}
        soon = self._store.operations_due(
            by=started + timedelta(seconds=self._interval), limit=self._tuning.round_limit
        )
        with self._inflight_lock:
            extra = {
                op.api_id: op
                for op in soon
                if op.api_id and op.id not in self._inflight and self._wants_fresh(op, started)
            }
        extra.update(wanted)
        reader = self._api.scan_newest(
            max_pages=pages, update_status=True, page_size=self._tuning.page_size
        )
        looks: list[tuple[OperationRecord, Look]] = []
        missing = dict(wanted)
        try:
            for item in reader.walk():
                op = extra.pop(str(item.get("id")), None)
                if op is None:
                    continue
                looks.append((op, Look(item=item)))
                missing.pop(op.api_id, None)
                if not missing:
                    break
        except ApiError as exc:
            # The pages read so far are good; the rest are asked by id (and fail there on
            # their own if the API is down, each backing off).
            log.warning("listing for the poller failed: %s", exc.message)
        except Exception:
            log.exception("listing for the poller failed")
        self.listings += 1
        self.listing_requests += reader.requests
        self._devices.learn([look.item for _, look in looks if look.item])
        changed = 0
        plans: list[Plan] = []
        for op, look in looks:
            did, plan = self._settle(op, look, started)
            changed += did
            if plan is not None:
                plans.append(plan)
        self._store.schedule_checks(plans)
        return changed, list(missing.values())

    def _ask_by_id(self, op: OperationRecord, *, fresh: bool) -> Future[bool]:
        with self._inflight_lock:
            self._inflight.add(op.id)
        future = self._pool.submit(self._check, op, fresh)

        def finished(done: Future[bool]) -> None:
            with self._inflight_lock:
                self._inflight.discard(op.id)

        future.add_done_callback(finished)
        return future

    def _late_answer(self, future: Future[bool]) -> None:
        if not future.cancelled() and future.exception() is None and future.result():
            self._on_change()

    def _check(self, op: OperationRecord, fresh: bool) -> bool:
        """One look by id, recorded and its next look placed; none once the bot stops (it
        stays due, untouched: not a failed look)."""
        assert op.api_id is not None
        if self._stopping.is_set():
            return False
        started = self._clock()
        try:
            item = self._api.get_operation(op.api_id, update_status=fresh)
        except ApiError as exc:
            log.warning("could not check %s: %s", op.api_id, exc.message, extra=op.log_ids())
            return self._failed(op, started)
        except Exception:
            log.exception("could not check %s", op.api_id, extra=op.log_ids())
            return self._failed(op, started)
        if item is not None:
            self._devices.learn([item])
        changed, plan = self._settle(op, Look(item=item), started)
        if plan is not None:
            self._store.schedule_checks([plan])
        return changed

    # --- what a look found ------------------------------------------------------------------

    def _settle(
        self, op: OperationRecord, look: Look, started: datetime
    ) -> tuple[bool, Plan | None]:
        """Records what a look found; returns whether anything was announced and the plan
        for its next look. `started`: when the look was asked, which the next is counted
        from (so two looks are never more than an interval apart at the API)."""
        item = look.item
        if item is None:
            log.warning("operation %s: the API no longer knows it", op.api_id, extra=op.log_ids())
            status, announce = VANISHED, op.announce("vanished")
        else:
            status = item.get("status")
            if not isinstance(status, str) or not status.strip():
                log.warning(
                    "operation %s: no usable status in the API's answer",
                    op.api_id,
                    extra=op.log_ids(),
                )
                return self._failed(op, started), None
            status = status.strip()
            error = item.get("error")
            announce = op.announce(
                "status",
                old=op.status,
                new=status,
                error=error if isinstance(error, str) else None,
            )
        changed = False
        if status != op.status:
            changed = self._store.record_status(
                op.id, old=op.status, new=status, now=self._clock(), announce=announce
            )
        if changed:
            failpoint("after_status_recorded")
        if op.check_failing_since is not None:
            changed |= self._store.check_succeeded(
                op.id,
                now=self._clock(),
                announce=op.announce("reachable", status=status),
            )
        changed = self._check_overdue(op, status) or changed
        plan = (op.id, op.next_check_at, self._next_look(op, status, started, 0), 0)
        return changed, plan

    def _failed(self, op: OperationRecord, started: datetime) -> bool:
        failures = op.check_failures + 1
        self._store.schedule_checks(
            [(op.id, op.next_check_at, self._next_look(op, "", started, failures), failures)]
        )
        now = self._clock()
        since = op.check_failing_since or now
        return self._store.check_failed(
            op.id,
            now=now,
            announce_after=self._tuning.outage_notice,
            announce=op.announce("unreachable", minutes=(now - since).total_seconds() / 60),
        )

    def _check_overdue(self, op: OperationRecord, status: str) -> bool:
        if not is_running(status) or op.overdue_warned:
            return False
        started, expected = op.running_since, op.estimated_duration
        if started is None or not expected:
            return False
        running = (self._clock() - started).total_seconds()
        if running <= expected * self._tuning.overdue_factor + self._tuning.overdue_grace:
            return False
        return self._store.warn_overdue(
            op.id,
            now=self._clock(),
            announce=op.announce("overdue", minutes=running / 60),
        )
