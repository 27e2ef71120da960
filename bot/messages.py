"""Every Block Kit message and view the bot sends, built from plain records.

Anything a person typed goes through `escape()` before it enters mrkdwn. Times are shown with
Slack's `<!date^…>` token so each reader sees their own local time, with a UTC fallback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot import text
from bot.catalog import Catalog, OperationKind
from bot.model import parse_api_time
from bot.outbox import NOT_POSTED, UNDELIVERED
from bot.reconcile import ASK_UNKNOWN
from bot.service import Answer, Failed, Helped, Listed, OperationList, Proposed, Refused
from bot.text import escape
from bot.when import humanize_delta
from store import (
    FINISHED,
    SUCCEEDED_STATUSES,
    WAITING_STATUSES,
    OperationRecord,
    OutboxEvent,
    RequestRecord,
    is_final,
    is_running,
)

ACTION_CONFIRM = "ops_confirm"
ACTION_CANCEL = "ops_cancel"
ACTION_SEND_AGAIN = "ops_send_again"
ACTION_DROP = "ops_drop"
ACTION_MODAL_TYPE = "ops_modal_type"
MODAL_CALLBACK = "ops_modal"
VALUE = "value"  # the action_id of every input in the modal

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
# What a status line shows of an operation's parameters: a long package list is cut there, so
# the status and any error after it still fit in the line.
MAX_STATUS_SUMMARY = 1000

Blocks = list[dict[str, Any]]


def clip(value: str, limit: int = MAX_SECTION_TEXT) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(mrkdwn)}}


def context(mrkdwn: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(mrkdwn)}]}


def slack_time(moment: datetime) -> str:
    """Each reader's own local time; clients that cannot render it show UTC."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def local_time(moment: datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M")


def operation_summary(op: OperationRecord | Any) -> str:
    params = ", ".join(f"{k}={_param(v)}" for k, v in op.parameters.items())
    summary = f"`{escape(op.device_name)}` · {escape(op.operation_type)}"
    return summary + (f" · {escape(params)}" if params else "")


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


# --- the confirmation (private to the requester) -------------------------------------------


def confirmation(request: RequestRecord, *, now: datetime) -> Blocks:
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
    blocks: Blocks = [section(text.confirm_heading(escape(request.text), len(ops)))]
    blocks.extend(section(f"• {operation_summary(op)}") for op in ops[: MAX_BLOCKS - 6])
    if len(ops) > MAX_BLOCKS - 6:
        blocks.append(context(text.and_more(len(ops) - (MAX_BLOCKS - 6))))
    blocks.append(section(when))
    if request.notes:
        blocks.append(context("\n".join(f"ℹ️ {escape(note)}" for note in request.notes)))
    blocks.append(
        {
            "type": "actions",
            "block_id": "ops_confirmation",
            "elements": [
                _button(text.CONFIRM, ACTION_CONFIRM, request.id, style="primary"),
                _button(text.CANCEL, ACTION_CANCEL, request.id),
            ],
        }
    )
    valid = round((request.expires_at - request.created_at).total_seconds() / 60)
    blocks.append(context(text.confirmation_footer(request.id, valid)))
    return blocks


def _button(label: str, action_id: str, value: str, *, style: str | None = None) -> dict:
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
                typed=escape(request.text),
            )
        ),
        section(text.scheduled_for(slack_time(ops[0].scheduled_at), request.immediate)),
    ]
    lines = [status_line(op) for op in ops]
    shown, rest = _fit_lines(lines, MAX_BLOCKS - 4)
    blocks.extend(section(chunk) for chunk in shown)
    if rest:
        blocks.append(context(text.and_more(rest)))
    finals = [op for op in ops if op.final]
    blocks.append(context(text.progress(done=len(finals), total=len(ops), request_id=request.id)))
    return blocks


def _fit_lines(lines: list[str], max_blocks: int) -> tuple[list[str], int]:
    """Pack lines into as few section texts as fit; returns the chunks and how many were left.

    A line longer than a section can hold is cut first: packed whole it would leave an empty
    section behind, and Slack refuses a message with one (`invalid_blocks`).
    """
    chunks: list[str] = []
    current = ""
    for index, line in enumerate(clip(line) for line in lines):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= MAX_SECTION_TEXT:
            current = candidate
            continue
        chunks.append(current)
        if len(chunks) == max_blocks:
            return chunks, len(lines) - index
        current = line
    if current:
        chunks.append(current)
    return chunks, 0


def status_line(op: OperationRecord) -> str:
    summary = clip(operation_summary(op), MAX_STATUS_SUMMARY)
    if op.state in ("draft", "new", "sending"):
        return f"⏳ {summary} — {text.SENDING}"
    if op.state == "rejected":
        return f"❌ {summary} — {text.NOT_SCHEDULED}: {escape(op.error or '')}"
    if op.state == "unknown":
        return f"⚠️ {summary} — {escape(op.error or '')}"
    api_id, status = escape(op.api_id or ""), escape(op.status or "?")
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


def finished_line(request: RequestRecord) -> str:
    succeeded = sum((op.status or "").lower() in SUCCEEDED_STATUSES for op in request.operations)
    failed = [
        f"`{escape(op.device_name)}`"
        for op in request.operations
        if (op.status or "").lower() not in SUCCEEDED_STATUSES
    ]
    return text.finished(total=len(request.operations), succeeded=succeeded, failed=failed)


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
    send_again = _button(text.SEND_AGAIN, ACTION_SEND_AGAIN, str(op.id), style="danger")
    send_again["confirm"] = {
        "title": {"type": "plain_text", "text": text.SEND_AGAIN_CONFIRM_TITLE},
        "text": {"type": "plain_text", "text": text.SEND_AGAIN_CONFIRM},
        "confirm": {"type": "plain_text", "text": text.SEND_AGAIN_CONFIRM_YES},
        "deny": {"type": "plain_text", "text": text.SEND_AGAIN_CONFIRM_NO},
    }
    return [
        section(event_text(event, request)),
        section("\n".join(lines)),
        context(text.ask_choice(f"<@{request.requester}>")),
        {
            "type": "actions",
            "block_id": "ops_unknown",
            "elements": [send_again, _button(text.DROP, ACTION_DROP, str(op.id))],
        },
    ]


def _minutes(value: object) -> str:
    return text.span(round(float(value) * 60)) if isinstance(value, int | float) else "a while"


# --- answers to typed requests ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Reply:
    message: dict[str, Any]  # chat.postMessage-style: blocks + text
    public: bool  # False: only the requester should see it


def answer(result: Answer, *, now: datetime) -> Reply:
    """The bot's answer to what someone typed, as a Slack message."""
    if isinstance(result, Refused):
        return Reply(message=notice(refusal(result.reason, result.example)), public=False)
    if isinstance(result, Proposed):
        blocks = confirmation(result.request, now=now)
        return Reply(message={"blocks": blocks, "text": blocks[0]["text"]["text"]}, public=False)
    if isinstance(result, Failed):
        return Reply(message=notice(f"⚠️ {escape(result.message)}"), public=False)
    if isinstance(result, Helped):
        return Reply(message=notice(text.help_text(result.catalog)), public=True)
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
    name = escape(device) if device else None
    first = (listing.page - 1) * size + 1
    if not items:
        if name is not None and listing.searched is not None:
            return [section(text.list_device_none(name, listing.searched, total))]
        if name is None and total and listing.page > 1:
            return [section(text.list_past_the_end(listing.page, total, size))]
        return [section(text.list_empty(name))]
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
    shown, rest = _fit_lines([_listed(item) for item in items], MAX_BLOCKS - 3)
    blocks: Blocks = [section(heading)]
    blocks.extend(section(chunk) for chunk in shown)
    if rest:
        blocks.append(context(text.and_more(rest)))
    following = total - (first - 1 + len(items))
    if name is None and following > 0:
        pages = -(-total // size)
        blocks.append(context(text.list_next_page(listing.page + 1, min(size, following), pages)))
    return blocks


def _listed(item: dict[str, Any]) -> str:
    status = str(item.get("status") or "?")
    when = parse_api_time(item.get("scheduled_at"))
    return (
        f"{status_icon(status)} `{escape(str(item.get('id', '?')))}` "
        f"`{escape(str(item.get('device_name', '?')))}` "
        f"{escape(str(item.get('operation_type', '?')))} — *{escape(status)}*"
        + (f" · {slack_time(when)}" if when else "")
    )


def operation_detail(item: dict[str, Any]) -> Blocks:
    params = item.get("parameters") if isinstance(item.get("parameters"), dict) else {}
    lines = [_listed(item)]
    if params:
        lines.append(
            text.DETAIL_PARAMETERS
            + escape(", ".join(f"{k}={_param(v)}" for k, v in params.items()))
        )
    created = parse_api_time(item.get("created_at"))
    if created:
        lines.append(text.DETAIL_CREATED + slack_time(created))
    if item.get("error"):
        lines.append(text.DETAIL_ERROR + escape(str(item["error"])))
    return [section("\n".join(lines))]


def notice(mrkdwn: str) -> dict[str, Any]:
    """A message of one mrkdwn section (refusals, help, notices)."""
    return {"blocks": [section(mrkdwn)], "text": clip(mrkdwn, 3000)}


def refusal(reason: str, example: str) -> str:
    return text.refusal(escape(reason), escape(example))


# --- the modal -----------------------------------------------------------------------------


def request_modal(
    catalog: Catalog, *, kind: OperationKind, metadata: dict[str, Any]
) -> dict[str, Any]:
    options = [_option(k.label, k.operation_type) for k in catalog.kinds]
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
