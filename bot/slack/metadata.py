"""Slack message metadata: what other apps read of what the bot did, without parsing its text.

Every public message the bot posts or edits carries an `event_type` and an `event_payload` of
plain values (docs/metadata.md describes them for those who read them): the request's public
message, which is its live summary, `opsbot_request`, edited with it; each line of its thread
a type for what it tells; a freeze and its end; and the answers to list, status and help that
the channel sees. A payload is bounded whatever the request's size: counts always, operations
listed up to OPERATIONS_SHOWN with `truncated` saying whether some were left out, texts
clipped, and the whole within MAX_BYTES.

The bot finds its own messages by two keys of their payload when a post's answer was lost
(bot/slack/notifier.py): `request_id`, and on a thread's line `outbox_id`. Every payload about
a request has them, and one cut down to fit keeps them.

Slack's rules (docs.slack.dev/messaging/message-metadata, and its guide to designing metadata
event schema): an event type of letters, digits and underscores, named for a resource and
what happened to it; a consumer's manifest subscribes to at most 20 types of at most 50
characters each (Slack's manifest schema: tests/test_metadata.py checks ours against it). The
payload is an object whose values are strings, numbers, booleans, objects of those, or lists
of such objects (@slack/types' MessageMetadata): so devices are listed as objects, and no
value is null.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bot.answers import Answer, Frozen, Helped, Listed, Looked
from bot.model import parse_api_time
from store import (
    FINISHED,
    POLICY_REFUSED,
    STOPPED,
    SUCCEEDED_STATUSES,
    VANISHED,
    WAVE_CONTINUED,
    WAVE_HALTED,
    WAVE_STARTED,
    WAVES_STOPPED,
    WINDOW_CLOSED,
    Freeze,
    OperationRecord,
    OutboxEvent,
    RequestRecord,
    is_running,
)
from store.records import is_failure

Metadata = dict[str, Any]

# The payload's shape; a reader checks it before reading the rest.
SCHEMA_VERSION = 1

# The request's public message: posted when it is confirmed, edited as it moves (its live
# summary). The type the bot has always tagged it with.
REQUEST = "opsbot_request"
# Lines of its thread.
REQUEST_APPROVED = "opsbot_request_approved"
REQUEST_REJECTED = "opsbot_request_rejected"
REQUEST_UPDATED = "opsbot_request_updated"
REQUEST_FINISHED = "opsbot_request_finished"
OPERATION_SCHEDULED = "opsbot_operation_scheduled"
OPERATION_STATUS_CHANGED = "opsbot_operation_status_changed"
OPERATION_FAILED = "opsbot_operation_failed"
OPERATION_UPDATED = "opsbot_operation_updated"
WAVE_STARTED_TYPE = "opsbot_wave_started"
WAVE_HALTED_TYPE = "opsbot_wave_halted"
WAVE_CONTINUED_TYPE = "opsbot_wave_continued"
WAVES_STOPPED_TYPE = "opsbot_waves_stopped"
# Said in the channel, not about one request.
FREEZE_STARTED = "opsbot_freeze_started"
FREEZE_ENDED = "opsbot_freeze_ended"
OPERATIONS_LISTED = "opsbot_operations_listed"
OPERATION_SHOWN = "opsbot_operation_shown"
HELP_SHOWN = "opsbot_help_shown"

# Every type and when it is posted (docs/metadata.md's table is written from this).
EVENT_TYPES: dict[str, str] = {
    REQUEST: "the request's public message, posted when it is confirmed and edited as it moves",
    REQUEST_APPROVED: "someone approved it (`count` of `needed`)",
    REQUEST_REJECTED: "it will not go on: rejected, its approval expired, or refused by the "
    "policy in force (`event` says which)",
    REQUEST_UPDATED: "any other news of the request: approvals asked again (the policy in "
    "force wants more), operations kept outside a window moved or dropped",
    REQUEST_FINISHED: "every operation has ended; `operations` lists those that went wrong",
    OPERATION_SCHEDULED: "the API took an operation and scheduled it",
    OPERATION_STATUS_CHANGED: "an operation's status changed, other than to a failure",
    OPERATION_FAILED: "an operation failed, was refused by the API, or vanished from it",
    OPERATION_UPDATED: "any other news of an operation (held by a freeze, released, its "
    "outcome unknown, sent again, dropped, running long, the API out of reach...)",
    WAVE_STARTED_TYPE: "a wave went; `operations` lists it",
    WAVE_HALTED_TYPE: "a wave had a failure: the later waves wait for Continue or Stop",
    WAVE_CONTINUED_TYPE: "someone clicked Continue: the next wave goes",
    WAVES_STOPPED_TYPE: "someone clicked Stop: the waiting operations end unsent",
    FREEZE_STARTED: "an admin froze devices",
    FREEZE_ENDED: "an admin lifted freezes",
    OPERATIONS_LISTED: "the answer to `list`, typed in the channel",
    OPERATION_SHOWN: "the answer to `status <id>`, typed in the channel",
    HELP_SHOWN: "the answer to `help`, typed in the channel",
}
# The thread's lines, and the one type they all had before these: a line posted by an older
# version is still found, and not posted again, when its answer was lost across an upgrade.
LINE_TYPES = frozenset(EVENT_TYPES) - {
    REQUEST,
    FREEZE_STARTED,
    FREEZE_ENDED,
    OPERATIONS_LISTED,
    OPERATION_SHOWN,
    HELP_SHOWN,
}
LEGACY_LINE = "opsbot_announcement"

# Slack answers metadata_too_large and documents no number: the bot keeps a message's metadata,
# as the JSON it sends, within this many characters (the fake Slack refuses more).
MAX_BYTES = 4_000
OPERATIONS_SHOWN = 20  # operations listed in one payload at most; the counts cover the rest
COUNTS_SHOWN = 12  # status words counted one by one; any more are counted as "other"
TEXT_SHOWN = 200  # characters (as JSON) of a typed command, a reason or an error
NAME_SHOWN = 64  # of a device, an id, a status word
FREEZES_SHOWN = 5  # freezes described in one payload (an unfreeze may lift several)
# Keys a payload cut down to fit keeps: what the bot finds its messages by.
_KEPT = ("schema_version", "request_id", "outbox_id", "freeze_id")
# Slack refuses a message for its metadata alone: it is posted again with the metadata cut to
# its ids (bot/slack/notifier.py), never lost for it.
METADATA_ERRORS = frozenset(
    {"invalid_metadata_format", "invalid_metadata_schema", "metadata_too_large"}
)
_APPROVED = "approved"
_REJECTED = frozenset({"rejected", "approval_expired", POLICY_REFUSED, WINDOW_CLOSED})
_WAVE_TYPES = {
    WAVE_STARTED: WAVE_STARTED_TYPE,
    WAVE_HALTED: WAVE_HALTED_TYPE,
    WAVE_CONTINUED: WAVE_CONTINUED_TYPE,
    WAVES_STOPPED: WAVES_STOPPED_TYPE,
}


# --- a request's public message and its thread ----------------------------------------------


def request_metadata(request: RequestRecord) -> Metadata:
    """The request's public message: where it stands as a whole, and its operations: those
    that went wrong first, then those running, then those waiting, then the rest."""
    ops = request.operations
    payload: dict[str, Any] = {**_summary(request)}
    if request.confirmed_by:
        payload["confirmed_by"] = request.confirmed_by
    payload["command"] = _clip(request.text)
    payload["immediate"] = request.immediate
    payload["scheduled_at"] = _epoch(min(op.scheduled_at for op in ops))
    payload["created_at"] = _epoch(request.created_at)
    if request.confirmed_at is not None:
        payload["confirmed_at"] = _epoch(request.confirmed_at)
    shared = _shared_parameters(ops)
    if shared:
        payload["parameters"] = shared
    if request.approvals_needed:
        approvals: dict[str, Any] = {
            "needed": request.approvals_needed,
            "given": len(request.approvals),
        }
        if request.approval_expires_at is not None:
            approvals["expires_at"] = _epoch(request.approval_expires_at)
        payload["approvals"] = approvals
    if request.waves:
        payload["waves"] = _waves(request)
    first = sorted(
        ops, key=lambda op: (not op.went_wrong, op.settled, not is_running(op.status), op.seq)
    )
    return _fitted(REQUEST, payload, listed=first)


def line_metadata(event: OutboxEvent, request: RequestRecord) -> Metadata:
    """A line of the request's thread: what it tells (`event`, the outbox's kind, and
    `detail`, its own facts), the operation it is about, and the request's counts as they
    stand when it is posted."""
    kind, data = event.kind, event.data
    payload: dict[str, Any] = {**_summary(request), "outbox_id": str(event.id), "event": kind}
    op = next((o for o in request.operations if o.id == data.get("operation_id")), None)
    if op is not None:
        payload["operation"] = _operation(op)
    detail = _detail(data)
    if detail:
        payload["detail"] = detail
    return _fitted(_line_type(kind, data), payload, listed=_listed_with(kind, data, request))


def _line_type(kind: str, data: dict[str, Any]) -> str:
    if kind == "submitted":
        return OPERATION_SCHEDULED
    if kind == "status":
        failure = is_failure(str(data.get("new") or ""))
        return OPERATION_FAILED if failure else OPERATION_STATUS_CHANGED
    if kind == VANISHED or (kind == "unsent" and not data.get("unknown")):
        return OPERATION_FAILED
    if kind == FINISHED:
        return REQUEST_FINISHED
    if kind == _APPROVED:
        return REQUEST_APPROVED
    if kind in _REJECTED:
        return REQUEST_REJECTED
    if kind in _WAVE_TYPES:
        return _WAVE_TYPES[kind]
    if "operation_id" in data:
        return OPERATION_UPDATED
    return REQUEST_UPDATED


def _listed_with(
    kind: str, data: dict[str, Any], request: RequestRecord
) -> list[OperationRecord] | None:
    """The operations a line is about when it is about several."""
    ops = request.operations
    if kind == FINISHED:
        return [op for op in ops if op.went_wrong]
    if kind == WAVE_HALTED:
        failed = set(data.get("failed") or ())
        return [op for op in ops if op.id in failed]
    if kind in (WAVE_STARTED, WAVE_CONTINUED):
        return list(request.wave_operations(int(data.get("wave") or 0)))
    if kind == WAVES_STOPPED:
        return [op for op in ops if op.state == STOPPED]
    return None


def _detail(data: dict[str, Any]) -> dict[str, Any]:
    """An outbox event's own facts, as plain values: a status change's `status` and
    `previous_status`, who acted (`by`), a wave, a reason, an error; a list counted."""
    renamed = {"new": "status", "old": "previous_status"}
    detail: dict[str, Any] = {}
    for key, value in data.items():
        if key == "operation_id" or value is None:
            continue
        name = renamed.get(key, key)
        if isinstance(value, bool | int):
            detail[name] = value
        elif isinstance(value, float):
            detail[name] = round(value, 1)
        elif isinstance(value, str) and key in renamed:
            detail[name] = _clip(value.strip().lower(), NAME_SHOWN)
        elif isinstance(value, str):
            detail[name] = _clip(value)
        elif isinstance(value, list | tuple):
            detail[name] = len(value)
    return detail


def _summary(request: RequestRecord) -> dict[str, Any]:
    """Where a request stands, for every message about it."""
    ops = request.operations
    return {
        "request_id": request.id,
        "state": request.state,
        "requester": request.requester,
        "operation_type": _operation_type(ops),
        "total": len(ops),
        "ended": sum(op.settled for op in ops),
        "succeeded": sum(_succeeded(op) for op in ops),
        "failed": sum(op.went_wrong for op in ops),
        "counts": _counts(status_of(op) for op in ops),
    }


def status_of(op: OperationRecord) -> str:
    """One word for where an operation stands: the bot's phase while it holds it
    (`awaiting_approval`, `held`, `sending`, `waiting_for_wave`, `outside_window`, `stopped`,
    `not_scheduled`, `outcome_unknown`), else the API's status in lower case."""
    return op.phase or _clip((op.status or op.state).strip().lower(), NAME_SHOWN)


def _operation(op: OperationRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": op.id,
        "device": _clip(op.device_name, NAME_SHOWN),
        "type": _clip(op.operation_type, NAME_SHOWN),
        "status": status_of(op),
        "scheduled_at": _epoch(op.scheduled_at),
    }
    if op.api_id:
        entry["api_id"] = _clip(op.api_id, NAME_SHOWN)
    if op.wave is not None:
        entry["wave"] = op.wave
    if op.went_wrong and op.error:
        entry["error"] = _clip(op.error)
    return entry


def _waves(request: RequestRecord) -> dict[str, Any]:
    waves: dict[str, Any] = {
        "count": request.waves,
        "current": request.wave,
        "state": request.wave_state or "",
        "canary": request.canary,
    }
    if request.wave_size:
        waves["size"] = request.wave_size
    return waves


def _operation_type(ops: Sequence[OperationRecord]) -> str:
    kinds = {op.operation_type for op in ops}
    return _clip(kinds.pop(), NAME_SHOWN) if len(kinds) == 1 else "mixed"


def _succeeded(op: OperationRecord) -> bool:
    return op.final and (op.status or "").strip().lower() in SUCCEEDED_STATUSES


def _shared_parameters(ops: Sequence[OperationRecord]) -> dict[str, Any]:
    """The parameters every operation has alike (the service restarted, the package), as
    plain values."""
    first = ops[0].parameters
    if any(op.parameters != first for op in ops[1:]):
        return {}
    shared: dict[str, Any] = {}
    for key, value in list(first.items())[:COUNTS_SHOWN]:
        if isinstance(value, bool | int | float):
            shared[_clip(str(key), NAME_SHOWN)] = value
        elif isinstance(value, str):
            shared[_clip(str(key), NAME_SHOWN)] = _clip(value)
    return shared


# --- what the channel is told, not about one request ---------------------------------------


def answer_metadata(result: Answer, *, user: str) -> Metadata | None:
    """The metadata of an answer the channel sees (a freeze or its end, a list, a status,
    the help), asked by `user`; None for an answer only its asker sees."""
    if isinstance(result, Frozen):
        return _frozen(result) if result.freeze is not None else _lifted(result)
    if isinstance(result, Listed):
        listing = result.listing
        payload: dict[str, Any] = {"asked_by": user}
        if result.device:
            payload["device"] = _clip(result.device, NAME_SHOWN)
        payload.update(total=listing.total, page=listing.page, page_size=listing.page_size)
        entries = [_api_operation(item) for item in listing.items]
        return _fitted(OPERATIONS_LISTED, payload, listed=entries)
    if isinstance(result, Looked):
        payload = {"asked_by": user, "api_id": _clip(result.operation_id, NAME_SHOWN)}
        payload["found"] = result.item is not None
        if result.item is not None:
            payload["operation"] = _api_operation(result.item)
        return _fitted(OPERATION_SHOWN, payload)
    if isinstance(result, Helped):
        types = [{"type": _clip(k.operation_type, NAME_SHOWN)} for k in result.kinds]
        payload = {"asked_by": user, "admin": result.admin, "max_devices": result.max_devices}
        return _fitted(HELP_SHOWN, payload, listed=types, key="operation_types")
    return None


def _frozen(result: Frozen) -> Metadata:
    freeze = result.freeze
    assert freeze is not None
    payload: dict[str, Any] = {
        "freeze_id": freeze.id,
        "frozen_by": freeze.frozen_by,
        "reason": _clip(freeze.reason),
        "every_device": freeze.devices is None,
        "created_at": _epoch(freeze.created_at),
    }
    if freeze.until is not None:
        payload["until"] = _epoch(freeze.until)
    if result.held_unknown:
        payload["api_unreadable"] = True  # what the API already holds could not be read
    else:
        payload["already_at_api"] = len(result.held)  # which a freeze cannot stop
    return _fitted(FREEZE_STARTED, payload, listed=_devices([freeze]), key="devices")


def _lifted(result: Frozen) -> Metadata:
    lifted = result.lifted
    payload: dict[str, Any] = {
        "lifted_by": (lifted[0].lifted_by or "") if lifted else "",
        "every_device": any(f.devices is None for f in lifted),
        "freezes": [
            {
                "freeze_id": f.id,
                "frozen_by": f.frozen_by,
                "reason": _clip(f.reason),
                "every_device": f.devices is None,
            }
            for f in lifted[:FREEZES_SHOWN]
        ],
        "freeze_count": len(lifted),
    }
    return _fitted(FREEZE_ENDED, payload, listed=_devices(lifted), key="devices")


def _devices(freezes: Sequence[Freeze]) -> list[dict[str, Any]]:
    """What freezes cover, each device or pattern once, as typed."""
    names = dict.fromkeys(d for f in freezes for d in f.devices or ())
    return [{"device": _clip(name, NAME_SHOWN)} for name in names]


def _api_operation(item: dict[str, Any]) -> dict[str, Any]:
    """An operation as the API listed it."""
    entry: dict[str, Any] = {}
    for key, name in (
        ("id", "api_id"),
        ("device_name", "device"),
        ("operation_type", "type"),
        ("status", "status"),
    ):
        value = item.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            text = str(value)
            entry[name] = _clip(text.lower() if name == "status" else text, NAME_SHOWN)
    at = parse_api_time(item.get("scheduled_at"))
    if at is not None:
        entry["scheduled_at"] = _epoch(at)
    return entry


# --- finding its own messages again ----------------------------------------------------------


def is_request_message(message: dict[str, Any], request_id: str) -> bool:
    """The public message of this request, as Slack returns it with its metadata."""
    event_type, payload = _read(message)
    return event_type == REQUEST and payload.get("request_id") == request_id


def is_line_message(message: dict[str, Any], event: OutboxEvent) -> bool:
    """The thread's line for this outbox event."""
    event_type, payload = _read(message)
    return (
        (event_type in LINE_TYPES or event_type == LEGACY_LINE)
        and payload.get("request_id") == event.request_id
        and payload.get("outbox_id") == str(event.id)
    )


def ids_only(metadata: Metadata) -> Metadata:
    """The metadata cut to what the bot finds its messages by."""
    payload = metadata.get("event_payload") or {}
    kept = {key: payload[key] for key in _KEPT if key in payload}
    return {"event_type": metadata["event_type"], "event_payload": {**kept, "truncated": True}}


def _read(message: dict[str, Any]) -> tuple[object, dict[str, Any]]:
    metadata = message.get("metadata")
    if not isinstance(metadata, dict):
        return None, {}
    payload = metadata.get("event_payload")
    return metadata.get("event_type"), payload if isinstance(payload, dict) else {}


# --- within bounds ---------------------------------------------------------------------------


def _fitted(
    event_type: str,
    payload: dict[str, Any],
    *,
    listed: Sequence[OperationRecord | dict[str, Any]] | None = None,
    key: str = "operations",
) -> Metadata:
    """The metadata with as many of `listed` (operations, or entries ready) under `key` as fit
    in OPERATIONS_SHOWN and MAX_BYTES, `truncated` saying whether any were left out."""
    metadata = {
        "event_type": event_type,
        "event_payload": {"schema_version": SCHEMA_VERSION, **payload},
    }
    if listed is not None:
        entries: list[dict[str, Any]] = []
        metadata["event_payload"].update({key: entries, "truncated": True})
        used = _size(metadata)
        for item in listed[:OPERATIONS_SHOWN]:
            entry = _operation(item) if isinstance(item, OperationRecord) else item
            cost = _size(entry) + (2 if entries else 0)  # and the ", " before it
            if used + cost > MAX_BYTES:
                break
            entries.append(entry)
            used += cost
        metadata["event_payload"]["truncated"] = len(entries) < len(listed)
    if _size(metadata) > MAX_BYTES:  # the bounded pieces always fit; never send more
        return ids_only(metadata)
    return metadata


def _counts(words: Iterable[str]) -> dict[str, int]:
    """How many operations stand at each word, most first; past COUNTS_SHOWN words (the API
    invents its own) the rest are counted as `other`."""
    counted = Counter(words).most_common()
    shown = dict(counted[:COUNTS_SHOWN])
    rest = sum(n for _, n in counted[COUNTS_SHOWN:])
    if rest:
        shown["other"] = shown.get("other", 0) + rest
    return shown


def _clip(text: str, limit: int = TEXT_SHOWN) -> str:
    """`text` within `limit` characters of JSON (outside ASCII a character takes six), cut
    with an ellipsis."""
    if _size(text) - 2 <= limit:
        return text
    kept, used = [], 0
    for char in text:
        cost = _size(char) - 2
        if used + cost > limit - 6:  # the ellipsis takes six
            break
        kept.append(char)
        used += cost
    return "".join(kept) + "…"


def _size(value: Any) -> int:
    """Characters as Slack receives it: slack_sdk sends the metadata as json.dumps writes it."""
    return len(json.dumps(value))


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())
