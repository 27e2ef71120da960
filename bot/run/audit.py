"""`opsbot audit`: the audit trail as text, JSON lines or CSV, each line with the Slack
permalink of its request where there is one."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot import say
from bot.understand.typed import visible

SLACK_URL = "slack_url"  # the fact that holds the workspace's address, learnt at start

COLUMNS = ("id", "at", "event", "actor", "channel", "request_id", "device_name", "api_id")
_AGO = re.compile(r"(\d{1,6})\s*([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def permalink(workspace_url: str | None, channel: str | None, ts: str | None) -> str | None:
    """Slack's documented permalink shape, https://<workspace>.slack.com/archives/<channel>/
    p<ts without its dot>. Built rather than asked of chat.getPermalink: that would cost a
    call per line of the trail, and `opsbot audit` must work offline, with no token."""
    if not (workspace_url and channel and ts):
        return None
    return f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"


def parse_since(value: str, *, now: datetime) -> datetime:
    """`2026-11-20` (from midnight UTC), an ISO 8601 time with its zone, or a time ago: `7d`,
    `24h`, `30m`. Raises ValueError for anything else, a time without a zone included (it
    would be read in whichever zone the machine is set to)."""
    value = value.strip()
    ago = _AGO.fullmatch(value)
    if ago:
        return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if len(value) == 10:  # a date alone
        return moment.replace(tzinfo=UTC)
    if moment.utcoffset() is None:
        raise ValueError("no time zone")
    return moment


def lines(rows: Iterable[dict[str, Any]], *, workspace_url: str | None) -> Iterator[dict]:
    """Each row as it is printed: the columns, its detail, and its permalink if it has one."""
    for row in rows:
        line = {key: row[key] for key in COLUMNS}
        link = permalink(workspace_url, row.get("request_channel"), row.get("root_ts"))
        if link:
            line["permalink"] = link
        line["detail"] = row["detail"]
        yield line


def write_json(out: TextIO, items: Iterable[dict[str, Any]]) -> int:
    count = 0
    for item in items:
        out.write(json.dumps(item, ensure_ascii=False, sort_keys=False) + "\n")
        count += 1
    return count


def write_csv(out: TextIO, items: Iterable[dict[str, Any]]) -> int:
    writer = csv.writer(out)
    writer.writerow([*COLUMNS, "permalink", "detail"])
    count = 0
    for item in items:
        detail = json.dumps(item["detail"], ensure_ascii=False)
        writer.writerow([*(item[key] for key in COLUMNS), item.get("permalink", ""), detail])
        count += 1
    return count


def write_text(out: TextIO, items: Iterable[dict[str, Any]]) -> int:
    """A short sentence a line: when (UTC), who, what, to which request, and the facts looked
    for first. JSON and CSV carry every detail and the permalink."""
    count = 0
    for item in items:
        # Typed text (a command, a reason, a device name) is data: shown, never obeyed.
        actor, said = visible(str(item["actor"])), visible(sentence(item))
        out.write(say.audit.line(at=_when(item["at"]), actor=actor, sentence=said) + "\n")
        count += 1
    return count


def sentence(item: dict[str, Any]) -> str:
    """What one line of the trail says, from its event and the details it keeps. A detail of
    another shape (a line written by another version) falls back to the plain facts."""
    try:
        return _sentence(item)
    except (TypeError, ValueError, KeyError, AttributeError):
        facts = [f"{key}={value}" for key, value in (item["detail"] or {}).items()]
        return say.audit.other(item["event"], item["request_id"], facts)


def _sentence(item: dict[str, Any]) -> str:
    event, detail = item["event"], item["detail"] or {}
    request = item["request_id"] or ""
    what = _operation(item)
    if event == "requested":
        return say.audit.requested(
            request,
            channel=item["channel"],
            text=str(detail.get("text", "")),
            count=len(detail.get("operations") or ()),
            waves=_count(detail.get("waves")),
        )
    if event == "refused":
        return say.audit.refused(
            channel=item["channel"],
            text=str(detail.get("text", "")),
            reason=_plain(detail.get("reason")),
        )
    if event == "confirmed":
        return say.audit.confirmed(request, approvals=int(detail.get("approvals_needed") or 0))
    if event == "approved":
        return say.audit.approved(request, count=int(detail["count"]), needed=int(detail["needed"]))
    if event in ("rejected", "cancelled", "expired", "approval_expired", "window_closed"):
        return say.audit.ended(request, event=event)
    if event == "approval_needed":
        return say.audit.approval_needed(request, needed=int(detail.get("needed") or 1))
    if event == "rejudged":
        return say.audit.rejudged(
            request, needed=int(detail.get("needed") or 0), count=int(detail.get("count") or 0)
        )
    if event == "policy_refused":
        return say.audit.policy_refused(request, reason=_plain(detail.get("reason")))
    if event == "moved":
        return say.audit.moved(
            request, times=[_when(t, seconds=False) for t in detail.get("times") or ()]
        )
    if event == "dropped":
        return say.audit.dropped(
            request,
            what=what if "operation" in detail else "",
            count=int(detail.get("count") or 0),
            unanswered=bool(detail.get("unanswered")),
        )
    if event == "click_refused":
        return say.audit.click_refused(
            request, action=str(detail.get("action", "")), reason=_plain(detail.get("reason"))
        )
    if event == "stopped":
        return say.audit.stopped(
            request, reason=_plain(detail.get("error") or detail.get("reason"))
        )
    if event == "api_created":
        post = detail.get("post") or {}
        return say.audit.created(
            request,
            api_id=item["api_id"] or "",
            what=what,
            when=_when(post["scheduled_at"], seconds=False) if post.get("scheduled_at") else "",
        )
    if event == "api_status":
        return say.audit.api_status(
            request,
            api_id=item["api_id"] or "",
            device=item["device_name"] or "",
            old=str(detail.get("old") or "-"),
            new=str(detail.get("new") or "-"),
            error=_plain(detail.get("error")),
        )
    if event in ("api_refused", "not_sent", "api_unknown", "api_retrying"):
        return say.audit.not_created(
            request, event=event, what=what, error=_plain(detail.get("error"))
        )
    if event in ("outside_window", "held", "released", "sent_again", "adopted"):
        return say.audit.operation_event(request, event=event, what=what, api_id=item["api_id"])
    if event == "waves_halted":
        return say.audit.waves_halted(
            request,
            wave=int(detail.get("wave") or 0),
            waves=int(detail.get("waves") or 0),
            failed=_count(detail.get("failed")),
        )
    if event == "waves_continued":
        return say.audit.waves_continued(request, wave=int(detail.get("wave") or 0))
    if event == "waves_stopped":
        return say.audit.waves_stopped(
            request,
            wave=int(detail.get("wave") or 0),
            never_sent=int(detail.get("never_sent") or 0),
        )
    if event == "frozen":
        until = detail.get("until")
        return say.audit.frozen(
            devices=detail.get("devices"),
            until=_when(until, seconds=False) if until else None,
            reason=str(detail.get("reason") or ""),
        )
    if event == "unfrozen":
        return say.audit.unfrozen(freeze=detail.get("freeze"))
    facts = [f"{key}={value}" for key, value in detail.items() if isinstance(value, str | int)]
    return say.audit.other(event, request or None, facts)


def _count(value: object) -> int:
    """A count kept as a number, or as the list of what it counts."""
    if isinstance(value, list | tuple):
        return len(value)
    return int(value or 0)  # type: ignore[call-overload]


def _operation(item: dict[str, Any]) -> str:
    post = (item["detail"] or {}).get("post") or {}
    return say.audit.operation(
        kind=str(post.get("operation_type") or ""), device=item["device_name"] or ""
    )


def _when(value: str, *, seconds: bool = True) -> str:
    """An instant of the trail as a person reads it: `2026-11-20 09:00:00 UTC` (without its
    seconds for a time the line mentions)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return str(value)
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC"
    )


def _plain(mrkdwn: object) -> str:
    """A reason the bot said in Slack, as plain words: no markup."""
    from bot.console.terminal import plain_text

    return plain_text(str(mrkdwn or ""), zone=ZoneInfo("UTC"))


WRITERS = {"text": write_text, "json": write_json, "csv": write_csv}
