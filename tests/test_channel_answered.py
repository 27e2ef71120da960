"""May the bot post in this channel? A request's operations wait for that answer, so that a
definite refusal (not in the channel, archived, gone) stops the request before anything is
sent. Its own public message need not be the one to answer: any public message of the bot's
in that channel that Slack took, tried after the request was confirmed, answers the same
question, and in a busy channel (one message a second) that comes long before the request's
own turn. One tried before the confirmation does not: the bot may have been removed since.

Driven by hand, one round of each loop at a time, over real parts: the store on a file, the
fake Slack with its limits, the API simulator, the outbox and the sender with the policy's
gate, so that what is asserted is an order of events, not a timing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.answers import Proposed
from bot.policy.gate import SendGate
from bot.policy.rules import Policy
from bot.service import OpsService, utcnow
from bot.slack.notifier import SlackNotifier, web_client
from bot.track.outbox import NOT_POSTED, UNDELIVERED, OutboxSender
from bot.track.pacing import ChannelPacer
from bot.track.sending import Sender
from bot.track.tuning import Tuning
from bot.zequenze.api import ZequenzeClient
from bot.zequenze.devices import DeviceBook
from bot.zequenze.simulator.endpoint import Simulator
from store import ROOT, RequestRecord, Store
from tests.fakes import BOT_TOKEN, FakeSlack
from tests.test_store import ALICE, T0, new_request

# Only an answer from Slack lets an operation go in these tests, never the clock.
NO_ROOT_WAIT = Tuning(root_wait=timedelta(hours=1))
BUSY = "CBUSY"


class Turns:
    """The channel pacer's clock, moved by the test: a channel's next public message gets its
    turn when the test says a second has passed, never by itself."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def next(self) -> None:
        self.now += 1.0


@dataclass
class Parts:
    store: Store
    service: OpsService
    outbox: OutboxSender
    sender: Sender
    slack: FakeSlack
    simulator: Simulator
    turns: Turns

    def request(self, device: str, *, channel: str = BUSY) -> str:
        answer = self.service.handle_text(
            f"reboot {device} now", requester=ALICE, tz="UTC", surface="command", channel=channel
        )
        assert isinstance(answer, Proposed), answer
        return answer.request.id

    def confirm(self, request_id: str) -> None:
        self.service.confirm(request_id, user=ALICE)
        assert self.loaded(request_id).state == "confirmed"

    def loaded(self, request_id: str) -> RequestRecord:
        request = self.store.get_request(request_id)
        assert request is not None
        return request

    def sent(self) -> list[str]:
        """The devices the API was sent an operation for, in order."""
        return [op["device_name"] for op in self.simulator.operations()]

    def roots(self, channel: str = BUSY) -> list[dict]:
        """The public messages Slack took in `channel`."""
        return [
            c.args
            for c in self.slack.calls_to("chat.postMessage")
            if c.args["channel"] == channel
            and not c.args.get("thread_ts")
            and isinstance(c.response, dict)
            and c.response.get("ok")
        ]


@pytest.fixture
def parts(tmp_path: Path, slack: FakeSlack, simulator: Simulator) -> Iterator[Parts]:
    """The bot's parts as the runtime assembles them, their loops not started: each round is
    run by the test. One public message a second per channel, with no burst."""
    store = Store(path=tmp_path / "opsbot.db")
    api = ZequenzeClient(base_url=simulator.url, token=simulator.token, retry_base=0.01)
    devices = DeviceBook(store=store, clock=utcnow)
    policy = Policy()
    service = OpsService(
        store=store, api=api, devices=devices, policy=policy, clock=utcnow, tuning=NO_ROOT_WAIT
    )
    turns = Turns()
    outbox = OutboxSender(
        store=store,
        notifier=SlackNotifier(client=web_client(token=BOT_TOKEN, base_url=slack.api_url)),
        clock=utcnow,
        pacer=ChannelPacer(gap=1.0, burst=1, clock=turns),
    )
    sender = Sender(
        store=store,
        api=api,
        devices=devices,
        clock=utcnow,
        tuning=NO_ROOT_WAIT,
        gate=SendGate(store=store, policy=policy, desk=service.desk, clock=utcnow),
    )
    yield Parts(store, service, outbox, sender, slack, simulator, turns)
    sender.close()
    api.close()
    store.close()


def test_requests_confirmed_before_a_post_in_their_channel_go_without_their_own(
    parts: Parts,
) -> None:
    """Three requests confirmed in a busy channel, one public message a second: the first
    one Slack takes answers for all three, and the three operations go, two of them before
    their own messages had their turns (one and two seconds later)."""
    first, second, third = (parts.request(f"server-0{n}") for n in (1, 2, 3))
    elsewhere = parts.request("server-04", channel="CQUIET")
    for request_id in (first, second, third):
        parts.confirm(request_id)
    assert parts.sender.submit_pending() == 0  # nothing goes before Slack has answered

    parts.outbox.deliver_pending()
    assert len(parts.roots()) == 1  # the first's; the others wait for their turns
    assert parts.sender.submit_pending() == 3
    assert sorted(parts.sent()) == ["server-01", "server-02", "server-03"]
    assert [parts.loaded(r).status_ts is None for r in (first, second, third)] == [
        False,
        True,
        True,
    ]
    # Another channel's request learns nothing from it: confirmed now, it waits for its own.
    parts.confirm(elsewhere)
    assert parts.sender.submit_pending() == 0
    parts.outbox.deliver_pending()
    assert len(parts.roots("CQUIET")) == 1
    assert parts.sender.submit_pending() == 1
    assert parts.sent()[-1] == "server-04"
    for _ in range(2):  # the others' own messages, in their turns: nothing is sent twice
        parts.turns.next()
        parts.outbox.deliver_pending()
    assert len(parts.roots()) == 3
    assert parts.sender.submit_pending() == 0
    assert len(parts.sent()) == 4


def test_a_request_confirmed_after_the_channels_last_post_waits_for_a_later_one(
    parts: Parts,
) -> None:
    """The bot posted in the channel a moment ago, then was removed. A request confirmed
    since is not sent on that old answer: it waits for a post tried after it, which Slack
    refuses, and that refusal stops it. Nothing of it reaches the API."""
    before, after = parts.request("server-01"), parts.request("server-02")
    parts.confirm(before)
    parts.outbox.deliver_pending()
    assert parts.sender.submit_pending() == 1  # Slack took its message: in the channel
    assert parts.sent() == ["server-01"]

    parts.slack.fail("chat.postMessage", error="not_in_channel", times=None, channel=BUSY)
    parts.confirm(after)
    assert parts.sender.submit_pending() == 0  # the answer it has is older than it
    parts.turns.next()
    parts.outbox.deliver_pending()  # its public message: refused
    assert [op.state for op in parts.loaded(after).operations] == ["rejected"]
    assert NOT_POSTED in told(parts.store, after)  # its requester is told why, privately
    assert parts.sender.submit_pending() == 0
    assert parts.sent() == ["server-01"]


def test_removed_between_the_answer_and_its_own_message_a_request_goes_on(
    parts: Parts,
) -> None:
    """What no check catches, before as now: the bot removed after Slack took a message
    that answered for a request, whose operation went. Its own message, refused, cannot
    stop it any more; its requester is told privately that it could not be posted."""
    first, second = parts.request("server-01"), parts.request("server-02")
    parts.confirm(first)
    parts.confirm(second)
    parts.outbox.deliver_pending()
    assert parts.sender.submit_pending() == 2
    parts.slack.fail("chat.postMessage", error="not_in_channel", times=None, channel=BUSY)
    parts.turns.next()
    parts.outbox.deliver_pending()
    request = parts.loaded(second)
    assert request.status_ts is None and request.operations[0].state == "submitted"
    assert UNDELIVERED in told(parts.store, second)


def test_a_request_answered_for_by_another_post_still_meets_the_gate(parts: Parts) -> None:
    """The channel's answer lets an operation go no further than the gate: a frozen device's
    waits, and a refusal that comes before the freeze ends still stops its request, which
    has nothing sent."""
    first, frozen = parts.request("server-01"), parts.request("server-02")
    parts.store.add_freeze(
        devices=("server-02",), reason="rack move", by=ALICE, channel=BUSY, now=utcnow(), until=None
    )
    parts.confirm(first)
    parts.confirm(frozen)
    parts.outbox.deliver_pending()
    assert parts.loaded(frozen).status_ts is None and parts.loaded(frozen).root_tried_at
    assert parts.sender.submit_pending() == 1
    assert parts.sent() == ["server-01"]
    assert parts.loaded(frozen).operations[0].held_since is not None

    parts.slack.fail("chat.postMessage", error="not_in_channel", times=None, channel=BUSY)
    parts.turns.next()
    parts.outbox.deliver_pending()  # its own message, in its turn: refused
    assert [op.state for op in parts.loaded(frozen).operations] == ["rejected"]
    parts.store.lift_freezes(
        [f.id for f in parts.store.active_freezes(now=utcnow())], by=ALICE, now=utcnow()
    )
    assert parts.sender.submit_pending() == 0
    assert parts.sent() == ["server-01"]


def told(store: Store, request_id: str) -> list[str]:
    with store.engine.read() as tx:
        return [
            row["kind"]
            for row in tx.rows(
                "SELECT kind FROM outbox WHERE request_id = ? ORDER BY id", [request_id]
            )
        ]


# --- the store's side: which requests one post answers for ----------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(path=tmp_path / "s.db")
    yield opened
    opened.close()


def in_channel(store: Store, channel: str) -> RequestRecord:
    request = new_request(store)
    with store.engine.write() as tx:
        tx.execute("UPDATE requests SET channel = ? WHERE id = ?", [channel, request.id])
    return request


def root_of(store: Store, request_id: str) -> int:
    (event,) = [e for e in store.pending_outbox() if e.request_id == request_id]
    assert event.kind == ROOT
    return event.id


def due(store: Store) -> set[str]:
    later = T0 + timedelta(minutes=5)
    return {op.request_id for op in store.operations_to_send(now=later, root_wait=timedelta(1))}


def test_a_post_answers_for_those_confirmed_in_its_channel_before_it_was_tried(
    store: Store,
) -> None:
    posted, waiting, approving, other = (in_channel(store, c) for c in ("C1", "C1", "C1", "C2"))
    for request in (posted, waiting, other):
        assert store.confirm(request.id, user=ALICE, now=T0, run_at=None)
    assert store.confirm(
        approving.id,
        user=ALICE,
        now=T0,
        run_at=None,
        approvals_needed=1,
        approver_sets=[None],
        approval_expires_at=T0 + timedelta(hours=1),
    )
    covers = store.newest_event_id()  # read as the post is tried
    # Confirmed while it was under way, in the same second (the bot's clock has whole
    # seconds): not answered for. The outbox's ids order the two, not the clock.
    later = in_channel(store, "C1")
    assert store.confirm(later.id, user=ALICE, now=T0, run_at=None)
    assert due(store) == set()

    assert store.root_posted(root_of(store, posted.id), status_ts="1.1", now=T0, covers=covers)
    assert due(store) == {posted.id, waiting.id}
    assert store.get_request(waiting.id).status_ts is None  # its own message still waits
    # Waiting for approval, it goes once approved, on the same answer.
    assert store.get_request(approving.id).root_tried_at is not None
    assert store.get_request(later.id).root_tried_at is None
    assert store.get_request(other.id).root_tried_at is None


def test_a_post_without_covers_answers_for_its_own_request_alone(store: Store) -> None:
    """A message found in the channel on a later try may have been posted before the others
    were confirmed: it answers for its own request only, as before."""
    found, waiting = in_channel(store, "C1"), in_channel(store, "C1")
    for request in (found, waiting):
        assert store.confirm(request.id, user=ALICE, now=T0, run_at=None)
    assert store.root_posted(root_of(store, found.id), status_ts="1.1", now=T0)
    assert due(store) == {found.id}


def test_a_refusal_after_a_post_still_stops_those_it_did_not_answer_for(store: Store) -> None:
    answered, unanswered = in_channel(store, "C1"), in_channel(store, "C1")
    assert store.confirm(answered.id, user=ALICE, now=T0, run_at=None)
    covers = store.newest_event_id()
    assert store.confirm(unanswered.id, user=ALICE, now=T0, run_at=None)
    assert store.root_posted(root_of(store, answered.id), status_ts="1.1", now=T0, covers=covers)
    stopped = store.stop_unposted(
        "C1", reason="invite me", error="not_in_channel", now=T0, notice=NOT_POSTED
    )
    assert stopped == [unanswered.id]
    assert due(store) == {answered.id}
