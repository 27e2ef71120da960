"""Confirm and track, in Block Kit: the confirmation (private to the requester), the request's
public message and its live summary, each line of its thread, and the answer to what someone
typed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot import say
from bot.answers import (
    Answer,
    Failed,
    Frozen,
    Helped,
    Listed,
    Proposed,
    Refused,
)
from bot.say.common import escape
from bot.say.common_blocks import (
    ACTION_CANCEL,
    ACTION_CONFIRM,
    ACTION_MOVE_TO_WINDOW,
    BLOCK_ALLOWANCE,
    DEVICES_SHOWN,
    ERROR_LEAST,
    ERROR_SHOWN,
    FINISHED_NAMES_SHOWN,
    LINES_SHOWN,
    MAX_BLOCKS,
    MAX_MESSAGE_TEXT,
    MAX_SECTION_TEXT,
    NAME_SHOWN,
    NOTES_SHOWN,
    PARAMETERS_SHOWN,
    STATUS_COUNTS_SHOWN,
    STATUS_LINES_MANY,
    STATUS_PARAMETERS_SHOWN,
    TYPED_SHOWN,
    VARIANT_SHOWN,
    VARIANTS_SHOWN,
    Blocks,
    button,
    clip,
    context,
    device_code,
    device_codes,
    escaped,
    fit,
    fit_lines,
    joined,
    message_size,
    notice,
    operation_label,
    operation_summary,
    parameters_text,
    refusal,
    section,
    slack_time,
    status_icon,
)
from bot.say.lists_blocks import operation_detail, operation_list
from bot.say.policy_blocks import (
    APPROVAL_EVENTS,
    JUDGED_EVENTS,
    approval_blocks,
    approval_event,
    frozen_text,
    judged_event,
    move_label,
    outside_question,
    policy_lines,
)
from bot.say.recovery_blocks import unknown_line, unknown_question
from bot.say.waves_blocks import halt_buttons, wave_blocks, wave_event, wave_line, wave_plan
from bot.track.outbox import NOT_POSTED, UNDELIVERED
from bot.track.reconcile import ASK_UNKNOWN
from bot.understand.when import humanize_delta, local_time
from store import (
    ASK_OUTSIDE,
    FINISHED,
    FOUND_AFTER_DROP,
    FOUND_LATE,
    OUTSIDE,
    STOPPED,
    SUCCEEDED_STATUSES,
    WAITING,
    WAITING_STATUSES,
    WAVE_EVENTS,
    WAVE_HALTED,
    OperationRecord,
    OutboxEvent,
    RequestRecord,
)

# Queued by migration 0004 for a confirmation an older version left half-way.
CONFIRM_INTERRUPTED = "private_confirm_interrupted"
# --- the confirmation (private to the requester) -------------------------------------------


def confirmation(request: RequestRecord, *, now: datetime, dry_run: bool = False) -> Blocks:
    ops = request.operations
    first = ops[0].scheduled_at
    if request.immediate:
        when = say.track.WHEN_NOW
    else:
        when = say.track.when_line(
            local=local_time(first, request.tz),
            tz=request.tz,
            utc=first.astimezone(UTC).strftime("%H:%M UTC (%Y-%m-%d)"),
            delta=humanize_delta(first - now),
        )
    blocks: Blocks = [
        section(
            say.track.confirm_heading(
                escaped(request.text, TYPED_SHOWN),
                len(ops),
                len({op.device_name.lower() for op in ops}),
                dry_run=dry_run,
            )
        ),
        *_what_is_asked(ops),
        section(when),
        *wave_plan(request),
    ]
    if request.notes:
        notes = "\n".join(f"ℹ️ {escape(note)}" for note in request.notes)
        blocks.append(context(clip(notes, NOTES_SHOWN)))
    blocks.extend(policy_lines(request))
    if dry_run:
        blocks.append(context(say.policy.DRY_RUN_FOOTER))
        return fit(blocks)
    buttons = [
        button(say.track.CONFIRM, ACTION_CONFIRM, request.id, style="primary"),
        button(say.track.CANCEL, ACTION_CANCEL, request.id),
    ]
    move = move_label(request)
    if move:
        buttons.append(button(move, ACTION_MOVE_TO_WINDOW, request.id))
    blocks.append({"type": "actions", "block_id": "ops_confirmation", "elements": buttons})
    valid = round((request.expires_at - request.created_at).total_seconds() / 60)
    blocks.append(context(say.track.confirmation_footer(request.id, valid)))
    return fit(blocks)


def _what_is_asked(ops: Sequence[OperationRecord]) -> Blocks:
    """The operations, each thing said once: the devices by name, the parameters they all
    share, then what sets some operations apart (`restart nginx, apache on …`)."""
    if len(ops) == 1:
        return [section(f"• {operation_summary(ops[0])}")]
    shape = _Shape.of(ops)
    names = [device_code(name) for name in shape.devices]
    # Runs as ranges (`server-001..server-500` (500)): 500 devices in one line, not 8 blocks.
    lead = say.track.operation_on(shape.kinds, len(names)) + ": "
    chunks, rest = fit_lines(device_codes(shape.devices), budget=DEVICES_SHOWN, sep=", ", lead=lead)
    blocks = [section(chunk) for chunk in chunks]
    if rest:
        blocks.append(context(say.track.and_more(rest)))
    if shape.shared:
        blocks.append(section(shape.shared_line(len(ops))))
    variants = list(dict.fromkeys(shape.labels))
    if len(variants) > 1:
        on = {
            v: [op.device_name for op, label in zip(ops, shape.labels, strict=True) if label == v]
            for v in variants
        }
        everywhere = all(sorted(on[v]) == sorted(shape.devices) for v in variants)
        lines = [
            f"• {v}"
            if everywhere
            else say.track.variant_on(
                v, joined(device_codes(list(dict.fromkeys(on[v]))), VARIANT_SHOWN)
            )
            for v in variants
        ]
        lead = (say.track.EACH_DEVICE if everywhere else say.track.PER_OPERATION) + "\n"
        chunks, rest = fit_lines(lines, budget=VARIANTS_SHOWN, lead=lead)
        blocks.extend(section(chunk) for chunk in chunks)
        if rest:
            blocks.append(context(say.track.and_more(rest)))
    return blocks


@dataclass(frozen=True, kw_only=True)
class _Shape:
    """What a request's operations have in common, and what sets each one apart."""

    kinds: str  # the operation type (or types), as mrkdwn
    devices: list[str]  # each device once, in the order asked
    shared: dict[str, Any]  # the parameters every operation has, with the same value
    labels: list[str]  # for each operation, what sets it apart ("" when nothing does)

    @classmethod
    def of(cls, ops: Sequence[OperationRecord]) -> _Shape:
        types = list(dict.fromkeys(op.operation_type for op in ops))
        keys = list(dict.fromkeys(key for op in ops for key in op.parameters))
        first = ops[0].parameters
        shared = {
            key: first[key]
            for key in keys
            if all(key in op.parameters and op.parameters[key] == first[key] for op in ops)
        }
        differing = [key for key in keys if key not in shared]
        labels: list[str] = []
        for op in ops:
            own = {key: op.parameters[key] for key in differing if key in op.parameters}
            parts = [escaped(op.operation_type, NAME_SHOWN)] if len(types) > 1 else []
            if own:
                parts.append(parameters_text(own, limit=VARIANT_SHOWN))
            labels.append(" · ".join(parts) or (say.track.NO_PARAMETERS if differing else ""))
        return cls(
            kinds=say.common.and_list([escaped(t, NAME_SHOWN) for t in types]),
            devices=list(dict.fromkeys(op.device_name for op in ops)),
            shared=shared,
            labels=labels,
        )

    def shared_line(self, count: int, *, limit: int = PARAMETERS_SHOWN) -> str:
        """`*Parameters (all 50 devices):* package_list=[…]`."""
        params = parameters_text(self.shared, limit=limit)
        return say.track.shared_parameters(params, count, per_device=count == len(self.devices))


# --- the public status message and its thread ----------------------------------------------


def status_message(request: RequestRecord) -> Blocks:
    ops = request.operations
    blocks: Blocks = [
        section(
            say.track.status_heading(
                requester=f"<@{request.requester}>",
                confirmer=f"<@{request.confirmed_by}>" if request.confirmed_by else None,
                typed=escaped(request.text, TYPED_SHOWN),
            )
        ),
        section(say.track.scheduled_for(slack_time(ops[0].scheduled_at), request.immediate)),
        *approval_blocks(request),
        *wave_blocks(request),
    ]
    if len(ops) == 1:
        summaries = [operation_summary(ops[0])]
    else:
        shape = _Shape.of(ops)
        common = say.track.operation_on(shape.kinds, len(shape.devices))
        blocks.append(
            section(
                f"{common} · {shape.shared_line(len(ops), limit=STATUS_PARAMETERS_SHOWN)}"
                if shape.shared
                else common
            )
        )
        summaries = [
            device_code(op.device_name) + (f" · {label}" if label else "")
            for op, label in zip(ops, shape.labels, strict=True)
        ]
    if len(ops) > 1:
        # The live summary: a request of several tells its thread only what a person must
        # read, so the counts here are where its progress is followed.
        blocks.append(section(_status_counts(request.operations)))  # the wave line is above
    if len(ops) > STATUS_LINES_MANY:
        # Hundreds of lines would fill the message with "scheduled": the counts say it, and
        # the lines shown are the ones to read first, those that went wrong.
        order = sorted(range(len(ops)), key=lambda i: not ops[i].went_wrong)
        ops = [ops[i] for i in order[:STATUS_LINES_MANY]]
        summaries = [summaries[i] for i in order[:STATUS_LINES_MANY]]
    hidden = len(request.operations) - len(ops)
    finals = [op for op in request.operations if op.final]
    tail = [
        context(
            say.track.progress(
                done=len(finals), total=len(request.operations), request_id=request.id
            )
        )
    ]
    # What the lines may take: what the rest leaves, with room for "…and N more" and for the
    # containers of the few sections the lines fill.
    room = MAX_MESSAGE_TEXT - message_size([*blocks, *tail, context(say.track.and_more(len(ops)))])
    room -= BLOCK_ALLOWANCE * (LINES_SHOWN // MAX_SECTION_TEXT + 2)
    lines = _status_lines(ops, summaries, room=room)
    shown, rest = fit_lines(lines, MAX_BLOCKS - len(blocks) - 2, budget=room)
    blocks.extend(section(chunk) for chunk in shown)
    if rest + hidden:
        blocks.append(context(say.track.and_more(rest + hidden)))
    return fit([*blocks, *tail])


def summary_lines(request: RequestRecord) -> list[str]:
    """The live summary of a request of several operations: its counts by status and, for a
    request sent in waves, where its waves stand."""
    wave = wave_line(request)
    return [_status_counts(request.operations), *([wave] if wave else [])]


# The order the summary counts in: what comes first in an operation's life comes first.
_COUNT_ORDER = {
    word: rank
    for rank, word in enumerate(
        (
            say.policy.WAITING_FOR_APPROVAL,
            say.policy.HELD_BY_FREEZE,
            say.policy.OUTSIDE_WINDOW,
            say.waves.WAITING_FOR_WAVE,
            say.track.SENDING,
            *sorted(WAITING_STATUSES, key=lambda w: w != "scheduled"),
        )
    )
}
_COUNT_LAST = (
    "completed",
    "failed",
    say.track.NOT_SCHEDULED,
    say.waves.STOPPED,
    say.track.OUTCOME_UNKNOWN,
)


def _count_rank(word: str) -> tuple[int, int]:
    if word in _COUNT_ORDER:
        return 0, _COUNT_ORDER[word]
    if word in _COUNT_LAST:
        return 2, _COUNT_LAST.index(word)
    return 1, 0  # running, and any word the API invents, in the order first seen


def _status_counts(ops: Sequence[OperationRecord]) -> str:
    """`*500 operations:* 🕒 480 scheduled · ▶️ 12 running · ❌ 3 failed`: from waiting to
    ended, each status in its place (held, scheduled, running, completed, failed)."""
    counts: Counter[tuple[str, str]] = Counter(state_of(op) for op in ops)
    ordered = sorted(counts.items(), key=lambda item: _count_rank(item[0][1]))
    parts = [f"{icon} {count:,} {escaped(word, NAME_SHOWN)}" for (icon, word), count in ordered]
    shown, rest = fit_lines(parts, 1, budget=STATUS_COUNTS_SHOWN, sep=" · ")
    return say.track.status_counts(
        len(ops), " · ".join([*shown, say.track.more_items(rest)] if rest else shown)
    )


# Each phase of an operation the bot holds (OperationRecord.phase), as its line shows it.
_PHASES_SHOWN = {
    "awaiting_approval": ("⏳", say.policy.WAITING_FOR_APPROVAL),
    "held": ("⏸️", say.policy.HELD_BY_FREEZE),
    "sending": ("⏳", say.track.SENDING),
    "waiting_for_wave": ("⏸️", say.waves.WAITING_FOR_WAVE),
    "outside_window": ("⏸️", say.policy.OUTSIDE_WINDOW),
    "stopped": ("⏹️", say.waves.STOPPED),
    "not_scheduled": ("❌", say.track.NOT_SCHEDULED),
    "outcome_unknown": ("⚠️", say.track.OUTCOME_UNKNOWN),
}


def state_of(op: OperationRecord) -> tuple[str, str]:
    """The icon and word of an operation's line, without its device."""
    phase = op.phase
    if phase is not None:
        return _PHASES_SHOWN[phase]
    return status_icon(op.status), (op.status or "?").lower()


def _status_lines(
    ops: Sequence[OperationRecord], summaries: Sequence[str], *, room: int
) -> list[str]:
    """One line per operation, its error shortened so that all the lines fit in `room` when
    many have one (50 errors of 2,000 characters from the API)."""
    pairs = list(zip(ops, summaries, strict=True))
    bare = sum(len(_status_line(op, summary, error_limit=0)) + 1 for op, summary in pairs)
    errors = sum(1 for op in ops if op.state in ("rejected", "unknown") and op.error)
    share = (room - bare) // errors if errors else ERROR_SHOWN
    limit = min(ERROR_SHOWN, max(ERROR_LEAST, share))
    return [_status_line(op, summary, error_limit=limit) for op, summary in pairs]


def _status_line(op: OperationRecord, summary: str, *, error_limit: int) -> str:
    error = escaped(op.error or "", error_limit) if error_limit else ""
    if op.state == "draft":
        return f"⏳ {summary} — {say.policy.WAITING_FOR_APPROVAL}"
    if op.held_since is not None and op.state == "new":
        return f"⏸️ {summary} — {say.policy.HELD_BY_FREEZE}"
    if op.state in ("new", "sending"):
        return f"⏳ {summary} — {say.track.SENDING}"
    if op.state == WAITING:
        return f"⏸️ {summary} — {say.waves.WAITING_FOR_WAVE} ({op.wave})"
    if op.state == OUTSIDE:
        return f"⏸️ {summary} — {say.policy.OUTSIDE_WINDOW}"
    if op.state == STOPPED:
        return f"⏹️ {summary} — {say.waves.STOPPED}"
    if op.state == "rejected":
        return f"❌ {summary} — {say.track.NOT_SCHEDULED}: {error}"
    if op.state == "unknown":
        return f"⚠️ {summary} — {error}"
    api_id, status = escaped(op.api_id or "", NAME_SHOWN), escaped(op.status or "?", NAME_SHOWN)
    return f"{status_icon(op.status)} {summary} · `{api_id}` — *{status}*"


def thread_message(event: OutboxEvent, request: RequestRecord) -> dict[str, Any]:
    """What one outbox event says: a line in the thread or in private, or, for a question to
    the requester, a message with its buttons."""
    line = clip(event_text(event, request))
    if event.kind == ASK_UNKNOWN:
        return {"text": line, "blocks": unknown_question(event, request)}
    if event.kind == ASK_OUTSIDE:
        return {"text": line, "blocks": outside_question(event, request)}
    if event.kind == WAVE_HALTED:
        # Continue and Stop where the halt is read too (they stay on the public message
        # while it is halted); a click on an older halt's buttons changes nothing.
        buttons = halt_buttons(request)
        buttons["elements"] = [
            {**b, "value": f"{request.id}:{event.data.get('wave')}"} for b in buttons["elements"]
        ]
        return {"text": line, "blocks": fit([section(line), buttons])}
    return {"text": line}


def event_text(event: OutboxEvent, request: RequestRecord) -> str:
    """One line announcing one outbox event (a thread reply, or a private notice)."""
    kind, data = event.kind, event.data
    if kind == UNDELIVERED:
        return say.recovery.undelivered(request_id=request.id, reason=str(data.get("reason") or ""))
    if kind == NOT_POSTED:
        return say.recovery.not_posted(
            request_id=request.id,
            reason=str(data.get("reason") or ""),
            typed=escape(request.text),
        )
    if kind == FINISHED:
        return finished_line(request)
    if kind == CONFIRM_INTERRUPTED:
        return say.recovery.confirm_interrupted(request.id)
    if kind in APPROVAL_EVENTS:
        return approval_event(kind, data, request)
    if kind in WAVE_EVENTS:
        return wave_event(kind, data, request)
    if kind in JUDGED_EVENTS:
        return judged_event(kind, data, request)
    op = next((o for o in request.operations if o.id == data.get("operation_id")), None)
    if op is None:
        return say.recovery.operation_notice(
            kind, device="", api_id="", error="", status="", minutes=None, retry_in=None
        )
    device = operation_label(op)
    api_id = escape(op.api_id or "")
    error = escape(str(data.get("error") or ""))
    status = escape(str(data.get("status") or ""))
    if kind == "submitted":
        return say.track.submitted(
            device=device,
            api_id=api_id,
            when=slack_time(op.scheduled_at),
            duration=op.estimated_duration,
        )
    if kind == "status":
        new = str(data.get("new") or "?")
        line = say.track.status_changed(
            icon=status_icon(new), api_id=api_id, device=device, status=escape(new)
        )
        return f"{line}: {error}" if error else line
    if kind == "unsent":
        return say.recovery.unsent(device=device, error=error, unknown=data.get("unknown", False))
    if kind == "adopted":
        return say.recovery.adopted(device=device, api_id=api_id, status=status, error=error)
    if kind == "adopted_again":
        return say.recovery.adopted_again(device=device, api_id=api_id, status=status, error=error)
    if kind == FOUND_AFTER_DROP:
        return say.recovery.found_after_drop(
            device=device, api_id=api_id, status=status, error=error
        )
    if kind == FOUND_LATE:
        return say.recovery.found_late(device=device, api_id=api_id, status=status, error=error)
    several = len({o.device_name.lower() for o in request.operations}) > 1
    if several and kind in say.policy.REQUEST_NOTICES:
        return say.policy.REQUEST_NOTICES[kind]
    if kind == "held":
        reason = escape(str(data.get("reason") or ""))
        return (
            say.policy.held_many(reason=reason)
            if several
            else say.policy.held(device=device, reason=reason)
        )
    if kind == "released":
        return say.policy.RELEASED_MANY if several else say.policy.released(device=device)
    if kind == ASK_UNKNOWN:
        return unknown_line(op, data)
    return say.recovery.operation_notice(
        kind,
        device=device,
        api_id=api_id,
        error=error,
        status=status,
        minutes=data.get("minutes"),
        retry_in=data.get("retry_in"),
        who=f"<@{data['by']}>" if data.get("by") else "",
        other_id=escape(str(data.get("sent_again_as") or "")),
    )


def finished_line(request: RequestRecord) -> str:
    succeeded = sum((op.status or "").lower() in SUCCEEDED_STATUSES for op in request.operations)
    failed = [
        operation_label(op)
        for op in request.operations
        if (op.status or "").lower() not in SUCCEEDED_STATUSES and op.state != STOPPED
    ]
    stopped = sum(op.state == STOPPED for op in request.operations)
    did_not = len(failed)
    if did_not > FINISHED_NAMES_SHOWN:
        failed = [
            *failed[:FINISHED_NAMES_SHOWN],
            say.track.more_items(did_not - FINISHED_NAMES_SHOWN),
        ]
    return say.recovery.finished(
        total=len(request.operations),
        succeeded=succeeded,
        failed=failed,
        did_not=did_not,
        stopped=stopped,
    )


# --- answers to typed requests ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Reply:
    message: dict[str, Any]  # chat.postMessage-style: blocks + text
    public: bool  # False: only the requester should see it
    # Everyone in the channel must see it, however it was asked (a freeze or its end):
    # a slash command's answers are otherwise private.
    announce: bool = False


def answer(result: Answer, *, now: datetime) -> Reply:
    """The bot's answer to what someone typed, as a Slack message."""
    if isinstance(result, Refused):
        return Reply(
            message=notice(refusal(result.reason, result.example, markup=result.markup)),
            public=False,
        )
    if isinstance(result, Proposed):
        blocks = confirmation(result.request, now=now, dry_run=result.dry_run)
        return Reply(message={"blocks": blocks, "text": blocks[0]["text"]["text"]}, public=False)
    if isinstance(result, Failed):
        return Reply(message=notice(f"⚠️ {escape(result.message)}"), public=False)
    if isinstance(result, Helped):
        shown = say.help.help_text(result.kinds, admin=result.admin, max_devices=result.max_devices)
        return Reply(message=notice(shown), public=True)
    if isinstance(result, Frozen):
        return Reply(message=notice(frozen_text(result)), public=True, announce=True)
    if isinstance(result, Listed):
        blocks = operation_list(result.listing, device=result.device)
        return Reply(message={"blocks": blocks, "text": blocks[0]["text"]["text"]}, public=True)
    if result.item is None:
        return Reply(
            message=notice(say.track.no_such_operation(escape(result.operation_id))), public=True
        )
    blocks = operation_detail(result.item)
    return Reply(message={"blocks": blocks, "text": blocks[0]["text"]["text"]}, public=True)
