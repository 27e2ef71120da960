"""The outbox with a backlog (issue 16): with 10 or hundreds of public messages waiting in
one paced channel, a pass reads and sends what the channel has a turn for, and edits what the
workspace's edit budget has a turn for; the backlog holds up no other channel. Counted in
SQLite's virtual machine steps and in requests loaded, never timed. The real outbox, a real
SQLite file and the fake Slack over loopback; the pacers run on a clock the test moves, so
each pass has one turn."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.model import OperationSpec
from bot.slack.notifier import SlackNotifier, web_client
from bot.track.outbox import UNDELIVERED, OutboxSender
from bot.track.pacing import ChannelPacer
from store import RequestRecord, Store
from tests import history
from tests.fakes import BOT_TOKEN, FakeSlack

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BUSY, QUIET = "CBUSY", "CQUIET"
ME = "U123"


class Clock:
    """The pacers' clock (and the sender's), moved by the test: a turn per second."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(post_rate=None, update_rate=None) as fake:
        yield fake


@pytest.fixture
def same_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Request ids counted from 1 in each store: with random ones, where an id falls among the
    others moves an index search by a step or two, backlog or not."""
    numbers = itertools.count(1)
    monkeypatch.setattr(
        "store.requests.secrets", SimpleNamespace(token_hex=lambda _: f"{next(numbers):012x}")
    )


def confirmed(store: Store, device: str, channel: str) -> str:
    """A one-device request confirmed in `channel`: its public message waits to be posted."""
    request = store.create_request(
        specs=[
            OperationSpec(
                device_name=device, operation_type="reboot", scheduled_at=NOW, parameters={}
            )
        ],
        requester=ME,
        surface="command",
        text=f"reboot {device} now",
        tz="UTC",
        immediate=True,
        notes=(),
        channel=channel,
        thread_ts=None,
        response_url=None,
        now=NOW,
        expires_at=NOW + timedelta(minutes=10),
    )
    assert store.confirm(request.id, user=ME, now=NOW, run_at=None)
    return request.id


def in_public(store: Store, device: str, channel: str, ts: str) -> str:
    """Confirmed, its public message posted, and a reply for its thread waiting (its status
    message to edit as well)."""
    request_id = confirmed(store, device, channel)
    (root,) = store.db.execute(
        "SELECT id FROM outbox WHERE request_id = ? AND kind = 'root'", [request_id]
    ).fetchone()
    assert store.root_posted(root, status_ts=ts, now=NOW)
    (operation,) = store.db.execute(
        "SELECT id FROM operations WHERE request_id = ?", [request_id]
    ).fetchone()
    store.enqueue(
        {
            "request_id": request_id,
            "kind": "status",
            "operation_id": operation,
            "old": "scheduled",
            "new": "running",
        },
        now=NOW,
    )
    return request_id


def backlog(store: Store, waiting: int) -> None:
    """`waiting` public messages waiting in BUSY: half of them replies in the threads of
    requests already in public (whose status messages wait to be edited too), half the public
    messages of requests just confirmed."""
    for n in range(waiting // 2):
        in_public(store, f"web-{n:04d}", BUSY, ts=f"{1000 + n}.000100")
    for n in range(waiting - waiting // 2):
        confirmed(store, f"db-{n:04d}", BUSY)


def sender(store: Store, slack: FakeSlack, clock: Clock) -> OutboxSender:
    return OutboxSender(
        store=store,
        notifier=SlackNotifier(client=web_client(token=BOT_TOKEN, base_url=slack.api_url)),
        clock=lambda: NOW,
        pacer=ChannelPacer(gap=1.0, clock=clock),
        edits=ChannelPacer(gap=1.0, burst=1, clock=clock),
        monotonic=clock,
    )


def loads_counted(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The requests `store` loads from now on, in order."""
    loads: list[str] = []
    load = store.get_request

    def counted(request_id: str) -> RequestRecord | None:
        loads.append(request_id)
        return load(request_id)

    monkeypatch.setattr(store, "get_request", counted)
    return loads


def waiting_in(store: Store, channel: str) -> int:
    return store.db.execute(
        "SELECT count(*) FROM outbox o JOIN requests r ON r.id = o.request_id "
        "WHERE r.channel = ? AND o.kind NOT LIKE 'private%' "
        "AND o.delivered_at IS NULL AND o.given_up_at IS NULL",
        [channel],
    ).fetchone()[0]


def passes(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, waiting: int
) -> list[tuple[int, int, int, int]]:
    """Three passes of the outbox, a second apart, with `waiting` messages in BUSY: per pass,
    (SQLite steps, requests loaded, messages posted, status messages edited)."""
    store = Store(path=tmp_path / f"{waiting}.db")
    try:
        backlog(store, waiting)
        clock = Clock()
        outbox = sender(store, slack, clock)
        loads = loads_counted(store, monkeypatch)
        outbox.deliver_pending()  # the channel's burst and the first edit
        costs = []
        for _ in range(3):
            clock.now += 1.0  # one turn for the channel, one edit for the workspace
            del loads[:]
            posts, edits = (
                len(slack.calls_to("chat.postMessage")),
                len(slack.calls_to("chat.update")),
            )
            with history.Steps(store) as steps:
                outbox.deliver_pending()
            costs.append(
                (
                    steps.count,
                    len(loads),
                    len(slack.calls_to("chat.postMessage")) - posts,
                    len(slack.calls_to("chat.update")) - edits,
                )
            )
        assert waiting_in(store, BUSY) >= waiting - 5  # still a backlog: nothing drained it
        return costs
    finally:
        store.close()
        slack.calls.clear()


def test_a_pass_costs_the_same_with_20_or_1000_messages_waiting_in_a_paced_channel(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, same_ids: None
) -> None:
    small = passes(tmp_path, slack, monkeypatch, 20)
    large = passes(tmp_path, slack, monkeypatch, 1000)
    # Each pass posts the one message the channel has a turn for and edits the one status
    # message the workspace has a turn for, reading the two requests they show, and no more.
    assert [cost[1:] for cost in small] == [(2, 1, 1)] * 3, small
    assert [cost[1:] for cost in large] == [(2, 1, 1)] * 3, large
    assert [cost[0] for cost in large] == [cost[0] for cost in small], (small, large)


def test_a_channel_without_a_turn_costs_a_pass_nothing_however_much_waits_there(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, same_ids: None
) -> None:
    costs = {}
    for waiting in (10, 400):
        store = Store(path=tmp_path / f"held{waiting}.db")
        try:
            backlog(store, waiting)
            clock = Clock()
            outbox = sender(store, slack, clock)
            outbox.deliver_pending()  # the burst, and the first edit: no turn is left
            loads = loads_counted(store, monkeypatch)
            with history.Steps(store) as steps:
                assert outbox.deliver_pending() == 0
            assert loads == []
            costs[waiting] = steps.count
            assert 0 < outbox.next_turn() <= 1.0  # and it says when the channel's turn comes
        finally:
            store.close()
    assert costs[400] == costs[10], costs


def test_a_channel_with_hundreds_waiting_holds_up_no_other_channel_nor_private_answers(
    tmp_path: Path, slack: FakeSlack
) -> None:
    store = Store(path=tmp_path / "busy.db")
    try:
        # More public messages waiting in one channel than a pass ever read of them.
        for n in range(250):
            confirmed(store, f"db-{n:04d}", BUSY)
        quiet = in_public(store, "web-01", QUIET, ts="2000.000100")
        store.enqueue({"request_id": quiet, "kind": UNDELIVERED, "reason": "a test"}, now=NOW)
        sender(store, slack, Clock()).deliver_pending()

        replies = [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == QUIET]
        assert [c.args.get("thread_ts") for c in replies] == ["2000.000100"]
        assert slack.calls_to("chat.postEphemeral"), "the private answer waited behind BUSY"
        # BUSY had its burst, no more: the rest wait for their turns.
        assert (
            len([c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == BUSY]) == 2
        )
    finally:
        store.close()


def test_status_messages_are_edited_finished_first_then_the_one_shown_longest_ago(
    tmp_path: Path, slack: FakeSlack
) -> None:
    store = Store(path=tmp_path / "order.db")
    try:
        first, second, third = (
            in_public(store, f"web-{n:02d}", BUSY, ts=f"{3000 + n}.000100") for n in range(3)
        )
        # The third ends: its message shows the end before the others, though shown last.
        (operation,) = store.db.execute(
            "SELECT id FROM operations WHERE request_id = ?", [third]
        ).fetchone()
        assert store.start_sending(operation, now=NOW)
        assert store.record_submitted(
            operation,
            api_id="txn_3",
            status="completed",
            estimated_duration=None,
            now=NOW,
            announce={"request_id": third, "kind": "submitted", "operation_id": operation},
        )
        assert [r for r, _, _ in store.stale_roots()] == [third, first, second]
        assert [finished for _, _, finished in store.stale_roots()] == [True, False, False]

        clock = Clock()
        outbox = sender(store, slack, clock)
        edited = []
        for _ in range(4):
            outbox.deliver_pending()
            edited += [c.args["ts"] for c in slack.calls_to("chat.update")[len(edited) :]]
            clock.now += 1.0  # one edit a second
            for request_id in (first, second):  # both change again and again
                store.enqueue({"request_id": request_id, "kind": "note"}, now=NOW)
        # One edit a turn: the finished one first, then the others in turn, each shown in
        # turn however often they change (by id, the first would take every turn).
        ts = {first: "3000.000100", second: "3001.000100", third: "3002.000100"}
        assert edited == [ts[third], ts[first], ts[second], ts[first]]
    finally:
        store.close()


def test_a_request_asked_in_anothers_thread_waits_behind_that_threads_messages(
    tmp_path: Path,
) -> None:
    """A message knows its thread as it is written, and again once its request's public
    message is posted (the thread is then that message's): a request asked in that thread
    shares it, and its public message goes after what the thread already waits for."""
    store = Store(path=tmp_path / "shared.db")
    try:
        first = confirmed(store, "web-01", BUSY)
        store.enqueue({"request_id": first, "kind": "note"}, now=NOW)  # queued before its post
        (root,) = store.next_in_each_thread(BUSY)
        assert root.request_id == first and root.thread == f"thread:{BUSY}:{first}"
        assert store.root_posted(root.id, status_ts="5.000100", now=NOW)

        asked_there = store.create_request(
            specs=[
                OperationSpec(
                    device_name="web-02", operation_type="reboot", scheduled_at=NOW, parameters={}
                )
            ],
            requester=ME,
            surface="mention",
            text="reboot web-02 now",
            tz="UTC",
            immediate=True,
            notes=(),
            channel=BUSY,
            thread_ts="5.000100",
            response_url=None,
            now=NOW,
            expires_at=NOW + timedelta(minutes=10),
        )
        assert store.confirm(asked_there.id, user=ME, now=NOW, run_at=None)
        (note,) = store.next_in_each_thread(BUSY)
        assert (note.request_id, note.kind, note.thread) == (
            first,
            "note",
            f"thread:{BUSY}:5.000100",
        )
        assert store.mark_delivered(note.id, now=NOW)
        (then,) = store.next_in_each_thread(BUSY)
        assert (then.request_id, then.kind, then.thread) == (asked_there.id, "root", note.thread)
    finally:
        store.close()
