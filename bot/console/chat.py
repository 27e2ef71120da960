"""The console demo: the same service, with the terminal as the chat surface.

Like Hubot's shell adapter: type what you would type after `/ops`, see the very Block Kit
messages the bot would post, rendered as plain text for a terminal. One person types for all:
a line starting `as U0002` is typed as U0002, so that an approval can be tried without Slack.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta

from bot import say
from bot.answers import Outcome, Proposed
from bot.console.greeting import greeting
from bot.console.setup import CHANNEL, USER, Cast
from bot.console.terminal import Terminal, local_time
from bot.say import track_blocks
from bot.service import OpsService
from store import (
    FINISHED,
    OUTSIDE,
    SUCCEEDED_STATUSES,
    OperationRecord,
    OutboxEvent,
    RequestRecord,
)

log = logging.getLogger(__name__)

SLACK_USER = re.compile(r"[UW][A-Z0-9]+")
REQUEST_ID = re.compile(r"r_\S*", re.IGNORECASE)  # `confirm r_…`: one of several waiting
DELIVERY_WAIT = 2.0  # seconds the ending waits, beyond its own, for the thread's last lines


class ConsoleNotifier:
    """The thread is the terminal: replies are printed as they are delivered."""

    def __init__(self, *, terminal: Terminal, user: str = USER, channel: str = CHANNEL) -> None:
        self._terminal = terminal
        self._user = user  # the person at the terminal
        self._channel = channel
        self._summaries: dict[str, str] = {}  # request id → the summary line last printed

    def post_root(self, request: RequestRecord, *, retry: bool) -> str:
        self._terminal.say(f"── posted in #{request.channel or self._channel} ──")
        self._terminal.show({"blocks": track_blocks.status_message(request)}, prefix="│ ")
        return f"console-{request.id}"

    def deliver(self, event: OutboxEvent, request: RequestRecord) -> None:
        # Private lines go to the requester, who is not always the person at the terminal.
        only = "you" if request.requester == self._user else f"@{request.requester}"
        prefix = f"  (only {only}) " if event.kind.startswith("private") else "  ↳ "
        if event.kind == FINISHED:
            # The counts the end sums up come before it, not after it as the edit that
            # follows in Slack would print them: the end is the request's last line.
            self._summary(request)
        self._terminal.show(track_blocks.thread_message(event, request), prefix=prefix)

    def refresh(self, request: RequestRecord) -> None:
        """The terminal has no message to edit. One operation: the thread lines already said
        it all. Several: the thread tells only failures and the end, so the live summary's
        counts are printed as a line of their own, as often as Slack's message is edited
        with something new."""
        self._summary(request)

    def _summary(self, request: RequestRecord) -> None:
        if len({op.device_name.lower() for op in request.operations}) <= 1:
            return
        line = f"{request.id}: {' · '.join(track_blocks.summary_lines(request))}"
        if self._summaries.get(request.id) != line:
            self._summaries[request.id] = line
            self._terminal.show({"text": line}, prefix="│ ")


class ConsoleChat:
    def __init__(
        self,
        *,
        service: OpsService,
        terminal: Terminal,
        tz: str,
        devices: Sequence[str],
        groups: Mapping[str, Sequence[str]] | None = None,
        user: str = USER,
        channel: str = CHANNEL,
        failing: Sequence[str] = (),
        database: str | None = None,
    ) -> None:
        """`user` and `channel`: who the person at the terminal is and where they type;
        `groups`: the user groups' members, as Slack would say them; `failing`: devices whose
        operations fail in the simulator; `database`: the file kept after the demo, if any."""
        self._service = service
        self._terminal = terminal
        self._tz = tz
        self._user = user
        self._channel = channel
        self._cast = Cast(
            user=user,
            channel=channel,
            groups={group: tuple(users) for group, users in (groups or {}).items()},
            fail=tuple(failing),
        )
        self._database = database
        self._greeting = greeting(
            self._cast, service.policy.config, devices=devices, database=database
        )
        # The simulator's inventory is what its list would show once used: known from the
        # start, so that `REBOOT Server-01 NOW` is spelled server-01 in a fresh demo too.
        service.devices.learn({"device_name": name} for name in devices)
        # Each person's confirmations are their own, as Slack shows them to them alone, and
        # each is a message with its own buttons: a second does not replace the first.
        # `confirm` answers the newest proposed to whoever types it, `confirm r_…` the one it
        # names. Oldest first.
        self._pending: dict[str, list[str]] = {}
        self.started: list[str] = []  # request ids confirmed in this session

    # --- what is typed --------------------------------------------------------------------

    def handle(self, line: str) -> bool:
        """One line typed; False when the person asked to quit. Whatever breaks, the person
        gets a sentence and the demo goes on; the details go to the log."""
        try:
            return self._handle(line)
        except Exception:
            log.exception("the console could not handle %r", line)
            self._terminal.say(self._terminal.text(say.track.INTERNAL_ERROR))
            return True

    def _handle(self, line: str) -> bool:
        typed = line.strip()
        if not typed:
            return True
        user = self._user
        words = typed.split(maxsplit=2)
        if words[0].lower() == "as":
            someone = person(words[1]) if len(words) > 1 else USER
            if len(words) > 1 and not someone:
                self._terminal.say(say.terminal.demo_not_a_user(words[1], you=USER))
                return True
            if len(words) < 3:
                self._terminal.say(say.terminal.DEMO_AS_NOTHING)
                return True
            user = self._user if someone == USER else someone or self._user
            typed = words[2]
        word = typed.lower()
        command, _, argument = typed.partition(" ")
        command, argument = command.lower(), argument.strip()
        # `confirm r_…` names one of several waiting; `cancel txn_1001` is the service's.
        named = not argument or REQUEST_ID.match(argument) is not None
        if word in ("quit", "exit"):
            return False
        if command in ("confirm", "yes", "y") and named:
            self._click(user, confirm=True, request_id=argument)
        elif command in ("cancel", "no", "n") and named:
            self._click(user, confirm=False, request_id=argument)
        elif word in ("send again", "drop"):
            self._answer_question(user, send_again=word == "send again")
        elif command in ("approve", "reject") and len(argument.split()) <= 1:
            self._vote(user, approve=command == "approve", request_id=argument)
        elif command in ("continue", "stop") and len(argument.split()) <= 1:
            self._steer(user, go_on=command == "continue", request_id=argument)
        elif word == "move":
            self._move(user)
        elif word == "?":
            self._terminal.say(self._greeting)
        else:
            result = self._service.handle_text(
                typed, requester=user, tz=self._tz, surface="console", channel=self._channel
            )
            reply = track_blocks.answer(result, now=self._service.clock())
            self._terminal.show(reply.message)
            if isinstance(result, Proposed) and not result.dry_run:  # a dry run is not kept
                waiting = self._pending.setdefault(user, [])
                if waiting:  # Slack would show both, each with its buttons: say so
                    self._terminal.say(say.terminal.demo_also_waiting(self._described(waiting)))
                waiting.append(result.request.id)
        return True

    def _described(self, request_ids: Iterable[str]) -> list[str]:
        """`r_… (reboot server-01 now)` for each request, as it was typed."""
        described = []
        for request_id in request_ids:
            request = self._service.store.get_request(request_id)
            described.append(say.terminal.demo_request(request_id, request.text if request else ""))
        return described

    def _click(self, user: str, *, confirm: bool, request_id: str = "") -> None:
        """Confirm or Cancel: on the request named, or the newest waiting for this person.
        Said with its id, so that which of several it was is never a guess."""
        waiting = self._pending.get(user, [])
        if not waiting:
            self._terminal.say(say.terminal.DEMO_NOTHING_PENDING)
            return
        target = request_id.lower() or waiting[-1]
        if target not in waiting:
            self._terminal.say(say.terminal.demo_not_waiting(request_id, self._described(waiting)))
            return
        waiting.remove(target)
        [described] = self._described([target])
        if confirm:
            outcome = self._service.confirm(target, user=user)
            if outcome.ok:
                self.started.append(target)
                self._terminal.say(say.terminal.demo_confirmed(described))
                if outcome.request is not None and outcome.request.state == "approving":
                    self._hint_approval(outcome.request, requester=user)
        else:
            outcome = self._service.cancel(target, user=user)
            if outcome.ok:
                self._terminal.say(say.terminal.demo_cancelled(described))
        if not outcome.ok:
            self._refuse(outcome)
        if waiting:
            self._terminal.say(say.terminal.demo_still_waiting(self._described(waiting)))

    def _hint_approval(self, request: RequestRecord, *, requester: str) -> None:
        """Slack shows the Approve button to everyone; here, say how to be someone else, as
        many as the approval needs."""
        named = [i for ids in request.approver_sets if ids is not None for i in ids]
        people = [p for p in self._cast.people(named) if p != requester]
        if not people:  # anyone may approve, or only an unknown group's members
            people = [p for p in ("U0002", "U0003", "U0004") if p != requester]
        self._terminal.say(
            say.terminal.demo_approval_hint(people[: max(request.approvals_needed, 1)])
        )

    def _vote(self, user: str, *, approve: bool, request_id: str) -> None:
        """The public message's Approve and Reject: for the request named, or the newest
        one waiting for approval."""
        target = request_id or self._awaiting_approval()
        if target is None:
            self._terminal.say(say.terminal.DEMO_NOTHING_TO_APPROVE)
            return
        approvals = self._service.approvals
        outcome = (approvals.approve if approve else approvals.reject)(target, user=user)
        if outcome.ok:
            withdrawn = outcome.request is not None and outcome.request.requester == user
            said = say.track.vote_answer(approve=approve, withdrawn=withdrawn)
            self._terminal.say(self._terminal.text(said))
        else:
            self._refuse(outcome)

    def _awaiting_approval(self) -> str | None:
        for request_id in reversed(self.started):
            request = self._service.store.get_request(request_id)
            if request is not None and request.state == "approving":
                return request_id
        return None

    def _steer(self, user: str, *, go_on: bool, request_id: str) -> None:
        """A halted request's Continue and Stop: for the request named, or the newest one
        halted after a failed wave."""
        target = request_id or self._halted()
        request = self._service.store.get_request(target) if target else None
        if request is None:
            self._terminal.say(say.waves.DEMO_NOTHING_HALTED)
            return
        value = f"{request.id}:{request.wave}"
        act = self._service.halts.go_on if go_on else self._service.halts.stop
        outcome = act(value, user=user)
        if outcome.ok:
            said = say.waves.CONTINUE_ANSWER if go_on else say.waves.STOP_ANSWER
            self._terminal.say(self._terminal.text(said))
        else:
            self._refuse(outcome)

    def _halted(self) -> str | None:
        halted = set(self._service.store.halted_requests())
        return next((r for r in reversed(self.started) if r in halted), None)

    def _move(self, user: str) -> None:
        """The confirmation's Move button: the request, moved into its window, is shown
        again to be confirmed. With no confirmation open, the thread's Move for what waits
        outside its window."""
        waiting = self._pending.get(user)
        if not waiting:
            if not self._answer_outside(user, move=True):
                self._terminal.say(say.terminal.DEMO_NOTHING_PENDING)
            return
        request_id = waiting[-1]
        outcome = self._service.move_to_window(request_id, user=user)
        if outcome.ok and outcome.request is not None:
            moved = Proposed(request=outcome.request)
            self._terminal.show(track_blocks.answer(moved, now=self._service.clock()).message)
        else:
            self._refuse(outcome)

    def _answer_question(self, user: str, *, send_again: bool) -> None:
        """The console's Send again / Drop buttons: for the oldest question still open to
        the person typing (only a requester is asked about their operations)."""
        asked = [
            op for op in self.unfinished(requester=user) if op.state == "unknown" and op.asked_at
        ]
        if not asked:
            if send_again or not self._answer_outside(user, move=False):
                self._terminal.say(say.terminal.DEMO_NO_QUESTION)
            return
        answer = self._service.send_again if send_again else self._service.drop
        outcome = answer(asked[0].id, user=user)
        if not outcome.ok:
            self._refuse(outcome)

    def _answer_outside(self, user: str, *, move: bool) -> bool:
        """The thread's Move or Drop for the newest request with operations waiting outside
        their window; False when none has."""
        waiting = {op.request_id for op in self.unfinished() if op.state == OUTSIDE}
        request_id = next((r for r in reversed(self.started) if r in waiting), None)
        if request_id is None:
            return False
        outside = self._service.outside
        outcome = (outside.move if move else outside.drop)(request_id, user=user)
        if outcome.ok:
            said = say.policy.MOVED_ANSWER if move else say.policy.DROPPED_ANSWER
            self._terminal.say(self._terminal.text(said))
        else:
            self._refuse(outcome)
        return True

    def _refuse(self, outcome: Outcome) -> None:
        requester = f"<@{outcome.request.requester}>" if outcome.request else "the requester"
        refusal = say.track.click_refusal(
            outcome.reason, requester=requester, detail=outcome.detail
        )
        self._terminal.say(self._terminal.text(refusal))

    def run(self, lines: Iterable[str], *, interactive: bool) -> None:
        self._terminal.say(self._greeting)
        for line in lines:
            if not interactive:
                # Piped lines come at once: what the last one set off (the public message,
                # an approval's line) is printed before the next, as a person typing would see.
                self._caught_up(wait=DELIVERY_WAIT)
                self._terminal.say(f"you> {line.rstrip()}")
            if not self.handle(line):
                return

    def _caught_up(self, *, wait: float) -> None:
        """Until the messages already due are printed, or `wait` seconds have gone by."""
        deadline = time.monotonic() + wait
        while self._service.store.pending_outbox(limit=1) and time.monotonic() < deadline:
            time.sleep(0.02)

    def operations(self, *, requester: str | None = None) -> list[OperationRecord]:
        """Every operation of the requests confirmed in this session (by `requester` only,
        if given), as the store has it."""
        found: list[OperationRecord] = []
        for request_id in self.started:
            request = self._service.store.get_request(request_id)
            if request is not None and requester in (None, request.requester):
                found += request.operations
        return found

    def unfinished(self, *, requester: str | None = None) -> list[OperationRecord]:
        """The operations started here that have no final status yet."""
        return [op for op in self.operations(requester=requester) if not op.settled]

    def end(self, *, wait: float) -> None:
        """The demo is ending. Wait at most `wait` seconds (0: not at all) for the operations
        started here to end, and for the messages already due to be out; then name those not
        finished and, in one last line, those that failed or were never scheduled. First, the
        requests proposed and never confirmed: nothing of them was sent."""
        unconfirmed = [r for waiting in self._pending.values() for r in waiting]
        if unconfirmed:
            self._terminal.say(say.terminal.demo_unconfirmed(self._described(unconfirmed)))
        if not self.started:
            return
        if wait > 0:
            self._terminal.say(say.terminal.DEMO_WAITING)
        left = self._settle(wait=wait)
        if left:
            lines = [
                say.terminal.demo_operation(
                    device=op.device_name,
                    api_id=op.api_id,
                    status=op.status or _waiting(op) or op.state,
                    when=local_time(op.scheduled_at, zone=self._terminal.zone),
                )
                for op in left
            ]
            self._terminal.say(
                say.terminal.demo_unfinished(
                    lines, waited=round(wait) if wait else None, kept=self._database
                )
            )
        everything = self.operations()
        # A request an approver rejected, or nobody approved in time, did not fail: its
        # thread said why, and nothing of it was meant to run.
        declined = {
            request_id
            for request_id in self.started
            if (request := self._service.store.get_request(request_id)) is not None
            and request.state in ("rejected", "expired")
        }
        failed = [op for op in everything if _failed(op) and op.request_id not in declined]
        if failed:
            names = [
                say.terminal.demo_failed(device=op.device_name, api_id=op.api_id) for op in failed
            ]
            self._terminal.say(say.terminal.demo_failures(names, total=len(everything)))

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
            # Nobody types once the input has ended: an approval or an unfreeze never comes.
            hopeless = remaining <= 0 or all(
                op.scheduled_at > cutoff or _waiting(op) for op in left
            )
            if delivered and (not left or hopeless):
                return left
            if remaining <= -DELIVERY_WAIT:  # a message that cannot be printed: end anyway
                return left
            time.sleep(0.05)


def _failed(operation: OperationRecord) -> bool:
    """Refused before it was scheduled, or ended with a status other than success."""
    if operation.state == "rejected":
        return True
    if operation.state == "stopped":  # never sent: its thread said who stopped it
        return False
    return operation.final and (operation.status or "").lower() not in SUCCEEDED_STATUSES


def _waiting(operation: OperationRecord) -> str | None:
    """What an operation waits for when only a person can end the wait; None otherwise."""
    if operation.state == "draft":  # confirmed, not yet approved
        return say.policy.WAITING_FOR_APPROVAL
    if operation.state == "new" and operation.held_since is not None:
        return say.policy.HELD_BY_FREEZE
    if operation.state == "waiting":  # its wave waits for the one before, or a person
        return say.waves.WAITING_FOR_WAVE
    if operation.state == OUTSIDE:  # Move or Drop
        return say.policy.OUTSIDE_WINDOW
    return None


def person(word: str) -> str | None:
    """Who `as <word>` names: a Slack user id (typed u0002, it is U0002) or the person at
    the terminal; None for anything else, which is refused rather than made up."""
    if word.lower() == USER:
        return USER
    upper = word.upper()
    return upper if SLACK_USER.fullmatch(upper) else None
