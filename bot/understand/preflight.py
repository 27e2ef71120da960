"""Before a confirmation: what else is happening on the same devices.

The API has no filter by device or by status that the bot can rely on, so the look reads the
list from its newest end and stops after `within` operations: a few GETs however long the
API's history. Operations are created before they are scheduled, so one scheduled for later
is among the recently created, nearly always. The blind spot: one created long ago for a
time far ahead (more than `within` operations have been created since) is not seen. The note
saying how many were checked tells the person so.

No `update_status`: that asks the API to contact devices, and a look before a confirmation
must stay cheap. The statuses are as the API last stored them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot import say
from bot.model import OperationSpec, parse_api_time
from bot.zequenze.api import PAGE_SIZE, ApiError, Found
from store import is_final, is_running

WITHIN = 500  # the newest operations looked at: 5 GETs of 100 (6 when listed oldest first)
WINDOW = timedelta(hours=1)


class OperationSearch(Protocol):
    def find_newest(
        self,
        match: Callable[[dict[str, Any]], bool],
        *,
        want: int,
        within: int,
        page_size: int = PAGE_SIZE,
    ) -> Found: ...


@dataclass(frozen=True, kw_only=True)
class Conflict:
    """An operation not final on one of the request's devices: running now, or scheduled
    within the window of this request's operation on that device."""

    api_id: str
    device_name: str  # as the API spells it
    operation_type: str
    status: str
    scheduled_at: datetime | None  # None: the API's time could not be read
    running: bool


@dataclass(frozen=True, kw_only=True)
class Conflicts:
    conflicts: tuple[Conflict, ...] = ()
    # How many of the newest operations were looked at; None when that was all of them.
    searched: int | None = None
    # The list could not be read: why, as a sentence for the confirmation. Not a refusal.
    unavailable: str | None = None


def find_conflicts(
    *,
    api: OperationSearch,
    specs: Sequence[OperationSpec],
    now: datetime,
    within: int = WITHIN,
    window: timedelta = WINDOW,
) -> Conflicts:
    """The operations that may collide with `specs`, running first, then by time. A spec due
    before `now` (a request for now) is taken to run at `now`."""
    times: dict[str, list[datetime]] = {}
    for spec in specs:
        times.setdefault(spec.device_name.lower(), []).append(max(spec.scheduled_at, now))
    if not times:
        return Conflicts(searched=0)

    def clashes(item: dict[str, Any]) -> bool:
        device = str(item.get("device_name") or "").lower()
        status = str(item.get("status") or "")
        if device not in times or is_final(status):
            return False
        if is_running(status):
            return True
        scheduled = parse_api_time(item.get("scheduled_at"))
        # Not final and no readable time: it may be any time, so it is shown.
        return scheduled is None or any(abs(scheduled - t) <= window for t in times[device])

    try:
        # `want` as large as the search: every clash among the newest `within`, not the first.
        found = api.find_newest(clashes, want=within, within=within, page_size=PAGE_SIZE)
    except ApiError as exc:
        return Conflicts(unavailable=say.preflight.preflight_unavailable(exc.message))
    conflicts = (_conflict(item) for item in found.items)
    return Conflicts(
        conflicts=tuple(sorted(conflicts, key=_order)),
        searched=None if found.whole else found.searched,
    )


def _conflict(item: dict[str, Any]) -> Conflict:
    status = str(item.get("status") or "")
    return Conflict(
        api_id=str(item.get("id") or ""),
        device_name=str(item.get("device_name") or ""),
        operation_type=str(item.get("operation_type") or ""),
        status=status,
        scheduled_at=parse_api_time(item.get("scheduled_at")),
        running=is_running(status),
    )


def _order(conflict: Conflict) -> tuple[bool, bool, datetime | str]:
    moment = conflict.scheduled_at
    return (not conflict.running, moment is None, moment or conflict.api_id)


def snapshot(found: Conflicts) -> dict[str, Any]:
    """As kept with the request (JSON), for its confirmation."""
    return {
        "conflicts": [
            {
                "api_id": c.api_id,
                "device": c.device_name,
                "type": c.operation_type,
                "status": c.status,
                "scheduled_at": c.scheduled_at.isoformat() if c.scheduled_at else None,
                "running": c.running,
            }
            for c in found.conflicts
        ],
        "conflicts_searched": found.searched,
        "conflicts_unavailable": found.unavailable,
    }
