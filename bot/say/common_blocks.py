"""Slack's Block Kit, the pieces every topic's messages are built of: the actions' ids,
Slack's limits and `fit` to keep within them, sections, buttons, and how names, parameters,
times and statuses show.

Anything a person typed goes through `escape()` before it enters mrkdwn. Times are shown with
Slack's `<!date^…>` token so each reader sees their own local time, with a UTC fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot import say
from bot.say.common import escape
from bot.understand.catalog import DEFAULT_CATALOG
from bot.understand.naming import Range, compress
from store import (
    SUCCEEDED_STATUSES,
    WAITING_STATUSES,
    OperationRecord,
    is_final,
    is_running,
)

ACTION_CONFIRM = "ops_confirm"
ACTION_CANCEL = "ops_cancel"
ACTION_SEND_AGAIN = "ops_send_again"
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
    summary = f"{device_code(op.device_name)} · {escaped(op.operation_type, NAME_SHOWN)}"
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
    room = limit - len(say.track.more_items(len(items))) - 4  # the brackets and one more comma
    return "[" + joined([clip(item, room) for item in items], room) + "]"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def device_code(name: str) -> str:
    return f"`{escaped(name, NAME_SHOWN)}`"


def service_of(operation_type: object, parameters: object) -> str | None:
    """The service an operation acts on (`nginx`: the built-in catalog's name parameter),
    escaped; None for one that names none. Two operations on one device, a failed nginx and a
    failed apache, are told apart by it."""
    field = DEFAULT_CATALOG.name_field(str(operation_type))
    value = parameters.get(field.name) if field and isinstance(parameters, dict) else None
    return escaped(value, NAME_SHOWN) if isinstance(value, str) and value else None


def kind_shown(operation_type: object, parameters: object) -> str:
    """`restart_service nginx`, `reboot`: the operation type and what it acts on."""
    service = service_of(operation_type, parameters)
    kind = escaped(operation_type, NAME_SHOWN)
    return f"{kind} {service}" if service else kind


def operation_label(op: OperationRecord) -> str:
    """`` `server-02` (nginx) ``: an operation in a sentence, its device and what it acts on."""
    service = service_of(op.operation_type, op.parameters)
    return device_code(op.device_name) + (f" ({service})" if service else "")


def device_codes(names: Sequence[str]) -> list[str]:
    """The names shown, each run of three or more as its range and count:
    `` `server-001..server-500` (500) ``."""
    return [
        f"`{escaped(piece.text, NAME_SHOWN * 2)}` ({piece.count:,})"
        if isinstance(piece, Range)
        else device_code(piece)
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
    return ", ".join([*shown, say.track.more_items(rest)] if rest else shown)


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
    note = context(say.track.CUT_TO_FIT)
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


def notice(mrkdwn: str) -> dict[str, Any]:
    """A message of one mrkdwn section (refusals, help, notices)."""
    return {"blocks": fit([section(mrkdwn)]), "text": clip(mrkdwn, 3000)}


def refusal(reason: str, example: str, *, markup: bool = False) -> str:
    return say.common.refusal(reason if markup else escape(reason), escape(example))
