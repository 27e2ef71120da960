"""`opsbot audit`: the audit trail as text, JSON lines or CSV, each line with the Slack
permalink of its request where there is one."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

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


# The text format's columns and their widths: wide enough for the usual value (a Slack id, a
# request id), so that lines align; a longer value pushes its line along rather than be cut.
_WIDTHS = (("at", 29), ("event", 12), ("actor", 11), ("channel", 11), ("request_id", 14))


def write_text(out: TextIO, items: Iterable[dict[str, Any]]) -> int:
    count = 0
    for item in items:
        cells = [str(item[key] or "-").ljust(width) for key, width in _WIDTHS]
        tail = [f"{key}={item[key]}" for key in ("device_name", "api_id") if item[key]]
        if item["detail"]:
            tail.append(json.dumps(item["detail"], ensure_ascii=False, separators=(",", ":")))
        if item.get("permalink"):
            tail.append(item["permalink"])
        out.write(" ".join(cells + tail).rstrip() + "\n")
        count += 1
    return count


WRITERS = {"text": write_text, "json": write_json, "csv": write_csv}
