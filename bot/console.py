"""The console demo: the same service, with the terminal as the chat surface.

Like Hubot's shell adapter: type what you would type after `/ops`, see the very Block Kit
messages the bot would post, rendered as text.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from bot import messages, text
from bot.ports import ThreadRef
from bot.service import OpsService, Proposed
from store import OutboxEvent, RequestRecord

CHANNEL = "console"
USER = "you"
DATE_TOKEN = re.compile(r"<!date\^(\d+)\^[^|>]*\|([^>]*)>")
MENTION = re.compile(r"<@([^>|]+)>")
DEMO_HELP = (
    "Type what you would type after /ops, e.g. `restart nginx on server-02 now`,\n"
    "then `confirm` or `cancel`. Also: `list`, `status txn_1001`, `help`, `quit`."
)


class Terminal:
    """Turns Slack messages into terminal text in one reader's zone."""

    def __init__(self, *, out: TextIO, tz: str) -> None:
        self.out = out
        self.zone = ZoneInfo(tz)

    def text(self, mrkdwn: str) -> str:
        def local(match: re.Match[str]) -> str:
            moment = datetime.fromtimestamp(int(match.group(1)), UTC).astimezone(self.zone)
            return moment.strftime("%a %d %b %H:%M %Z")

        plain = DATE_TOKEN.sub(local, mrkdwn)
        plain = MENTION.sub(lambda m: "@" + m.group(1), plain).replace("*", "")
        return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

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
                buttons = "  ".join(f"[ {e['text']['text']} ]" for e in block["elements"])
                lines.append(f"{buttons}   (type confirm or cancel)")
        for line in lines:
            self.say(prefix + line)

    def say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


class ConsoleNotifier:
    """The thread is the terminal: replies are printed as they are delivered."""

    def __init__(self, *, terminal: Terminal) -> None:
        self._terminal = terminal

    def open_thread(self, request: RequestRecord) -> ThreadRef:
        self._terminal.say("── posted in #console ──")
        self._terminal.show({"blocks": messages.status_message(request)}, prefix="│ ")
        return ThreadRef(channel=CHANNEL, status_ts=f"console-{request.id}")

    def deliver(self, event: OutboxEvent, request: RequestRecord) -> None:
        prefix = "  (only you) " if event.kind.startswith("private") else "  ↳ "
        self._terminal.say(prefix + self._terminal.text(messages.event_text(event, request)))

    def refresh(self, request: RequestRecord) -> None:
        """The terminal has no message to edit: the thread lines already said it all."""


class ConsoleChat:
    def __init__(self, *, service: OpsService, terminal: Terminal, tz: str) -> None:
        self._service = service
        self._terminal = terminal
        self._tz = tz
        self._pending: str | None = None
        self.started: list[str] = []  # request ids confirmed in this session

    def handle(self, line: str) -> bool:
        """One line typed; False when the person asked to quit."""
        typed = line.strip()
        if typed.lower().startswith("/ops"):
            typed = typed[4:].strip()
        word = typed.lower()
        if not typed:
            return True
        if word in ("quit", "exit"):
            return False
        if word in ("confirm", "yes", "y"):
            self._click(confirm=True)
        elif word in ("cancel", "no", "n"):
            self._click(confirm=False)
        elif word == "?":
            self._terminal.say(DEMO_HELP)
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
            self._terminal.say("Nothing is waiting for confirmation. Type a request first.")
            return
        request_id, self._pending = self._pending, None
        if confirm:
            outcome = self._service.confirm(request_id, user=USER)
            if outcome.ok:
                self.started.append(request_id)
        else:
            outcome = self._service.cancel(request_id, user=USER)
            if outcome.ok:
                self._terminal.say(text.CANCELLED)
        if not outcome.ok:
            self._terminal.say(text.click_refusal(outcome.reason, detail=outcome.detail))

    def run(self, lines: Iterable[str], *, interactive: bool) -> None:
        self._terminal.say(DEMO_HELP)
        for line in lines:
            if not interactive:
                self._terminal.say(f"you> {line.rstrip()}")
            if not self.handle(line):
                return

    def settled(self) -> bool:
        """Every operation started here has a final status, and every message went out."""
        for request_id in self.started:
            request = self._service.store.get_request(request_id)
            if request is None or not all(op.settled for op in request.operations):
                return False
        return not self._service.store.pending_outbox(limit=1)

    def wait_until_settled(self, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.settled():
                return True
            time.sleep(0.2)
        return self.settled()
