"""The console demo: the same service, with the terminal as the chat surface.

Like Hubot's shell adapter: type what you would type after `/ops`, see the very Block Kit
messages the bot would post, rendered as plain text for a terminal.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot import messages, text
from bot.service import OpsService, Proposed
from store import SUCCEEDED_STATUSES, OperationRecord, OutboxEvent, RequestRecord

log = logging.getLogger(__name__)

CHANNEL = "console"
USER = "you"
DELIVERY_WAIT = 2.0  # seconds the ending waits, beyond its own, for the thread's last lines

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
NUMBERED = re.compile(r"(.*?)(\d+)")


def plain_text(mrkdwn: str, *, zone: ZoneInfo) -> str:
    """Slack mrkdwn as a terminal shows it: no markup, dates in the reader's zone."""

    def local(match: re.Match[str]) -> str:
        return local_time(datetime.fromtimestamp(int(match.group(1)), UTC), zone=zone)

    def token(match: re.Match[str]) -> str:
        sigil, target, label = match.groups()
        if sigil == "!":  # a special mention (<!here>), or a date or token with a fallback
            return label or f"@{target}"
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


def compact_names(names: Iterable[str]) -> str:
    """`db-01…03, router-01, server-01…20`: three or more consecutive numbers folded."""
    parts: list[tuple[tuple[str, int], str]] = []  # (sort key, text)
    numbered: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for name in set(names):
        match = NUMBERED.fullmatch(name)
        if match:
            numbered[match.group(1)].append((int(match.group(2)), match.group(2)))
        else:
            parts.append(((name, -1), name))
    for prefix, numbers in numbered.items():
        numbers.sort()
        runs = [[numbers[0]]]
        for number in numbers[1:]:
            if number[0] == runs[-1][-1][0] + 1:
                runs[-1].append(number)
            else:
                runs.append([number])
        for run in runs:
            if len(run) > 2:
                parts.append(((prefix, run[0][0]), f"{prefix}{run[0][1]}…{run[-1][1]}"))
            else:
                parts += [((prefix, value), f"{prefix}{digits}") for value, digits in run]
    return ", ".join(part for _, part in sorted(parts))


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
                words = text.or_list([label.lower() for label in labels])
                lines.append(f"{buttons}   (type {words})")
        for line in lines:
            self.say(prefix + line)

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


class ConsoleNotifier:
    """The thread is the terminal: replies are printed as they are delivered."""

    def __init__(self, *, terminal: Terminal) -> None:
        self._terminal = terminal

    def post_root(self, request: RequestRecord, *, retry: bool) -> str:
        self._terminal.say("── posted in #console ──")
        self._terminal.show({"blocks": messages.status_message(request)}, prefix="│ ")
        return f"console-{request.id}"

    def deliver(self, event: OutboxEvent, request: RequestRecord) -> None:
        prefix = "  (only you) " if event.kind.startswith("private") else "  ↳ "
        self._terminal.show(messages.thread_message(event, request), prefix=prefix)

    def refresh(self, request: RequestRecord) -> None:
        """The terminal has no message to edit: the thread lines already said it all."""


class ConsoleChat:
    def __init__(
        self, *, service: OpsService, terminal: Terminal, tz: str, devices: Sequence[str]
    ) -> None:
        self._service = service
        self._terminal = terminal
        self._tz = tz
        self._greeting = text.demo_greeting(compact_names(devices))
        self._pending: str | None = None
        self.started: list[str] = []  # request ids confirmed in this session

    def handle(self, line: str) -> bool:
        """One line typed; False when the person asked to quit. Whatever breaks, the person
        gets a sentence and the demo goes on; the details go to the log."""
        try:
            return self._handle(line)
        except Exception:
            log.exception("the console could not handle %r", line)
            self._terminal.say(self._terminal.text(text.INTERNAL_ERROR))
            return True

    def _handle(self, line: str) -> bool:
        typed = line.strip()
        word = typed.lower()
        if not typed:
            return True
        if word in ("quit", "exit"):
            return False
        if word in ("confirm", "yes", "y"):
            self._click(confirm=True)
        elif word in ("cancel", "no", "n"):
            self._click(confirm=False)
        elif word in ("send again", "drop"):
            self._answer_question(send_again=word == "send again")
        elif word == "?":
            self._terminal.say(self._greeting)
        else:
            result = self._service.handle_text(
                typed, requester=USER, tz=self._tz, surface="console", channel=CHANNEL
            )
            if isinstance(result, Proposed):
                self._pending = result.request.id
            reply = messages.answer(result, now=self._service.clock())
            self._terminal.show(reply.message)
        return True

    def _click(self, *, confirm: bool) -> None:
        if self._pending is None:
            self._terminal.say(text.DEMO_NOTHING_PENDING)
            return
        request_id, self._pending = self._pending, None
        if confirm:
            outcome = self._service.confirm(request_id, user=USER)
            if outcome.ok:
                self.started.append(request_id)
        else:
            outcome = self._service.cancel(request_id, user=USER)
            if outcome.ok:
                self._terminal.say(self._terminal.text(text.CANCELLED))
        if not outcome.ok:
            self._terminal.say(
                self._terminal.text(text.click_refusal(outcome.reason, detail=outcome.detail))
            )

    def _answer_question(self, *, send_again: bool) -> None:
        """The console's Send again / Drop buttons: for the oldest question still open."""
        asked = [op for op in self.unfinished() if op.state == "unknown" and op.asked_at]
        if not asked:
            self._terminal.say(text.DEMO_NO_QUESTION)
            return
        answer = self._service.send_again if send_again else self._service.drop
        outcome = answer(asked[0].id, user=USER)
        if not outcome.ok:
            self._terminal.say(
                self._terminal.text(text.click_refusal(outcome.reason, detail=outcome.detail))
            )

    def run(self, lines: Iterable[str], *, interactive: bool) -> None:
        self._terminal.say(self._greeting)
        for line in lines:
            if not interactive:
                self._terminal.say(f"you> {line.rstrip()}")
            if not self.handle(line):
                return

    def operations(self) -> list[OperationRecord]:
        """Every operation of the requests confirmed in this session, as the store has it."""
        found: list[OperationRecord] = []
        for request_id in self.started:
            request = self._service.store.get_request(request_id)
            if request is not None:
                found += request.operations
        return found

    def unfinished(self) -> list[OperationRecord]:
        """The operations started here that have no final status yet."""
        return [op for op in self.operations() if not op.settled]

    def end(self, *, wait: float) -> None:
        """The demo is ending. Wait at most `wait` seconds (0: not at all) for the operations
        started here to end, and for the messages already due to be out; then name those not
        finished and, in one last line, those that failed or were never scheduled."""
        if not self.started:
            return
        if wait > 0:
            self._terminal.say(text.DEMO_WAITING)
        left = self._settle(wait=wait)
        if left:
            lines = [
                text.demo_operation(
                    device=op.device_name,
                    api_id=op.api_id,
                    status=op.status or op.state,
                    when=local_time(op.scheduled_at, zone=self._terminal.zone),
                )
                for op in left
            ]
            self._terminal.say(text.demo_unfinished(lines, waited=round(wait) if wait else None))
        everything = self.operations()
        failed = [op for op in everything if _failed(op)]
        if failed:
            names = [text.demo_failed(device=op.device_name, api_id=op.api_id) for op in failed]
            self._terminal.say(text.demo_failures(names, total=len(everything)))

    def _settle(self, *, wait: float) -> list[OperationRecord]:
        """Those still unfinished once the thread has said everything it knows, and all have
        ended or `wait` is over. Stops early when those left are scheduled to start after the
        time is up, as waiting cannot help them."""
        deadline = time.monotonic() + wait
        while True:
            left = self.unfinished()
            delivered = not self._service.store.pending_outbox(limit=1)
            remaining = deadline - time.monotonic()
            cutoff = self._service.clock() + timedelta(seconds=max(remaining, 0))
            hopeless = remaining <= 0 or all(op.scheduled_at > cutoff for op in left)
            if delivered and (not left or hopeless):
                return left
            if remaining <= -DELIVERY_WAIT:  # a message that cannot be printed: end anyway
                return left
            time.sleep(0.05)


def _failed(operation: OperationRecord) -> bool:
    """Refused before it was scheduled, or ended with a status other than success."""
    if operation.state == "rejected":
        return True
    return operation.final and (operation.status or "").lower() not in SUCCEEDED_STATUSES
