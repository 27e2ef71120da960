"""Settles operations whose create call went unanswered, from evidence only.

A POST that timed out, failed with a 5xx, or was in flight when the bot died may have created
the operation anyway: reboots are not idempotent, so it is never sent again on the bot's own
word. The API's list, read from its newest end since the request was confirmed, is the
evidence: an operation that matches (device ignoring case, type, time, parameters) is adopted,
however late it appears. While none does, the list is read again, less and less often, and
after a while the requester is asked in the thread, with what the API holds for that device:
Send again or Drop. An operation sent again on a person's word is still watched for a while:
if its first attempt appears after all, it becomes an operation of the request too, and the
thread says the device now has two.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot import say
from bot.model import format_api_time, parse_api_time
from bot.track.backoff import Backoff
from bot.track.tuning import Tuning
from bot.zequenze.api import ApiError, Recent, ZequenzeClient
from bot.zequenze.devices import DeviceBook
from store import FOUND_AFTER_DROP, FOUND_LATE, OperationRecord, Store

log = logging.getLogger(__name__)

# The API's clock and ours may differ: an operation is looked for from this long before the
# confirmation. Only a created_at that proves an item older than that rules it out.
CLOCK_SKEW = timedelta(minutes=5)
ASK_UNKNOWN = "ask_unknown"  # the outbox kind of the question to the requester
SHOWN_WHEN_ASKING = 5  # the API's operations for the device shown in the question
_LIST_KEY = "list"


def find_created(
    listed: list[dict[str, Any]], op: OperationRecord, *, since: datetime, taken: set[str]
) -> dict[str, Any] | None:
    """The API's operation that is this one: the same device (ignoring case), type, time and
    parameters, created since `since` (less the clock skew), and not already someone's.

    `created_at` rules an item out only when it proves the item older. The API's doc shows
    `created_at` on every item but never says it is required, and rejecting an item for a
    missing or unreadable one would leave a created operation unadopted. An item that provably
    matches is preferred to one that merely may."""
    earliest = since - CLOCK_SKEW
    maybe: dict[str, Any] | None = None
    for item in listed:
        if str(item.get("id")) in taken or not _same_operation(item, op):
            continue
        created = parse_api_time(item.get("created_at"))
        if created is None:
            maybe = maybe or item
        elif created >= earliest:
            return item
    return maybe


def _same_operation(item: dict[str, Any], op: OperationRecord) -> bool:
    device = item.get("device_name")
    if not isinstance(device, str) or device.lower() != op.device_name.lower():
        return False
    if item.get("operation_type") != op.operation_type:
        return False
    scheduled = parse_api_time(item.get("scheduled_at"))
    times = {format_api_time(t) for t in (op.scheduled_at, *op.earlier_times)}
    if scheduled is None or format_api_time(scheduled) not in times:
        return False
    # Every parameter sent must be there as sent; the API may add defaults of its own beside
    # them, and one that does not echo parameters at all cannot be told apart by them.
    held = item.get("parameters")
    if held is None:
        return True
    return isinstance(held, dict) and all(held.get(k) == v for k, v in op.parameters.items())


class Reconciler:
    def __init__(
        self,
        *,
        store: Store,
        api: ZequenzeClient,
        devices: DeviceBook,
        clock: Callable[[], datetime],
        tuning: Tuning,
        on_change: Callable[[], None] = lambda: None,
        stopping: threading.Event | None = None,
    ) -> None:
        self._store = store
        # Set when the bot stops: the client cuts the list read short, and the operations not
        # yet weighed against it are left as they are (a read cut short proves nothing; the
        # next start reads the list again).
        self._stopping = stopping or threading.Event()
        self._api = api
        self._devices = devices
        self._clock = clock
        self._tuning = tuning
        self._on_change = on_change
        # While the list cannot be read, wait longer each time; per operation, look again
        # less and less often while nothing matches.
        self._list_backoff = Backoff(first=tuning.list_backoff, cap=tuning.list_max_backoff)
        self._looks = Backoff(first=tuning.look_every, cap=tuning.look_cap)

    def reconcile(self) -> int:
        """One look at the API's list for every operation due for one; returns how many
        changed (adopted, asked about, or found twice)."""
        now = self._clock()
        unknown = [
            op
            for op in self._store.operations_in_state("unknown")
            if op.unknown_since is None or op.unknown_since <= now - self._tuning.reconcile_delay
        ]
        watched = self._store.operations_watched(now=now)
        due = [op for op in (*unknown, *watched) if self._looks.ready(op.id) or self._ask_now(op)]
        if not due or not self._list_backoff.ready(_LIST_KEY):
            return 0
        since = {op.id: self._confirmed_at(op) for op in due}
        try:
            recent = self._api.recent_operations(since=min(since.values()) - CLOCK_SKEW)
        except ApiError as exc:
            delay = self._list_backoff.failed(_LIST_KEY)
            log.warning(
                "cannot look for %d operation(s) in the API's list yet (again in %.0f s): %s",
                len(due),
                delay,
                exc.message,
            )
            return 0
        self._list_backoff.reset(_LIST_KEY)
        if not recent.complete:
            log.info(
                "the API's list could not be read whole in %d GETs back to the confirmation "
                "of %d operation(s); their absence proves nothing, still looking",
                recent.requests,
                len(due),
            )
        self._devices.learn(recent.items)
        taken = self._store.api_ids_taken([str(item.get("id")) for item in recent.items])
        changed = 0
        for op in due:
            if self._stopping.is_set():
                break
            match = find_created(recent.items, op, since=since[op.id], taken=taken)
            if match is not None:
                taken.add(str(match["id"]))
                self._looks.reset(op.id)
                changed += self._found(op, match)
                continue
            self._looks.failed(op.id)
            if self._ask_now(op):
                changed += self._ask(op, recent, since=since[op.id])
        if changed:
            self._on_change()
        return changed

    def _confirmed_at(self, op: OperationRecord) -> datetime:
        request = self._store.get_request(op.request_id)
        if request is not None and request.confirmed_at is not None:
            return request.confirmed_at
        return op.scheduled_at

    def _ask_now(self, op: OperationRecord) -> bool:
        return (
            op.state == "unknown"
            and op.asked_at is None
            and op.unknown_since is not None
            and op.unknown_since <= self._clock() - self._tuning.ask_after
        )

    def _found(self, op: OperationRecord, item: dict[str, Any]) -> int:
        """The API holds what one of this operation's create calls made: it becomes this
        operation, or, if this one already is another of them, a second operation of the
        request. Each is recorded for the time the API holds it for."""
        status, duration, error = _reported(item)
        api_id = str(item["id"])
        at = parse_api_time(item.get("scheduled_at")) or op.scheduled_at
        if op.state == "submitted":
            log.warning(
                "another attempt of %s reached the API after all: %s",
                op.id,
                api_id,
                extra={**op.log_ids(), "api_id": api_id},
            )
            return int(
                self._store.adopt_late_original(
                    op.id,
                    api_id=api_id,
                    status=status,
                    scheduled_at=at,
                    estimated_duration=duration,
                    now=self._clock(),
                    announce=op.announce("found_twice", sent_again_as=op.api_id, status=status),
                )
            )
        # unknown: the answer was lost (after a Send again, more than one call may have gone,
        # and the others are still looked for); new: sent again, but not gone yet (it never
        # will now); rejected: dropped, or refused when sent again, yet it reached the API.
        sent_again = op.answered_by is not None and op.state == "unknown"
        if op.state == "rejected":
            kind = FOUND_AFTER_DROP if op.error == say.recovery.DROPPED else FOUND_LATE
        else:
            kind = "adopted_again" if sent_again else "adopted"
        return int(
            self._store.adopt_found(
                op.id,
                was=op.state,
                api_id=api_id,
                status=status,
                scheduled_at=at,
                estimated_duration=duration,
                end_watch=not sent_again,
                now=self._clock(),
                announce=op.announce(kind, status=status, error=error),
            )
        )

    def _ask(self, op: OperationRecord, recent: Recent, *, since: datetime) -> int:
        """What the API holds for this device since the confirmation, and the question."""
        earliest = since - CLOCK_SKEW
        held = []
        for item in recent.items:
            device = item.get("device_name")
            created = parse_api_time(item.get("created_at"))
            if not isinstance(device, str) or device.lower() != op.device_name.lower():
                continue
            if created is None or created >= earliest:
                held.append(
                    {
                        key: str(item.get(key) or "")
                        for key in ("id", "operation_type", "status", "scheduled_at")
                    }
                )
        assert op.unknown_since is not None
        waited = (self._clock() - op.unknown_since).total_seconds() / 60
        return int(
            self._store.ask_about_unknown(
                op.id,
                now=self._clock(),
                announce=op.announce(
                    ASK_UNKNOWN,
                    held=held[:SHOWN_WHEN_ASKING],
                    more=max(0, len(held) - SHOWN_WHEN_ASKING),
                    complete=recent.complete,
                    minutes=waited,
                ),
            )
        )


def _reported(item: dict[str, Any]) -> tuple[str, int | None, str | None]:
    """The status, estimated duration and error an API operation reports, where usable."""
    status, duration, error = item.get("status"), item.get("estimated_duration"), item.get("error")
    return (
        status if isinstance(status, str) and status.strip() else "scheduled",
        duration if isinstance(duration, int) and not isinstance(duration, bool) else None,
        error if isinstance(error, str) and error else None,
    )
