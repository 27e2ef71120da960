"""Every Block Kit message and view the bot sends, built from plain records.

Anything a person typed goes through `escape()` before it enters mrkdwn. Times are shown with
Slack's `<!date^…>` token so each reader sees their own local time, with a UTC fallback.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot import text
from bot.answers import (
    Answer,
    Failed,
    Frozen,
    Helped,
    Listed,
    OperationList,
    Proposed,
    Refused,
)
from bot.catalog import OperationKind, ParamField
from bot.model import parse_api_time
from bot.naming import Range, compress
from bot.outbox import NOT_POSTED, UNDELIVERED
from bot.reconcile import ASK_UNKNOWN
from bot.text import escape
from bot.when import both_times, humanize_delta, local_time, zone_for
from store import (
    APPROVAL_NEEDED,
    ASK_OUTSIDE,
    FINISHED,
    FOUND_AFTER_DROP,
    FOUND_LATE,
    OUTSIDE,
    OUTSIDE_DROPPED,
    OUTSIDE_MOVED,
    OUTSIDE_WARNED,
    POLICY_REFUSED,
    STOPPED,
    SUCCEEDED_STATUSES,
    WAITING,
    WAITING_STATUSES,
    WAVE_CONTINUED,
    WAVE_EVENTS,
    WAVE_HALTED,
    WAVE_STARTED,
    WAVES_STOPPED,
    Freeze,
    OperationRecord,
    OutboxEvent,
    RequestRecord,
    is_final,
    is_running,
)

ACTION_CONFIRM = "ops_confirm"
ACTION_CANCEL = "ops_cancel"
ACTION_SEND_AGAIN = "ops_send_again"
# Queued by migration 0004 for a confirmation an older version left half-way.
CONFIRM_INTERRUPTED = "private_confirm_interrupted"
ACTION_DROP = "ops_drop"
ACTION_APPROVE = "ops_approve"
ACTION_REJECT = "ops_reject"
ACTION_MOVE_TO_WINDOW = "ops_move_to_window"
ACTION_MODAL_TYPE = "ops_modal_type"
# After a failed wave: the value is `<request id>:<the wave that failed>`.
ACTION_CONTINUE = "ops_wave_continue"
ACTION_STOP = "ops_wave_stop"
# An operation kept outside a window that blocks, at the moment it would have been sent: the
# value is the request's id (Move and Drop answer every operation of it kept so).
ACTION_MOVE_OUTSIDE = "ops_move_outside"
ACTION_DROP_OUTSIDE = "ops_drop_outside"
MODAL_CALLBACK = "ops_modal"
VALUE = "value"  # the action_id of every input in the modal

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
# Slack answers `msg_blocks_too_long` past roughly 13,300 characters, counting each block's
# container as well as its texts (bolt-js #2509, #2867: 11,341 characters of text in 45 blocks
# were refused, 9,597 in 50 accepted). `message_size` counts every text plus BLOCK_ALLOWANCE a
# block, and `fit` keeps that at MAX_MESSAGE_TEXT: under every published measurement.
MAX_MESSAGE_TEXT = 12000
BLOCK_ALLOWANCE = 50

# What one message shows at most of each thing, so that the whole fits in MAX_MESSAGE_TEXT even
# at the grammar's limits (50 devices of 63 characters, 100 packages of 128, 4,000 typed).
TYPED_SHOWN = 500  # the request as typed, quoted in a heading
NAME_SHOWN = 80  # one name, id or status, whoever wrote it
PARAMETERS_SHOWN = 2000  # the parameters all operations share (or one operation's)
STATUS_PARAMETERS_SHOWN = 1000  # the same in the status message, where errors need room too
VARIANT_SHOWN = 300  # what one line says differs from the other operations
DEVICES_SHOWN = 4000  # the devices of a confirmation: 50 of 63 characters fit
VARIANTS_SHOWN = 2500  # the lines of what differs between operations
NOTES_SHOWN = 1000
# Of one error in a status line: at most, and at least when many share the message's room.
ERROR_SHOWN = 500
ERROR_LEAST = 80
DETAIL_ERROR_SHOWN = 1500
# A request of more operations shows their counts by status and this many lines, those that
# went wrong first: one line each would be hundreds of "scheduled". (50: a request's bound
# before ranges and groups, so such a request reads as it always did.)
STATUS_LINES_MANY = 50
FINISHED_NAMES_SHOWN = 20  # the devices named in a request's last line; the rest are counted
STATUS_COUNTS_SHOWN = 1000
LINES_SHOWN = 9000  # the lines of a list, unless the builder measured what is left
# A section `fit` would cut below this is dropped whole: a stump says nothing.
LEAST_KEPT = 100

Blocks = list[dict[str, Any]]


def clip(value: str, limit: int = MAX_SECTION_TEXT) -> str:
    """At most `limit` characters, ending in "…" when cut. The cut never splits an entity
    (`&amp;`) or a token (`<@U123>`, `<!date^…>`): half of one shows as garbage, or worse."""
    if len(value) <= limit:
        return value
    cut = value[: max(limit - 1, 0)]
    for opener, closer in (("<", ">"), ("&", ";")):
        start = cut.rfind(opener)
        if start > cut.rfind(closer):
            cut = cut[:start]
    return cut + "…"


def escaped(value: object, limit: int) -> str:
    """Text someone typed or the API sent, as mrkdwn data of at most `limit` characters."""
    return clip(escape(str(value)), limit)


def section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(mrkdwn)}}


def context(mrkdwn: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(mrkdwn)}]}


def slack_time(moment: datetime) -> str:
    """Each reader's own local time; clients that cannot render it show UTC."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def operation_summary(op: OperationRecord | Any) -> str:
    params = parameters_text(op.parameters, limit=PARAMETERS_SHOWN)
    summary = f"{_device(op.device_name)} · {escaped(op.operation_type, NAME_SHOWN)}"
    return summary + (f" · {params}" if params else "")


def parameters_text(params: dict[str, Any], *, limit: int) -> str:
    """`force=true, package_list=[a, b, …and 60 more]`, escaped, in about `limit` characters:
    each value gets an equal share, and a long list shows its first items."""
    if not params:
        return ""
    share = limit // len(params)
    pairs = []
    for key, value in params.items():
        name = escaped(key, NAME_SHOWN)
        pairs.append(f"{name}={_value(value, max(share - len(name) - 1, 40))}")
    return joined(pairs, limit)


def _value(value: Any, limit: int) -> str:
    if not isinstance(value, list):
        return escaped(_scalar(value), limit)
    items = [escape(_scalar(v)) for v in value]
    whole = "[" + ", ".join(items) + "]"
    if len(whole) <= limit:
        return whole
    room = limit - len(text.more_items(len(items))) - 4  # the brackets and one more comma
    return "[" + joined([clip(item, room) for item in items], room) + "]"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _device(name: str) -> str:
    return f"`{escaped(name, NAME_SHOWN)}`"


def _devices(names: Sequence[str]) -> list[str]:
    """The names shown, each run of three or more as its range and count:
    `` `server-001..server-500` (500) ``."""
    return [
        f"`{escaped(piece.text, NAME_SHOWN * 2)}` ({piece.count:,})"
        if isinstance(piece, Range)
        else _device(piece)
        for piece in compress(names)
    ]


def fit_lines(
    pieces: Sequence[str],
    max_blocks: int = MAX_BLOCKS,
    *,
    budget: int = LINES_SHOWN,
    sep: str = "\n",
    lead: str = "",
) -> tuple[list[str], int]:
    """Pieces joined into as few section texts as hold them (`lead` starts the first), within
    `budget` characters in all; returns the texts and how many pieces were left out.

    A piece longer than a section can hold is cut first: packed whole it would leave an empty
    section behind, and Slack refuses a message with one (`invalid_blocks`).
    """
    chunks: list[str] = []
    current, fresh, spent = lead, True, len(lead)
    for index, piece in enumerate(pieces):
        piece = clip(piece, MAX_SECTION_TEXT - len(lead))
        joiner = "" if fresh else sep
        if spent + len(joiner) + len(piece) > budget:
            return _closed(chunks, current), len(pieces) - index
        if len(current) + len(joiner) + len(piece) > MAX_SECTION_TEXT:
            if len(chunks) + 1 >= max_blocks:
                return _closed(chunks, current), len(pieces) - index
            chunks.append(current)
            current, joiner = "", ""
        current += joiner + piece
        fresh = False
        spent += len(joiner) + len(piece)
    return _closed(chunks, current), 0


def _closed(chunks: list[str], current: str) -> list[str]:
    return [*chunks, current] if current else chunks


def joined(items: Sequence[str], limit: int) -> str:
    """`a, b, c, …and 60 more`: the items that fit in `limit`, and how many did not."""
    shown, rest = fit_lines(items, 1, budget=limit, sep=", ")
    return ", ".join([*shown, text.more_items(rest)] if rest else shown)


# --- within Slack's limits -----------------------------------------------------------------


def message_size(blocks: Blocks) -> int:
    """What a message weighs against `msg_blocks_too_long`: every text in its blocks (labels,
    placeholders and options included) plus BLOCK_ALLOWANCE for each block's container."""
    return sum(_text_length(block) + BLOCK_ALLOWANCE for block in blocks)


def _text_length(node: Any) -> int:
    if isinstance(node, list):
        return sum(_text_length(item) for item in node)
    if not isinstance(node, dict):
        return 0
    return sum(
        len(value) if key == "text" and isinstance(value, str) else _text_length(value)
        for key, value in node.items()
    )


def fit(blocks: Blocks) -> Blocks:
    """The message within Slack's limits, whatever went into it: at most MAX_BLOCKS blocks,
    each section within MAX_SECTION_TEXT, and MAX_MESSAGE_TEXT by `message_size`.

    Every builder's last step. What gives way is the longest section or context that is
    neither the first block (the heading says what the message is about) nor interactive (the
    buttons); a last line then says that something was cut. A message within the limits comes
    back as it was.
    """
    kept = [_clipped(block) for block in blocks]
    if len(kept) <= MAX_BLOCKS and message_size(kept) <= MAX_MESSAGE_TEXT:
        return kept
    note = context(text.CUT_TO_FIT)
    budget = MAX_MESSAGE_TEXT - message_size([note])
    while len(kept) > MAX_BLOCKS - 1 and (index := _last_trimmable(kept)) is not None:
        del kept[index]
    while message_size(kept) > budget and (index := _longest_trimmable(kept)) is not None:
        shorter = _shortened(kept[index], by=message_size(kept) - budget)
        if shorter is None:
            del kept[index]
        else:
            kept[index] = shorter
    # Before the buttons, where it is read before a decision; else last.
    buttons = [i for i, block in enumerate(kept) if block.get("type") == "actions"]
    kept.insert(buttons[0] if buttons else len(kept), note)
    return kept


def _clipped(block: dict[str, Any]) -> dict[str, Any]:
    body = block.get("text")
    if isinstance(body, dict) and len(body.get("text") or "") > MAX_SECTION_TEXT:
        return {**block, "text": {**body, "text": clip(body["text"])}}
    return block


def _trimmable(index: int, block: dict[str, Any]) -> bool:
    return index > 0 and block.get("type") not in ("actions", "input") and "accessory" not in block


def _last_trimmable(blocks: Blocks) -> int | None:
    return next((i for i in reversed(range(len(blocks))) if _trimmable(i, blocks[i])), None)


def _longest_trimmable(blocks: Blocks) -> int | None:
    candidates = [i for i, block in enumerate(blocks) if _trimmable(i, block)]
    return max(candidates, key=lambda i: _text_length(blocks[i]), default=None)


def _shortened(block: dict[str, Any], *, by: int) -> dict[str, Any] | None:
    """The block with `by` fewer characters of text, cut at a line's end where one is near; None
    when what would be left is too short to say anything (the block goes)."""
    if block.get("type") == "section" and isinstance(block.get("text"), dict):
        cut = _cut(block["text"].get("text") or "", by)
        return None if cut is None else {**block, "text": {**block["text"], "text": cut}}
    if block.get("type") == "context":
        elements = list(block.get("elements") or [])
        texts = [i for i, e in enumerate(elements) if isinstance(e.get("text"), str)]
        if not texts:
            return None
        longest = max(texts, key=lambda i: len(elements[i]["text"]))
        cut = _cut(elements[longest]["text"], by)
        if cut is None:
            del elements[longest]
        else:
            elements[longest] = {**elements[longest], "text": cut}
        return {**block, "elements": elements} if elements else None
    return None


def _cut(value: str, by: int) -> str | None:
    keep = len(value) - by
    if keep < LEAST_KEPT:
        return None
    line_end = value.rfind("\n", 0, keep - 1)
    if line_end >= keep // 2:
        return value[:line_end] + "\n…"
    return clip(value, keep)


# --- the confirmation (private to the requester) -------------------------------------------


def confirmation(request: RequestRecord, *, now: datetime, dry_run: bool = False) -> Blocks:
    ops = request.operations
    first = ops[0].scheduled_at
    if request.immediate:
        when = text.WHEN_NOW
    else:
        when = text.when_line(
            local=local_time(first, request.tz),
            tz=request.tz,
            utc=first.astimezone(UTC).strftime("%H:%M UTC (%Y-%m-%d)"),
            delta=humanize_delta(first - now),
        )
    blocks: Blocks = [
        section(
            text.confirm_heading(
                escaped(request.text, TYPED_SHOWN),
                len(ops),
                len({op.device_name.lower() for op in ops}),
                dry_run=dry_run,
            )
        ),
        *_what_is_asked(ops),
        section(when),
        *_waves_plan(request),
    ]
    if request.notes:
        notes = "\n".join(f"ℹ️ {escape(note)}" for note in request.notes)
        blocks.append(context(clip(notes, NOTES_SHOWN)))
    blocks.extend(policy_lines(request))
    if dry_run:
        blocks.append(context(text.DRY_RUN_FOOTER))
        return fit(blocks)
    buttons = [
        button(text.CONFIRM, ACTION_CONFIRM, request.id, style="primary"),
        button(text.CANCEL, ACTION_CANCEL, request.id),
    ]
    move = _move_label(request)
    if move:
        buttons.append(button(move, ACTION_MOVE_TO_WINDOW, request.id))
    blocks.append({"type": "actions", "block_id": "ops_confirmation", "elements": buttons})
    valid = round((request.expires_at - request.created_at).total_seconds() / 60)
    blocks.append(context(text.confirmation_footer(request.id, valid)))
    return fit(blocks)


def _waves_plan(request: RequestRecord) -> Blocks:
    """How the devices go, wave by wave, and the first wave's devices."""
    if request.waves < 2:
        return []
    first = [op.device_name for op in request.wave_operations(1)]
    line = text.waves_plan(
        waves=request.waves,
        size=request.wave_size,
        canary=request.canary,
        first=joined(_devices(list(dict.fromkeys(first))), VARIANT_SHOWN),
    )
    return [section(line)]


def _what_is_asked(ops: Sequence[OperationRecord]) -> Blocks:
    """The operations, each thing said once: the devices by name, the parameters they all
    share, then what sets some operations apart (`restart nginx, apache on …`)."""
    if len(ops) == 1:
        return [section(f"• {operation_summary(ops[0])}")]
    shape = _Shape.of(ops)
    names = [_device(name) for name in shape.devices]
    # Runs as ranges (`server-001..server-500` (500)): 500 devices in one line, not 8 blocks.
    lead = text.operation_on(shape.kinds, len(names)) + ": "
    chunks, rest = fit_lines(_devices(shape.devices), budget=DEVICES_SHOWN, sep=", ", lead=lead)
    blocks = [section(chunk) for chunk in chunks]
    if rest:
        blocks.append(context(text.and_more(rest)))
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
            else text.variant_on(v, joined(_devices(list(dict.fromkeys(on[v]))), VARIANT_SHOWN))
            for v in variants
        ]
        lead = (text.EACH_DEVICE if everywhere else text.PER_OPERATION) + "\n"
        chunks, rest = fit_lines(lines, budget=VARIANTS_SHOWN, lead=lead)
        blocks.extend(section(chunk) for chunk in chunks)
        if rest:
            blocks.append(context(text.and_more(rest)))
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
            labels.append(" · ".join(parts) or (text.NO_PARAMETERS if differing else ""))
        return cls(
            kinds=text.and_list([escaped(t, NAME_SHOWN) for t in types]),
            devices=list(dict.fromkeys(op.device_name for op in ops)),
            shared=shared,
            labels=labels,
        )

    def shared_line(self, count: int, *, limit: int = PARAMETERS_SHOWN) -> str:
        """`*Parameters (all 50 devices):* package_list=[…]`."""
        params = parameters_text(self.shared, limit=limit)
        return text.shared_parameters(params, count, per_device=count == len(self.devices))


def button(label: str, action_id: str, value: str, *, style: str | None = None) -> dict:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


# --- the public status message and its thread ----------------------------------------------


def status_message(request: RequestRecord) -> Blocks:
    ops = request.operations
    blocks: Blocks = [
        section(
            text.status_heading(
                requester=f"<@{request.requester}>",
                confirmer=f"<@{request.confirmed_by}>" if request.confirmed_by else None,
                typed=escaped(request.text, TYPED_SHOWN),
            )
        ),
        section(text.scheduled_for(slack_time(ops[0].scheduled_at), request.immediate)),
        *approval_blocks(request),
        *wave_blocks(request),
    ]
    if len(ops) == 1:
        summaries = [operation_summary(ops[0])]
    else:
        shape = _Shape.of(ops)
        common = text.operation_on(shape.kinds, len(shape.devices))
        blocks.append(
            section(
                f"{common} · {shape.shared_line(len(ops), limit=STATUS_PARAMETERS_SHOWN)}"
                if shape.shared
                else common
            )
        )
        summaries = [
            _device(op.device_name) + (f" · {label}" if label else "")
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
            text.progress(done=len(finals), total=len(request.operations), request_id=request.id)
        )
    ]
    # What the lines may take: what the rest leaves, with room for "…and N more" and for the
    # containers of the few sections the lines fill.
    room = MAX_MESSAGE_TEXT - message_size([*blocks, *tail, context(text.and_more(len(ops)))])
    room -= BLOCK_ALLOWANCE * (LINES_SHOWN // MAX_SECTION_TEXT + 2)
    lines = _status_lines(ops, summaries, room=room)
    shown, rest = fit_lines(lines, MAX_BLOCKS - len(blocks) - 2, budget=room)
    blocks.extend(section(chunk) for chunk in shown)
    if rest + hidden:
        blocks.append(context(text.and_more(rest + hidden)))
    return fit([*blocks, *tail])


def wave_line(request: RequestRecord) -> str | None:
    """Where a request's waves stand (None: not in waves): the current wave, or the halt."""
    if request.waves < 2:
        return None
    return text.wave_status(
        wave=request.wave,
        waves=request.waves,
        state=request.wave_state,
        waiting=len({op.device_name for op in request.waiting}),
    )


def wave_blocks(request: RequestRecord) -> Blocks:
    """The status message's wave line and, when halted, Continue and Stop."""
    line = wave_line(request)
    if line is None:
        return []
    blocks = [section(line)]
    if request.wave_state == "halted":
        blocks.append(_halt_buttons(request))
    return blocks


def _halt_buttons(request: RequestRecord) -> dict[str, Any]:
    value = f"{request.id}:{request.wave}"
    return {
        "type": "actions",
        "block_id": "ops_waves",
        "elements": [
            button(text.CONTINUE, ACTION_CONTINUE, value, style="primary"),
            button(text.STOP, ACTION_STOP, value, style="danger"),
        ],
    }


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
            text.WAITING_FOR_APPROVAL,
            text.HELD_BY_FREEZE,
            text.OUTSIDE_WINDOW,
            text.WAITING_FOR_WAVE,
            text.SENDING,
            *sorted(WAITING_STATUSES, key=lambda w: w != "scheduled"),
        )
    )
}
_COUNT_LAST = ("completed", "failed", text.NOT_SCHEDULED, text.STOPPED, text.OUTCOME_UNKNOWN)


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
    return text.status_counts(
        len(ops), " · ".join([*shown, text.more_items(rest)] if rest else shown)
    )


def state_of(op: OperationRecord) -> tuple[str, str]:
    """The icon and word of an operation's line, without its device."""
    if op.state == "draft":
        return "⏳", text.WAITING_FOR_APPROVAL
    if op.held_since is not None and op.state == "new":
        return "⏸️", text.HELD_BY_FREEZE
    if op.state in ("new", "sending"):
        return "⏳", text.SENDING
    if op.state == WAITING:
        return "⏸️", text.WAITING_FOR_WAVE
    if op.state == OUTSIDE:
        return "⏸️", text.OUTSIDE_WINDOW
    if op.state == STOPPED:
        return "⏹️", text.STOPPED
    if op.state == "rejected":
        return "❌", text.NOT_SCHEDULED
    if op.state == "unknown":
        return "⚠️", text.OUTCOME_UNKNOWN
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
        return f"⏳ {summary} — {text.WAITING_FOR_APPROVAL}"
    if op.held_since is not None and op.state == "new":
        return f"⏸️ {summary} — {text.HELD_BY_FREEZE}"
    if op.state in ("new", "sending"):
        return f"⏳ {summary} — {text.SENDING}"
    if op.state == WAITING:
        return f"⏸️ {summary} — {text.WAITING_FOR_WAVE} ({op.wave})"
    if op.state == OUTSIDE:
        return f"⏸️ {summary} — {text.OUTSIDE_WINDOW}"
    if op.state == STOPPED:
        return f"⏹️ {summary} — {text.STOPPED}"
    if op.state == "rejected":
        return f"❌ {summary} — {text.NOT_SCHEDULED}: {error}"
    if op.state == "unknown":
        return f"⚠️ {summary} — {error}"
    api_id, status = escaped(op.api_id or "", NAME_SHOWN), escaped(op.status or "?", NAME_SHOWN)
    return f"{status_icon(op.status)} {summary} · `{api_id}` — *{status}*"


def status_icon(status: str | None) -> str:
    word = (status or "").lower()
    if word in SUCCEEDED_STATUSES:
        return "✅"
    if word in WAITING_STATUSES:
        return "🕒"
    if is_running(word):
        return "▶️"
    if is_final(word):
        return "❌"
    return "🔄"


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
        buttons = _halt_buttons(request)
        buttons["elements"] = [
            {**b, "value": f"{request.id}:{event.data.get('wave')}"} for b in buttons["elements"]
        ]
        return {"text": line, "blocks": fit([section(line), buttons])}
    return {"text": line}


def event_text(event: OutboxEvent, request: RequestRecord) -> str:
    """One line announcing one outbox event (a thread reply, or a private notice)."""
    kind, data = event.kind, event.data
    if kind == UNDELIVERED:
        return text.undelivered(request_id=request.id, reason=str(data.get("reason") or ""))
    if kind == NOT_POSTED:
        return text.not_posted(
            request_id=request.id,
            reason=str(data.get("reason") or ""),
            typed=escape(request.text),
        )
    if kind == FINISHED:
        return finished_line(request)
    if kind == CONFIRM_INTERRUPTED:
        return text.confirm_interrupted(request.id)
    if kind in APPROVAL_EVENTS:
        return approval_event(kind, data, request)
    if kind in WAVE_EVENTS:
        return wave_event(kind, data, request)
    if kind in JUDGED_EVENTS:
        return judged_event(kind, data, request)
    op = next((o for o in request.operations if o.id == data.get("operation_id")), None)
    if op is None:
        return text.operation_notice(
            kind, device="", api_id="", error="", status="", minutes=None, retry_in=None
        )
    device = f"`{escape(op.device_name)}`"
    api_id = escape(op.api_id or "")
    error = escape(str(data.get("error") or ""))
    status = escape(str(data.get("status") or ""))
    if kind == "submitted":
        return text.submitted(
            device=device,
            api_id=api_id,
            when=slack_time(op.scheduled_at),
            duration=op.estimated_duration,
        )
    if kind == "status":
        new = str(data.get("new") or "?")
        line = text.status_changed(
            icon=status_icon(new), api_id=api_id, device=device, status=escape(new)
        )
        return f"{line}: {error}" if error else line
    if kind == "unsent":
        return text.unsent(device=device, error=error, unknown=data.get("unknown", False))
    if kind == "adopted":
        return text.adopted(device=device, api_id=api_id, status=status, error=error)
    if kind == "adopted_again":
        return text.adopted_again(device=device, api_id=api_id, status=status, error=error)
    if kind == FOUND_AFTER_DROP:
        return text.found_after_drop(device=device, api_id=api_id, status=status, error=error)
    if kind == FOUND_LATE:
        return text.found_late(device=device, api_id=api_id, status=status, error=error)
    several = len({o.device_name.lower() for o in request.operations}) > 1
    if several and kind in text.REQUEST_NOTICES:
        return text.REQUEST_NOTICES[kind]
    if kind == "held":
        reason = escape(str(data.get("reason") or ""))
        return text.held_many(reason=reason) if several else text.held(device=device, reason=reason)
    if kind == "released":
        return text.RELEASED_MANY if several else text.released(device=device)
    if kind == ASK_UNKNOWN:
        return text.ask_unknown(
            device=device, error=escape(op.error or ""), waited=_minutes(data.get("minutes"))
        )
    return text.operation_notice(
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


# --- the policy: approvals, windows, freezes -----------------------------------------------

APPROVAL_EVENTS = frozenset({"approved", "rejected", "approval_expired"})


def policy_lines(request: RequestRecord) -> Blocks:
    """What the policy said of a request, for its requester before the click."""
    policy = request.policy
    lines = []
    approval = policy.get("approval")
    if approval:
        lines.append(
            text.needs_approval(
                approvers=_approvers(request.requester, approval.get("approver_sets") or []),
                needed=int(approval["needed"]),
                within=text.span(int(approval["expires"])),
            )
        )
    for check in policy.get("windows", ()):
        device = f"`{escape(check['device'])}`"
        window = f"{escape(check['when'])}, {escape(check['tz'])}"
        if check["inside"]:
            lines.append(text.in_window(device=device, window=window))
        else:
            start = datetime.fromisoformat(check["next_start"])
            lines.append(
                text.outside_window(
                    device=device,
                    window=window,
                    outside=check["outside"],
                    next_start=both_times(start, window_tz=check["tz"], tz=request.tz),
                )
            )
    lines.extend(_conflict_lines(policy))
    shown, rest = fit_lines(lines, 3, budget=NOTES_SHOWN * 2)
    if rest:
        shown.append(text.and_more(rest))
    return [section(chunk) for chunk in shown]


def _conflict_lines(policy: dict[str, Any]) -> list[str]:
    conflicts = policy.get("conflicts") or []
    lines = []
    if conflicts:
        lines.append(text.conflicts_heading(len(conflicts)))
        for c in conflicts:
            when = (
                text.RUNNING_NOW
                if c["running"]
                else slack_time(datetime.fromisoformat(c["scheduled_at"]))
                if c["scheduled_at"]
                else text.TIME_UNKNOWN
            )
            lines.append(
                text.conflict_line(
                    api_id=escaped(c["api_id"], NAME_SHOWN),
                    device=_device(c["device"]),
                    operation_type=escaped(c["type"], NAME_SHOWN),
                    status=escaped(c["status"], NAME_SHOWN),
                    when=when,
                )
            )
        if policy.get("conflicts_searched"):
            lines.append(escape(text.preflight_searched(policy["conflicts_searched"])))
    if policy.get("conflicts_unavailable"):
        lines.append(f"⚠️ {escape(policy['conflicts_unavailable'])}")
    return lines


def _approvers(requester: str, approver_sets: Sequence[Sequence[str] | None]) -> str:
    """Who may approve: each list that applies (several rules: one person in all of them)."""
    named = [[i for i in s if i != requester] for s in approver_sets if s is not None]
    if not named:
        return text.ANYONE_ELSE
    return text.approvers_in_every([text.mentions(ids) for ids in named])


def _move_label(request: RequestRecord) -> str | None:
    """The button that moves a request outside its window (`warn`) into the next one."""
    outside = [w for w in request.policy.get("windows", ()) if not w["inside"]]
    if not outside or any(w["outside"] != "warn" for w in outside):
        return None
    starts = {w["next_start"] for w in outside}
    if len(starts) > 1:
        return text.MOVE_EACH
    start = datetime.fromisoformat(outside[0]["next_start"])
    tz = outside[0]["tz"]
    label = text.move_to(local_time(start, tz), tz)
    if tz != request.tz:
        label += text.move_yours(start.astimezone(zone_for(request.tz)).strftime("%H:%M"))
    return label[:75]  # Slack's limit on a button's text


def approval_blocks(request: RequestRecord) -> Blocks:
    """The public message's approval part: who may approve, how many so far, the buttons."""
    rejecters = [v.user for v in request.votes if v.verdict == "reject"]
    went = any(op.api_id for op in request.operations)
    if request.state == "rejected" and not rejecters:
        return [section(text.refused_by_policy(went=went))]
    if not request.approvals_needed:
        return []
    approved = [f"<@{u}>" for u in request.approvals]
    if request.state == "approving":
        assert request.approval_expires_at is not None
        line = text.approval_waiting(
            approvers=_approvers(request.requester, request.approver_sets),
            count=len(approved),
            needed=request.approvals_needed,
            approved=approved,
            until=slack_time(request.approval_expires_at),
        )
        return [
            section(line),
            {
                "type": "actions",
                "block_id": "ops_approval",
                "elements": [
                    button(text.APPROVE, ACTION_APPROVE, request.id, style="primary"),
                    button(text.REJECT, ACTION_REJECT, request.id),
                ],
            },
        ]
    if request.state == "rejected":
        return [
            section(
                text.approval_rejected(
                    [f"<@{u}>" for u in rejecters],
                    withdrawn=request.requester in rejecters,
                    went=went,
                )
            )
        ]
    if request.state == "expired":
        return [
            section(text.approval_ran_out(approved, needed=request.approvals_needed, went=went))
        ]
    return [section(text.approved_by(approved))]


def approval_event(kind: str, data: dict[str, Any], request: RequestRecord) -> str:
    who = f"<@{data['by']}>" if data.get("by") else ""
    if kind == "approved":
        count, needed = int(data.get("count") or 0), int(data.get("needed") or 0)
        if count >= needed:
            return text.approval_complete([f"<@{u}>" for u in request.approvals[:needed]] or [who])
        return text.approval_counted(who=who, count=count, needed=needed)
    if kind == "rejected":
        return text.rejected_line(who, withdrawn=data.get("by") == request.requester)
    return text.approval_expired_line()


# --- judged again when the bot acts: the window and the file in force at the moment --------

JUDGED_EVENTS = frozenset(
    {ASK_OUTSIDE, OUTSIDE_MOVED, OUTSIDE_DROPPED, OUTSIDE_WARNED, APPROVAL_NEEDED, POLICY_REFUSED}
)


def judged_event(kind: str, data: dict[str, Any], request: RequestRecord) -> str:
    """What the policy in force said when an operation was about to go, or a person's answer
    to it."""
    who = f"<@{data['by']}>" if data.get("by") else ""
    window = f"{escaped(str(data.get('when') or ''), NAME_SHOWN)}, {escape(str(data.get('tz')))}"
    at = slack_time(parse_api_time(data["at"])) if data.get("at") else ""
    device = _device(str(data.get("device") or ""))
    if kind == ASK_OUTSIDE:
        outside = [op for op in request.operations if op.state == OUTSIDE]
        names = list(dict.fromkeys(op.device_name for op in outside)) or [data.get("device", "")]
        start = datetime.fromisoformat(str(data["next_start"]))
        return text.outside_at_send(
            devices=joined(_devices([str(n) for n in names]), VARIANT_SHOWN),
            count=max(1, len(outside)),
            window=window,
            at=at,
            next_start=both_times(start, window_tz=str(data.get("tz")), tz=request.tz),
        )
    if kind == OUTSIDE_MOVED:
        return text.outside_moved(who=who, count=int(data.get("count") or 0))
    if kind == OUTSIDE_DROPPED:
        return text.outside_dropped(who=who, count=int(data.get("count") or 0))
    if kind == OUTSIDE_WARNED:
        return text.outside_warned(device=device, window=window, at=at)
    if kind == POLICY_REFUSED:
        return text.policy_refused_now(str(data.get("reason") or ""))
    needed, count = int(data.get("needed") or 0), int(data.get("count") or 0)
    if data.get("why") == "window":
        return text.approval_needed_now(device=device, window=window, at=at)
    if count >= needed:
        return text.approved_by_file(needed=needed)
    rules = [escape(str(r)) for r in data.get("rules") or ()]
    return text.approval_needed_by_file(needed=needed, count=count, why=text.and_list(rules))


def outside_question(event: OutboxEvent, request: RequestRecord) -> Blocks:
    """Kept outside a window that blocks: why, and Move into the window or Drop, for the
    requester (and, under a rule that needs approval, its approvers)."""
    data = event.data
    outside = [op for op in request.operations if op.state == OUTSIDE]
    if len({op.device_name.lower() for op in outside}) > 1:
        label = text.MOVE_EACH
    else:
        start = datetime.fromisoformat(str(data["next_start"]))
        tz = str(data.get("tz"))
        label = text.move_to(local_time(start, tz), tz)
    who = " or ".join([f"<@{request.requester}>", *_wave_approvers(request)])
    return fit(
        [
            section(event_text(event, request)),
            context(text.outside_choice(who)),
            {
                "type": "actions",
                "block_id": "ops_outside",
                "elements": [
                    button(label[:75], ACTION_MOVE_OUTSIDE, request.id, style="primary"),
                    button(text.DROP, ACTION_DROP_OUTSIDE, request.id),
                ],
            },
        ]
    )


def _wave_devices(request: RequestRecord, wave: int) -> str:
    names = list(dict.fromkeys(op.device_name for op in request.wave_operations(wave)))
    return joined(_devices(names), VARIANT_SHOWN)


def wave_event(kind: str, data: dict[str, Any], request: RequestRecord) -> str:
    """A wave's start, its halt (the devices that failed with the API's errors, and those
    held), Continue and Stop."""
    wave = int(data.get("wave") or 0)
    who = f"<@{data['by']}>" if data.get("by") else ""
    if kind == WAVE_STARTED:
        return text.wave_started(
            wave=wave,
            waves=request.waves,
            devices=_wave_devices(request, wave),
            canary=request.canary and wave == 1,
        )
    if kind == WAVE_CONTINUED:
        return text.wave_continued(
            who=who, wave=wave, waves=request.waves, devices=_wave_devices(request, wave)
        )
    if kind == WAVES_STOPPED:
        stopped = [op.device_name for op in request.operations if op.state == STOPPED]
        return text.waves_stopped(
            who=who,
            held=joined(_devices(list(dict.fromkeys(stopped))), VARIANT_SHOWN),
        )
    failed_ids = set(data.get("failed") or ())
    failed = [
        text.wave_failure(
            device=_device(op.device_name),
            error=escaped(op.error or op.status or text.NOT_SCHEDULED, ERROR_SHOWN),
        )
        for op in request.operations
        if op.id in failed_ids
    ]
    # Held: the waves after the failed one, as they stood at the halt.
    later = [op.device_name for op in request.operations if (op.wave or 0) > wave]
    shown, rest = fit_lines(failed, 1, budget=MAX_SECTION_TEXT // 2)
    return text.wave_halted(
        wave=wave,
        waves=request.waves,
        failed=[*shown, text.and_more(rest)] if rest else shown,
        held=joined(_devices(list(dict.fromkeys(later))), VARIANT_SHOWN),
        who=" or ".join([f"<@{request.requester}>", *_wave_approvers(request)]),
    )


def _wave_approvers(request: RequestRecord) -> list[str]:
    if not request.approvals_needed:
        return []
    named = [i for s in request.approver_sets if s is not None for i in s]
    return [text.mentions(named)] if named else []


def frozen_text(result: Frozen) -> str:
    if result.freeze is None:
        lifted = result.lifted
        return text.unfrozen(
            by=f"<@{lifted[0].lifted_by}>", devices=_frozen_devices(lifted), freezes=len(lifted)
        )
    freeze = result.freeze
    lines = [
        text.frozen(
            by=f"<@{freeze.frozen_by}>",
            devices=_frozen_devices([freeze]),
            until=slack_time(freeze.until) if freeze.until else None,
            reason=escaped(freeze.reason, NOTES_SHOWN),
        )
    ]
    if result.held_unknown:
        lines.append(text.freeze_held_unknown(escaped(result.held_unknown, ERROR_SHOWN)))
    elif result.held:
        lines.append(text.freeze_held(len(result.held)))
        lines.extend(_listed(item) for item in result.held)
    shown, rest = fit_lines(lines, 1, budget=MAX_SECTION_TEXT)
    return "\n".join([*shown, text.and_more(rest)] if rest else shown)


def _frozen_devices(freezes: Sequence[Freeze]) -> str:
    """What these freezes cover: each pattern or device once, as typed (`server-*` in code,
    never emphasis), a group's members in runs (`db-01..db-40` (40))."""
    every = [text.EVERY_DEVICE] if any(f.devices is None for f in freezes) else []
    names = list(dict.fromkeys(d for f in freezes for d in f.devices or ()))
    pieces = [*every, *_devices(names)]
    if sum(len(piece) + 2 for piece in pieces) <= DEVICES_SHOWN:
        return text.and_list(pieces)
    return joined(pieces, DEVICES_SHOWN)


def finished_line(request: RequestRecord) -> str:
    succeeded = sum((op.status or "").lower() in SUCCEEDED_STATUSES for op in request.operations)
    failed = [
        f"`{escape(op.device_name)}`"
        for op in request.operations
        if (op.status or "").lower() not in SUCCEEDED_STATUSES and op.state != STOPPED
    ]
    stopped = sum(op.state == STOPPED for op in request.operations)
    did_not = len(failed)
    if did_not > FINISHED_NAMES_SHOWN:
        failed = [*failed[:FINISHED_NAMES_SHOWN], text.more_items(did_not - FINISHED_NAMES_SHOWN)]
    return text.finished(
        total=len(request.operations),
        succeeded=succeeded,
        failed=failed,
        did_not=did_not,
        stopped=stopped,
    )


def unknown_question(event: OutboxEvent, request: RequestRecord) -> Blocks:
    """Did the API create it? What it holds for the device, and Send again / Drop."""
    data = event.data
    op = next(o for o in request.operations if o.id == data.get("operation_id"))
    device = f"`{escape(op.device_name)}`"
    held = [item for item in data.get("held") or [] if isinstance(item, dict)]
    lines = [text.held_heading(device) if held else text.held_nothing(device)]
    lines += [f"• {_listed(item)}" for item in held]
    more = int(data.get("more") or 0)
    if more or data.get("complete") is False:
        lines.append(text.held_partial(more))
    send_again = button(text.SEND_AGAIN, ACTION_SEND_AGAIN, str(op.id), style="danger")
    send_again["confirm"] = {
        "title": {"type": "plain_text", "text": text.SEND_AGAIN_CONFIRM_TITLE},
        "text": {"type": "plain_text", "text": text.SEND_AGAIN_CONFIRM},
        "confirm": {"type": "plain_text", "text": text.SEND_AGAIN_CONFIRM_YES},
        "deny": {"type": "plain_text", "text": text.SEND_AGAIN_CONFIRM_NO},
    }
    return fit(
        [
            section(event_text(event, request)),
            section("\n".join(lines)),
            context(text.ask_choice(f"<@{request.requester}>")),
            {
                "type": "actions",
                "block_id": "ops_unknown",
                "elements": [send_again, button(text.DROP, ACTION_DROP, str(op.id))],
            },
        ]
    )


def _minutes(value: object) -> str:
    return text.span(round(float(value) * 60)) if isinstance(value, int | float) else "a while"


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
        shown = text.help_text(result.kinds, admin=result.admin, max_devices=result.max_devices)
        return Reply(message=notice(shown), public=True)
    if isinstance(result, Frozen):
        return Reply(message=notice(frozen_text(result)), public=True, announce=True)
    if isinstance(result, Listed):
        blocks = operation_list(result.listing, device=result.device)
        return Reply(message={"blocks": blocks, "text": blocks[0]["text"]["text"]}, public=True)
    if result.item is None:
        return Reply(
            message=notice(text.no_such_operation(escape(result.operation_id))), public=True
        )
    blocks = operation_detail(result.item)
    return Reply(message={"blocks": blocks, "text": blocks[0]["text"]["text"]}, public=True)


# --- lists and status ----------------------------------------------------------------------


def operation_list(listing: OperationList, *, device: str | None) -> Blocks:
    """A page of the newest operations with the total and the way to the next page; or one
    device's newest, saying how far back they were searched for."""
    items, total, size = listing.items, listing.total, listing.page_size
    name = escaped(device, NAME_SHOWN) if device else None
    first = (listing.page - 1) * size + 1
    if not items:
        if name is not None and listing.searched is not None:
            return fit([section(text.list_device_none(name, listing.searched, total))])
        if name is None and total and listing.page > 1:
            return fit([section(text.list_past_the_end(listing.page, total, size))])
        return fit([section(text.list_empty(name))])
    if name is not None and listing.searched is not None:
        found, searched = len(items), listing.searched
        heading = (
            text.list_device_newest(found, name, searched, total)
            if found >= size
            else text.list_device_found(found, name, searched, total)
        )
    elif name is not None:
        heading = text.list_heading(len(items), name)
    elif listing.page == 1 and len(items) >= total:
        heading = text.list_heading(total, None)
    elif listing.page == 1:
        heading = text.list_newest(len(items), total)
    else:
        heading = text.list_page_heading(first, first + len(items) - 1, total)
    shown, rest = fit_lines([_listed(item) for item in items], MAX_BLOCKS - 3)
    blocks: Blocks = [section(heading)]
    blocks.extend(section(chunk) for chunk in shown)
    if rest:
        blocks.append(context(text.and_more(rest)))
    following = total - (first - 1 + len(items))
    if name is None and following > 0:
        pages = -(-total // size)
        blocks.append(context(text.list_next_page(listing.page + 1, min(size, following), pages)))
    return fit(blocks)


def _listed(item: dict[str, Any]) -> str:
    status = str(item.get("status") or "?")
    when = parse_api_time(item.get("scheduled_at"))
    return (
        f"{status_icon(status)} `{escaped(item.get('id', '?'), NAME_SHOWN)}` "
        f"{_device(str(item.get('device_name', '?')))} "
        f"{escaped(item.get('operation_type', '?'), NAME_SHOWN)} — *{escaped(status, NAME_SHOWN)}*"
        + (f" · {slack_time(when)}" if when else "")
    )


def operation_detail(item: dict[str, Any]) -> Blocks:
    params = item.get("parameters") if isinstance(item.get("parameters"), dict) else {}
    lines = [_listed(item)]
    if params:
        lines.append(text.DETAIL_PARAMETERS + parameters_text(params, limit=PARAMETERS_SHOWN))
    created = parse_api_time(item.get("created_at"))
    if created:
        lines.append(text.DETAIL_CREATED + slack_time(created))
    blocks = [section("\n".join(lines))]
    if item.get("error"):
        blocks.append(section(text.DETAIL_ERROR + escaped(item["error"], DETAIL_ERROR_SHOWN)))
    return fit(blocks)


def notice(mrkdwn: str) -> dict[str, Any]:
    """A message of one mrkdwn section (refusals, help, notices)."""
    return {"blocks": fit([section(mrkdwn)]), "text": clip(mrkdwn, 3000)}


def refusal(reason: str, example: str, *, markup: bool = False) -> str:
    return text.refusal(reason if markup else escape(reason), escape(example))


# --- the modal -----------------------------------------------------------------------------


def request_modal(
    kinds: Sequence[OperationKind], *, kind: OperationKind, metadata: dict[str, Any]
) -> dict[str, Any]:
    """The request form, offering the operation kinds this person may request."""
    options = [_option(k.label, k.operation_type) for k in kinds]
    blocks: Blocks = [
        {
            "type": "input",
            "block_id": "operation_type",
            "dispatch_action": True,
            "label": {"type": "plain_text", "text": text.MODAL_TYPE},
            "element": {
                "type": "static_select",
                "action_id": ACTION_MODAL_TYPE,
                "options": options,
                "initial_option": _option(kind.label, kind.operation_type),
            },
        },
        _text_input("devices", text.MODAL_DEVICES, placeholder="server-01, server-02"),
    ]
    for param in kind.fields:
        if param.kind == "flag":
            blocks.append(
                {
                    "type": "input",
                    "block_id": param.name,
                    "optional": True,
                    "label": {"type": "plain_text", "text": param.label},
                    "element": {
                        "type": "checkboxes",
                        "action_id": VALUE,
                        "options": [_option(param.label, "true")],
                    },
                }
            )
        elif param.kind == "value":
            blocks.append(_value_input(param))
        else:
            blocks.append(
                _text_input(
                    param.name,
                    param.label,
                    placeholder=param.placeholder,
                    optional=not param.required,
                    hint=text.MODAL_HINTS.get(param.kind, ""),
                )
            )
    blocks.append(
        {
            "type": "input",
            "block_id": "when",
            "optional": True,
            "label": {"type": "plain_text", "text": text.MODAL_WHEN},
            "hint": {"type": "plain_text", "text": text.MODAL_WHEN_HINT},
            "element": {"type": "datetimepicker", "action_id": VALUE},
        }
    )
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK,
        "title": {"type": "plain_text", "text": text.MODAL_TITLE},
        "submit": {"type": "plain_text", "text": text.MODAL_SUBMIT},
        "close": {"type": "plain_text", "text": text.CANCEL},
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def _value_input(param: ParamField) -> dict[str, Any]:
    """The input for one value: what Slack can check itself it checks (a number, a choice);
    the grammar reads the rest, as it reads the same value typed after /ops."""
    if param.value_type in ("integer", "number"):
        element: dict[str, Any] = {
            "type": "number_input",
            "action_id": VALUE,
            "is_decimal_allowed": param.value_type == "number",
        }
        if param.placeholder:
            element["placeholder"] = {"type": "plain_text", "text": param.placeholder[:150]}
    elif param.value_type == "boolean":
        choices = [_option(text.MODAL_TRUE, "true"), _option(text.MODAL_FALSE, "false")]
        element = {"type": "static_select", "action_id": VALUE, "options": choices}
        if isinstance(param.default, bool):
            element["initial_option"] = choices[0 if param.default else 1]
    else:
        return _text_input(
            param.name,
            param.label,
            placeholder=param.placeholder,
            optional=not param.required,
            hint=text.MODAL_VALUE_HINTS.get(param.value_type, ""),
        )
    return {
        "type": "input",
        "block_id": param.name,
        "optional": not param.required,
        "label": {"type": "plain_text", "text": param.label},
        "element": element,
    }


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": label[:75]}, "value": value}


def _text_input(
    block_id: str, label: str, *, placeholder: str = "", optional: bool = False, hint: str = ""
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": VALUE}
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": placeholder[:150]}
    block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block
