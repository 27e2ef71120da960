"""Slack's messages as a terminal shows them: no markup, dates in the reader's zone, buttons as
the words to type."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot import say
from bot.say import common_blocks

# Slack's markup, in the order it is undone: `<…>` tokens first (their `|` and `_` are not
# formatting), then code, then emphasis, and the escaped &, <, > last, so that text a person
# typed as `&lt;b&gt;` comes out as `<b>`, never as a token.
DATE_TOKEN = re.compile(r"<!date\^(\d+)\^[^|>]*\|([^>]*)>")
TOKEN = re.compile(r"<([@#!]?)([^|>]*)(?:\|([^>]*))?>")  # <@U1>, <#C1|ops>, <!here>, <url|label>
CODE_BLOCK = re.compile(r"```(.*?)```", re.DOTALL)
CODE = re.compile(r"`([^`\n]+)`")
# As in Slack, an emphasis mark counts only at a word's edge: txn_1001 and my_server keep
# their underscores.
EMPHASIS = [
    re.compile(
        rf"(?<![\w{mark}]){re.escape(mark)}(?=\S)(.+?)(?<=\S){re.escape(mark)}(?![\w{mark}])"
    )
    for mark in "*_~"
]
ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
# A button is the word typed in its place. Most are their label in lower case; Move's label
# carries a date ("Move to Sat 22:00 Europe/Madrid"), which nobody should have to type.
BUTTON_WORDS = {
    common_blocks.ACTION_CONFIRM: "confirm",
    common_blocks.ACTION_CANCEL: "cancel",
    common_blocks.ACTION_SEND_AGAIN: "send again",
    common_blocks.ACTION_DROP: "drop",
    common_blocks.ACTION_APPROVE: "approve",
    common_blocks.ACTION_REJECT: "reject",
    common_blocks.ACTION_MOVE_TO_WINDOW: "move",
    common_blocks.ACTION_MOVE_OUTSIDE: "move",
    common_blocks.ACTION_DROP_OUTSIDE: "drop",
}


def plain_text(mrkdwn: str, *, zone: ZoneInfo) -> str:
    """Slack mrkdwn as a terminal shows it: no markup, dates in the reader's zone."""

    def local(match: re.Match[str]) -> str:
        return local_time(datetime.fromtimestamp(int(match.group(1)), UTC), zone=zone)

    def token(match: re.Match[str]) -> str:
        sigil, target, label = match.groups()
        if sigil == "!":  # a special mention (<!here>), or a date or token with a fallback
            # A user group, <!subteam^S0DBA>, is mentioned by its id, as people are.
            return label or f"@{target.removeprefix('subteam^')}"
        return f"{sigil}{label or target}"

    plain = DATE_TOKEN.sub(local, mrkdwn)
    plain = TOKEN.sub(token, plain)
    plain = CODE_BLOCK.sub(r"\1", plain)
    plain = CODE.sub(r"\1", plain)
    for emphasis in EMPHASIS:
        plain = emphasis.sub(r"\1", plain)
    for entity, character in ENTITIES:
        plain = plain.replace(entity, character)
    return plain


def local_time(moment: datetime, *, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%a %d %b %H:%M %Z")


class Terminal:
    """Turns Slack messages into terminal text in one reader's zone."""

    def __init__(self, *, out: TextIO, tz: str) -> None:
        self.out = out
        self.zone = ZoneInfo(tz)

    def text(self, mrkdwn: str) -> str:
        return plain_text(mrkdwn, zone=self.zone)

    def show(self, message: dict[str, Any], *, prefix: str = "") -> None:
        lines: list[str] = []
        for block in message.get("blocks") or [
            {"type": "section", "text": {"text": message.get("text", "")}}
        ]:
            if block["type"] in ("section", "header"):
                lines.extend(self.text(block["text"]["text"]).splitlines())
            elif block["type"] == "context":
                lines.extend(self.text(e.get("text", "")) for e in block["elements"])
            elif block["type"] == "actions":
                labels = [e["text"]["text"] for e in block["elements"]]
                buttons = "  ".join(f"[ {label} ]" for label in labels)
                words = say.common.or_list(
                    [
                        BUTTON_WORDS.get(e.get("action_id", ""), label.lower())
                        for e, label in zip(block["elements"], labels, strict=True)
                    ]
                )
                lines.append(f"{buttons}   (type {words})")
        for line in lines:
            self.say(prefix + line)

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()
