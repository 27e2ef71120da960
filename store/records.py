"""Rows of the store as plain, immutable values."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.model import OperationSpec
from bot.understand import waves as waves_of

# The bot's own status word for an operation the API answered about but no longer holds (asked
# by id, it returns an empty list): nothing more can be learnt about it, so it is final.
VANISHED = "vanished"

# Outbox kinds the store itself writes: a confirmed request's public message (its first outbox
# message), and the one-line summary once every operation of a request has ended.
ROOT = "root"
FINISHED = "finished"
# An operation that had ended (dropped, or refused when sent again) found in the API after all:
# its request is going again, and is summed up again when it ends.
FOUND_AFTER_DROP = "found_after_drop"
FOUND_LATE = "found_late"
FOUND_TWICE = "found_twice"  # a first attempt that reached the API after a Send again went
REOPENING = frozenset({FOUND_AFTER_DROP, FOUND_LATE, FOUND_TWICE})
# An operation's routine steps: scheduled by the API, then each status it reports, and a retry
# before the API answered. In a request of one operation each is a thread reply; in a request
# of several they only change the live summary (the public message), and the thread keeps
# what a person must read: failures, questions, notices and the end.
ROUTINE_KINDS = frozenset({"submitted", "status", "requeued"})
# Told once for a request of several devices, not once a device: by its first operation to
# meet the condition (held by a freeze, out of the API's reach, running long) and, when the
# condition lifts, by its last. An outage over 2,000 devices is one line, not 4,000.
TOLD_ONCE = {
    "held": "held_since IS NOT NULL",
    "released": "held_since IS NOT NULL",
    "ask_outside": "state = 'outside'",
    "unreachable": "outage_announced = 1",
    "reachable": "outage_announced = 1",
    "overdue": "overdue_warned = 1",
}

# Operation states of waves: a later wave's operation waits (never read by the sender) until
# its wave is released; after a halt, Stop ends it unsent. Wave events in the thread.
WAITING = "waiting"
STOPPED = "stopped"
WAVE_STARTED = "wave_started"
WAVE_HALTED = "wave_halted"
WAVE_CONTINUED = "wave_continued"
WAVES_STOPPED = "waves_stopped"
WAVE_EVENTS = frozenset({WAVE_STARTED, WAVE_HALTED, WAVE_CONTINUED, WAVES_STOPPED})

# Judged again when the bot acts (bot/policy/gate.py): an operation whose time to run is outside
# a window that blocks waits in state 'outside' (never read by the sender) for a person's Move
# into the next window or Drop, asked once in its thread while any waits. A request the file
# in force asks more approvals of than it has goes back to 'approving', its unsent operations
# drafts again, its thread told why; one the file in force refuses sends nothing more.
OUTSIDE = "outside"
ASK_OUTSIDE = "ask_outside"  # the question: Move into the window, or Drop
OUTSIDE_MOVED = "outside_moved"
OUTSIDE_DROPPED = "outside_dropped"
OUTSIDE_WARNED = "outside_warned"
APPROVAL_NEEDED = "approval_needed"
POLICY_REFUSED = "policy_refused"
# A request moved into the windows open then, ended unsent when it would go after one closed.
WINDOW_CLOSED = "window_closed"
# Not sent, and not for ever: what ends unsent when a request is rejected, expires or is refused.
UNSENT = ("draft", "new", WAITING, OUTSIDE)
# An operation's phase (OperationRecord.phase) for the states that are one phase each.
_PHASES = {
    WAITING: "waiting_for_wave",
    OUTSIDE: "outside_window",
    STOPPED: "stopped",
    "rejected": "not_scheduled",
    "unknown": "outcome_unknown",
}

# The API invents status words (the issue: "or any status the API invents"); these are the
# ones the bot knows the meaning of. Any other word is shown as it is and polled on.
SUCCEEDED_STATUSES = frozenset({"completed", "complete", "succeeded", "success", "done"})
WAITING_STATUSES = frozenset({"scheduled", "pending", "queued"})
RUNNING_STATUSES = frozenset({"running", "in_progress", "started"})
FINAL_STATUSES = SUCCEEDED_STATUSES | frozenset(
    {
        "failed",
        "failure",
        "error",
        "cancelled",
        "canceled",
        "aborted",
        "timeout",
        "timed_out",
        "expired",
        "rejected",
        VANISHED,
    }
)


def is_running(status: str | None) -> bool:
    return (status or "").strip().lower() in RUNNING_STATUSES


def is_final(status: str | None) -> bool:
    """Statuses after which an operation never changes; any other word keeps it polled."""
    return (status or "").strip().lower() in FINAL_STATUSES


def is_failure(status: str | None) -> bool:
    """A final status other than success: failed, cancelled, vanished and the like."""
    word = (status or "").strip().lower()
    return word in FINAL_STATUSES and word not in SUCCEEDED_STATUSES


@dataclass(frozen=True, kw_only=True)
class OperationRecord:
    id: int
    request_id: str
    seq: int
    device_name: str
    operation_type: str
    parameters: dict[str, Any]
    scheduled_at: datetime
    state: str
    api_id: str | None
    status: str | None
    final: bool
    estimated_duration: int | None
    error: str | None
    send_attempts: int = 0
    running_since: datetime | None = None
    unknown_since: datetime | None = None
    check_failing_since: datetime | None = None
    overdue_warned: bool = False
    asked_at: datetime | None = None  # when the requester was asked about an unknown outcome
    answered_by: str | None = None  # who chose Send again or Drop
    watch_original_until: datetime | None = None
    # The times its earlier attempts were for, when a person sent it again for a later time.
    earlier_times: tuple[datetime, ...] = ()
    held_since: datetime | None = None  # waiting for a freeze to end
    held_by: int | None = None  # the freeze it waits for: its end is when it may go
    # When the poller asks about it next (None: not yet placed in the schedule), and how many
    # looks in a row have failed (they space the next ones out).
    next_check_at: datetime | None = None
    check_failures: int = 0
    wave: int | None = None  # its wave, from 1 (None: its request is not in waves)

    def announce(self, kind: str, **data: object) -> dict[str, Any]:
        """An outbox announcement about this operation, for the store to queue beside the
        change it announces."""
        return {"request_id": self.request_id, "operation_id": self.id, "kind": kind, **data}

    def log_ids(self) -> dict[str, Any]:
        """Its ids, for a log call's `extra`: fields of their own in JSON logs."""
        ids: dict[str, Any] = {"request_id": self.request_id, "operation_id": self.id}
        if self.api_id is not None:
            ids["api_id"] = self.api_id
        return ids

    def spec(self) -> OperationSpec:
        """The API call it stands for."""
        return OperationSpec(
            device_name=self.device_name,
            operation_type=self.operation_type,
            scheduled_at=self.scheduled_at,
            parameters=self.parameters,
        )

    @property
    def went_wrong(self) -> bool:
        """Refused, its outcome unknown, or ended other than in success: what a person reads
        first in a long list."""
        if self.state in ("rejected", "unknown"):
            return True
        return self.state not in ("draft", "new", "sending", WAITING) and is_failure(self.status)

    @property
    def phase(self) -> str | None:
        """Where it stands while the bot holds it, in one machine word (the messages' metadata
        carries it for other apps; the status lines put it in words); None once the API holds
        it, whose status then says."""
        if self.state == "draft":
            return "awaiting_approval"
        if self.held_since is not None and self.state == "new":
            return "held"
        if self.state in ("new", "sending"):
            return "sending"
        return _PHASES.get(self.state)

    @property
    def settled(self) -> bool:
        """Nothing more will happen to it: final, or refused before it reached the API."""
        return self.final or self.state == "rejected"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OperationRecord:
        return cls(
            id=row["id"],
            request_id=row["request_id"],
            seq=row["seq"],
            device_name=row["device_name"],
            operation_type=row["operation_type"],
            parameters=json.loads(row["parameters"] or "{}"),
            scheduled_at=_parse_time(row["scheduled_at"]),
            state=row["state"],
            api_id=row["api_id"],
            status=row["status"],
            final=bool(row["final"]),
            estimated_duration=row["estimated_duration"],
            error=row["error"],
            send_attempts=row.get("send_attempts") or 0,
            running_since=_maybe_time(row.get("running_since")),
            unknown_since=_maybe_time(row.get("unknown_since")),
            check_failing_since=_maybe_time(row.get("check_failing_since")),
            overdue_warned=bool(row.get("overdue_warned")),
            asked_at=_maybe_time(row.get("asked_at")),
            answered_by=row.get("answered_by"),
            watch_original_until=_maybe_time(row.get("watch_original_until")),
            earlier_times=tuple(
                _parse_time(t) for t in json.loads(row.get("earlier_times") or "[]")
            ),
            held_since=_maybe_time(row.get("held_since")),
            held_by=row.get("held_by"),
            next_check_at=_maybe_time(row.get("next_check_at")),
            check_failures=row.get("check_failures") or 0,
            wave=row.get("wave"),
        )


APPROVE = "approve"
REJECT = "reject"
# An approval the policy file in force no longer counts (its giver may not approve under it).
LAPSED = "lapsed"


@dataclass(frozen=True, kw_only=True)
class Vote:
    user: str
    verdict: str  # APPROVE | REJECT | LAPSED
    at: datetime


@dataclass(frozen=True, kw_only=True)
class RequestRecord:
    id: str
    state: str
    requester: str
    confirmed_by: str | None
    surface: str
    text: str
    tz: str
    immediate: bool
    notes: tuple[str, ...]
    channel: str | None
    thread_ts: str | None
    status_ts: str | None
    response_url: str | None
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    operations: tuple[OperationRecord, ...]
    # Slack first answered the public message, or took a post in its channel tried after
    # the confirmation: its operations need not wait for the message any more.
    root_tried_at: datetime | None = None
    # What the policy said at the request (rule, approval, windows), as shown to the requester.
    policy: dict[str, Any] = field(default_factory=dict)
    # A request that needs others' approval: how many, who (each list must allow the approver;
    # None: anyone allowed to request), until when, and the voices so far, in order.
    approvals_needed: int = 0
    approver_sets: tuple[tuple[str, ...] | None, ...] = ()
    approval_expires_at: datetime | None = None
    votes: tuple[Vote, ...] = ()
    # Waves (bot/understand/waves.py): the size asked, a canary first, how many in all (0: not
    # in waves), the one released last (0: none yet), and 'going', 'halted' or 'stopped'.
    wave_size: int | None = None
    canary: bool = False
    waves: int = 0
    wave: int = 0
    wave_state: str | None = None
    halted_at: datetime | None = None
    stopped_by: str | None = None

    def wave_operations(self, wave: int) -> tuple[OperationRecord, ...]:
        return tuple(op for op in self.operations if op.wave == wave)

    @property
    def waiting(self) -> tuple[OperationRecord, ...]:
        """Operations of later waves, not yet released."""
        return tuple(op for op in self.operations if op.state == WAITING)

    @property
    def approvals(self) -> tuple[str, ...]:
        return tuple(v.user for v in self.votes if v.verdict == APPROVE)

    @classmethod
    def from_row(
        cls,
        row: dict[str, Any],
        operations: list[OperationRecord],
        votes: Sequence[Vote] = (),
    ) -> RequestRecord:
        return cls(
            id=row["id"],
            state=row["state"],
            requester=row["requester"],
            confirmed_by=row["confirmed_by"],
            surface=row["surface"],
            text=row["text"] or "",
            tz=row["tz"] or "UTC",
            immediate=bool(row["immediate"]),
            notes=tuple(json.loads(row["notes"] or "[]")),
            channel=row["channel"],
            thread_ts=row["thread_ts"],
            status_ts=row["status_ts"],
            response_url=row["response_url"],
            created_at=_parse_time(row["created_at"]),
            expires_at=_parse_time(row["expires_at"]),
            confirmed_at=_maybe_time(row["confirmed_at"]),
            operations=tuple(operations),
            root_tried_at=_maybe_time(row.get("root_tried_at")),
            policy=json.loads(row.get("policy") or "{}"),
            approvals_needed=row.get("approvals_needed") or 0,
            approver_sets=tuple(
                None if s is None else tuple(s) for s in json.loads(row.get("approvers") or "[]")
            ),
            approval_expires_at=_maybe_time(row.get("approval_expires_at")),
            votes=tuple(votes),
            wave_size=row.get("wave_size"),
            canary=bool(row.get("canary")),
            waves=row.get("waves") or 0,
            wave=row.get("wave") or 0,
            wave_state=row.get("wave_state"),
            halted_at=_maybe_time(row.get("halted_at")),
            stopped_by=row.get("stopped_by"),
        )

    @classmethod
    def preview(
        cls,
        *,
        specs: Sequence[OperationSpec],
        requester: str,
        surface: str,
        text: str,
        tz: str,
        immediate: bool,
        notes: Sequence[str],
        channel: str | None,
        thread_ts: str | None,
        response_url: str | None,
        now: datetime,
        expires_at: datetime,
        policy: dict[str, Any] | None = None,
        wave_size: int | None = None,
        canary: bool = False,
    ) -> RequestRecord:
        """What Store.create_request would record, as a value, recording nothing (a dry
        run)."""
        numbers = waves_of.numbers([s.device_name for s in specs], size=wave_size, canary=canary)
        ops = [
            OperationRecord(
                id=-seq - 1,
                request_id="",
                seq=seq,
                device_name=spec.device_name,
                operation_type=spec.operation_type,
                parameters=spec.parameters,
                scheduled_at=spec.scheduled_at,
                state="draft",
                api_id=None,
                status=None,
                final=False,
                estimated_duration=None,
                error=None,
                wave=numbers[seq] if numbers else None,
            )
            for seq, spec in enumerate(specs)
        ]
        return cls(
            id="",
            state="plan",
            requester=requester,
            confirmed_by=None,
            surface=surface,
            text=text,
            tz=tz,
            immediate=immediate,
            notes=tuple(notes),
            channel=channel,
            thread_ts=thread_ts,
            status_ts=None,
            response_url=response_url,
            created_at=now,
            expires_at=expires_at,
            confirmed_at=None,
            operations=tuple(ops),
            policy=policy or {},
            wave_size=wave_size,
            canary=canary,
            waves=max(numbers) if numbers else 0,
        )

    @property
    def reply_thread(self) -> str | None:
        """Where status replies go: the thread the request came from, else our status message."""
        return self.thread_ts or self.status_ts


@dataclass(frozen=True, kw_only=True)
class Freeze:
    id: int
    devices: tuple[str, ...] | None  # globs; None: every device
    reason: str
    frozen_by: str
    channel: str | None
    created_at: datetime
    until: datetime | None  # None: until lifted
    lifted_at: datetime | None = None
    lifted_by: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Freeze:
        devices = json.loads(row["devices"]) if row["devices"] else None
        return cls(
            id=row["id"],
            devices=tuple(devices) if devices is not None else None,
            reason=row["reason"] or "",
            frozen_by=row["frozen_by"],
            channel=row["channel"],
            created_at=_parse_time(row["created_at"]),
            until=_maybe_time(row["until"]),
            lifted_at=_maybe_time(row["lifted_at"]),
            lifted_by=row["lifted_by"],
        )


@dataclass(frozen=True, kw_only=True)
class OutboxEvent:
    id: int
    request_id: str
    kind: str
    data: dict[str, Any]
    attempts: int
    # Where it goes: its request's public thread, or that request's requester in private.
    # Events of one thread go out one at a time, in order.
    thread: str
    # The channel a public one is posted in ('' for a request with none); None: private.
    channel: str | None = None


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)  # the store writes them: always ISO 8601 with a zone


def _maybe_time(value: str | None) -> datetime | None:
    return _parse_time(value) if value else None
