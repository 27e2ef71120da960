"""The console demo: the same service, with the terminal as the chat surface.

Like Hubot's shell adapter: type what you would type after `/ops`, see the very Block Kit
messages the bot would post, rendered as plain text for a terminal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta

from bot import messages, text
from bot.answers import Proposed
from bot.console.terminal import Terminal, compact_names, local_time
from bot.service import OpsService
from store import SUCCEEDED_STATUSES, OperationRecord, OutboxEvent, RequestRecord

log = logging.getLogger(__name__)

CHANNEL = "console"
USER = "you"
DELIVERY_WAIT = 2.0  # seconds the ending waits, beyond its own, for the thread's last lines


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
        # The simulator's inventory is what its list would show once used: known from the
        # start, so that `REBOOT Server-01 NOW` is spelled server-01 in a fresh demo too.
        service.devices.learn({"device_name": name} for name in devices)
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
