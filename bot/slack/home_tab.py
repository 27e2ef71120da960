"""The Home tab: what waits for one person and what is coming, from the store alone.

`gather` reads (no API call, no Slack call); `home_view` builds the Block Kit view, within a
Home view's limits however much is scheduled: at most 100 blocks, each section at most 3,000
characters, and what did not fit counted, with where to find it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot import say
from bot.policy.rules import Policy
from bot.policy.tables.windows import Window
from bot.ports import GroupsUnavailable
from bot.say import common_blocks, track_blocks
from bot.say.common_blocks import (
    ACTION_APPROVE,
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_REJECT,
    NAME_SHOWN,
    NOTES_SHOWN,
    TYPED_SHOWN,
    Blocks,
    context,
    escaped,
    section,
)
from bot.service import OpsService
from bot.understand.naming import compressed
from bot.understand.when import humanize_delta, local_time
from store import Freeze, OperationRecord, RequestRecord

MAX_HOME_BLOCKS = 100  # Slack's limit for a Home view
REQUESTS_SHOWN = 5  # of each kind (to confirm, to approve): two blocks each
APPROVING_READ = 200  # requests waiting for approval read to find the person's
LINES_READ = 200  # operations read for a list (the rest are counted)
IN_FLIGHT_SECTIONS = 3
SCHEDULED_SECTIONS = 5
SCHEDULED_AHEAD = timedelta(hours=24)


@dataclass(frozen=True, kw_only=True)
class HomeData:
    user: str
    tz: str
    now: datetime
    zone_note: str | None = None
    to_confirm: Sequence[RequestRecord] = ()
    to_approve: Sequence[RequestRecord] = ()
    to_approve_total: int = 0
    # Requests among to_approve whose approvers Slack cannot tell just now (a user group it
    # does not know, a rate limit, an error), with why: shown without buttons.
    cannot_tell: Mapping[str, str] = field(default_factory=dict)
    in_flight: Sequence[OperationRecord] = ()
    in_flight_total: int = 0
    scheduled: Sequence[OperationRecord] = ()
    scheduled_total: int = 0
    freezes: Sequence[Freeze] = ()
    windows: Sequence[tuple[Window, bool, datetime | None]] = ()  # open now, next start


def gather(service: OpsService, *, user: str, tz: str, zone_note: str | None = None) -> HomeData:
    """Everything the Home tab shows `user`, read from the store and the policy."""
    store, policy, now = service.store, service.policy, service.clock()
    to_confirm = store.pending_of(user, now=now, limit=REQUESTS_SHOWN + 1)
    to_approve, cannot_tell = [], {}
    for request in store.approving_requests(limit=APPROVING_READ):
        if user in request.approvals:
            continue
        shown, why = _approvable(policy, user=user, request=request)
        if shown:
            to_approve.append(request)
        if why is not None:
            cannot_tell[request.id] = why
    in_flight, in_flight_total = store.in_flight_of(user, limit=LINES_READ)
    scheduled, scheduled_total = store.scheduled_between(
        now, now + SCHEDULED_AHEAD, limit=LINES_READ
    )
    windows = []
    for window in policy.config.windows:
        try:
            start: datetime | None = window.when.next_start(now, tz=window.tz)
        except ValueError:
            start = None
        windows.append((window, window.when.contains(now, tz=window.tz), start))
    return HomeData(
        user=user,
        tz=tz,
        now=now,
        zone_note=zone_note,
        to_confirm=to_confirm,
        to_approve=to_approve,
        to_approve_total=len(to_approve),
        cannot_tell=cannot_tell,
        in_flight=in_flight,
        in_flight_total=in_flight_total,
        scheduled=scheduled,
        scheduled_total=scheduled_total,
        freezes=store.active_freezes(now=now),
        windows=windows,
    )


def _approvable(policy: Policy, *, user: str, request: RequestRecord) -> tuple[bool, str | None]:
    """Whether `request` is on `user`'s Home to approve and, when Slack cannot say who is in
    a user group among its approvers, why that cannot be told: then it is shown, without
    buttons (a click would be refused for the same reason), rather than failing the whole
    Home or hiding from someone who may be its approver."""
    try:
        why = policy.may_approve(
            user=user, requester=request.requester, approver_sets=request.approver_sets
        )
    except GroupsUnavailable as exc:
        return True, exc.reason
    return why is None, None


def home_view(data: HomeData, *, notice: str | None = None) -> dict[str, Any]:
    """The Home view; `notice`: one line on top (the answer to a click made here)."""
    at = _when(data, data.now)
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": say.home.HOME_TITLE}},
        context(say.home.home_zone(tz=data.tz, at=at, note=data.zone_note)),
    ]
    if notice:
        blocks.append(section(notice))
    blocks += _titled(say.home.HOME_TO_CONFIRM, _to_confirm(data))
    blocks += _titled(say.home.HOME_TO_APPROVE, _to_approve(data))
    blocks += _titled(
        say.home.HOME_IN_FLIGHT,
        _lines(
            [_in_flight_line(data, op) for op in data.in_flight],
            total=data.in_flight_total,
            sections=IN_FLIGHT_SECTIONS,
        ),
    )
    blocks += _titled(
        say.home.HOME_SCHEDULED,
        _lines(
            [_scheduled_line(data, op) for op in data.scheduled],
            total=data.scheduled_total,
            sections=SCHEDULED_SECTIONS,
        ),
    )
    freezes = [_freeze_line(data, f) for f in data.freezes]
    blocks += _titled(
        say.home.HOME_FREEZES,
        _lines(freezes, total=len(freezes), sections=1, empty=say.home.HOME_NO_FREEZE),
    )
    windows = [_window_line(data, *w) for w in data.windows]
    blocks += _titled(
        say.home.HOME_WINDOWS,
        _lines(windows, total=len(windows), sections=1, empty=say.home.HOME_NO_WINDOW),
    )
    assert len(blocks) <= MAX_HOME_BLOCKS, len(blocks)  # each part is capped above
    return {"type": "home", "blocks": blocks}


def _titled(title: str, body: Blocks) -> Blocks:
    return [
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        *body,
    ]


def _to_confirm(data: HomeData) -> Blocks:
    blocks: Blocks = []
    for request in data.to_confirm[:REQUESTS_SHOWN]:
        ops = request.operations
        line = say.home.home_request(
            typed=escaped(request.text, TYPED_SHOWN),
            count=len(ops),
            first=_when(data, min(op.scheduled_at for op in ops)) if ops else "?",
            expires=humanize_delta(request.expires_at - data.now),
        )
        blocks += [
            section(line),
            _buttons(
                f"home_confirm_{request.id}",
                common_blocks.button(
                    say.track.CONFIRM, ACTION_CONFIRM, request.id, style="primary"
                ),
                common_blocks.button(say.track.CANCEL, ACTION_CANCEL, request.id),
            ),
        ]
    more = len(data.to_confirm) - REQUESTS_SHOWN
    if more > 0:
        blocks.append(context(say.home.home_more(more, say.home.HOME_MORE_REQUESTS)))
    return blocks or [context(say.home.HOME_NOTHING)]


def _to_approve(data: HomeData) -> Blocks:
    blocks: Blocks = []
    for request in data.to_approve[:REQUESTS_SHOWN]:
        ops = request.operations
        line = say.home.home_approval(
            requester=f"<@{request.requester}>",
            typed=escaped(request.text, TYPED_SHOWN),
            count=len(ops),
            first=_when(data, min(op.scheduled_at for op in ops)) if ops else "?",
            approvals=len(request.approvals),
            needed=request.approvals_needed,
            until=_when(data, request.approval_expires_at) if request.approval_expires_at else "?",
        )
        why = data.cannot_tell.get(request.id)
        if why is not None:
            blocks += [section(line), context(say.home.home_cannot_tell(why))]
            continue
        blocks += [
            section(line),
            _buttons(
                f"home_approve_{request.id}",
                common_blocks.button(
                    say.policy.APPROVE, ACTION_APPROVE, request.id, style="primary"
                ),
                common_blocks.button(say.policy.REJECT, ACTION_REJECT, request.id),
            ),
        ]
    more = data.to_approve_total - REQUESTS_SHOWN
    if more > 0:
        blocks.append(context(say.home.home_more(more, say.home.HOME_MORE_REQUESTS)))
    return blocks or [context(say.home.HOME_NOTHING)]


def _buttons(block_id: str, *elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "block_id": block_id[:255], "elements": list(elements)}


def _lines(
    lines: list[str], *, total: int, sections: int, empty: str = say.home.HOME_NOTHING
) -> Blocks:
    """Lines packed into at most `sections` sections; the ones left out (and those not read)
    counted in a last line, with how to list them."""
    if not lines:
        return [context(empty)]
    shown, rest = common_blocks.fit_lines(
        lines, sections, budget=sections * common_blocks.MAX_SECTION_TEXT
    )
    blocks = [section(chunk) for chunk in shown]
    more = rest + max(total - len(lines), 0)
    if more:
        blocks.append(context(say.home.home_more(more, say.home.HOME_MORE_OPERATIONS)))
    return blocks


def _in_flight_line(data: HomeData, op: OperationRecord) -> str:
    icon, word = track_blocks.state_of(op)
    where = f" · `{escaped(op.api_id, NAME_SHOWN)}`" if op.api_id else ""
    status = escaped(word, NAME_SHOWN)
    return f"{icon} {_when(data, op.scheduled_at)} · {_summary(op)}{where} — *{status}*"


def _scheduled_line(data: HomeData, op: OperationRecord) -> str:
    icon, word = track_blocks.state_of(op)
    return f"{icon} {_when(data, op.scheduled_at)} · {_summary(op)} — {escaped(word, NAME_SHOWN)}"


def _summary(op: OperationRecord) -> str:
    kind = common_blocks.kind_shown(op.operation_type, op.parameters)
    return f"`{escaped(op.device_name, NAME_SHOWN)}` · {kind}"


def _freeze_line(data: HomeData, freeze: Freeze) -> str:
    return say.home.home_freeze(
        # A group's members, `db-01..db-40`, as one run.
        devices=_device_globs(None if freeze.devices is None else compressed(freeze.devices)),
        by=f"<@{freeze.frozen_by}>",
        until=_when(data, freeze.until) if freeze.until else None,
        reason=escaped(freeze.reason, NOTES_SHOWN),
    )


def _window_line(data: HomeData, window: Window, open_now: bool, start: datetime | None) -> str:
    return say.home.home_window(
        devices=_device_globs(window.written or window.devices),  # `@db` as the file has it
        schedule=escaped(window.when.text, NAME_SHOWN),
        tz=window.tz,
        open_now=open_now,
        next_start=_when(data, start) if start else "?",
    )


def _device_globs(globs: Sequence[str] | None) -> str:
    if globs is None:
        return say.home.ALL_DEVICES
    return common_blocks.joined([f"`{escaped(g, NAME_SHOWN)}`" for g in globs], 300)


def _when(data: HomeData, moment: datetime) -> str:
    """`Sat 28 Nov 22:00 (in 3 h)`, as the person's clock reads it."""
    return f"{local_time(moment, data.tz)} ({humanize_delta(moment - data.now)})"
