"""Stopping and recovering without loss or repeats: loops that outlast the stop, work acked just
before it, answers that cannot be recorded, outages of the list, operations the API forgets,
and the edges of paging, modal updates and request expiry."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot import say
from bot.answers import Proposed
from bot.run.runtime import Runtime
from bot.service import OpsService
from bot.slack.app import HttpServer, Workers, build_app
from bot.slack.notifier import SlackNotifier, web_client
from bot.track.reconcile import find_created
from bot.track.tuning import Tuning
from bot.zequenze.api import ZequenzeClient
from bot.zequenze.devices import DeviceBook
from bot.zequenze.simulator.endpoint import Simulator
from bot.zequenze.simulator.faults import Fault
from store import VANISHED, OperationRecord, OutboxEvent, RequestRecord, Store
from tests.conftest import (
    CHANNEL_GAP,
    FAST_POLLING,
    FAST_RECOVERY,
    SECRET,
    Bot,
    eventually,
    start_bot,
    stop_bot,
)
from tests.fakes import BOT_TOKEN, FakeSlack, app_mention_body, block_actions_payload, post
from tests.test_flow import request_and_confirm, thread_replies

# --- 1. stopping never flushes or closes under a running loop ------------------------------


class HeldNotifier:
    """Slack's real notifier with thread deliveries held at a gate: a Slack outage that lasts
    until the test ends it."""

    def __init__(self, inner: SlackNotifier) -> None:
        self._inner = inner
        self.gate = threading.Event()
        self.entered = threading.Event()

    def post_root(self, request: RequestRecord, *, retry: bool) -> str:
        return self._inner.post_root(request, retry=retry)

    def deliver(self, event: OutboxEvent, request: RequestRecord) -> None:
        self.entered.set()
        assert self.gate.wait(30), "the test never opened the gate"
        self._inner.deliver(event, request)

    def refresh(self, request: RequestRecord) -> None:
        self._inner.refresh(request)


@dataclass
class Held:
    runtime: Runtime
    notifier: HeldNotifier
    slack: FakeSlack


@pytest.fixture
def held(slack: FakeSlack, simulator: Simulator, tmp_path: Path) -> Iterator[Held]:
    """A runtime whose outbox round is stuck delivering the "scheduled as" message."""
    notifier = HeldNotifier(
        SlackNotifier(client=web_client(token=BOT_TOKEN, base_url=slack.api_url))
    )
    runtime = Runtime(
        database=str(tmp_path / "held.db"),
        api_url=simulator.url,
        api_token=simulator.token,
        poll_interval=0.1,
        notifier=notifier,
        channel_gap=CHANNEL_GAP,
        api_retry_base=0.01,
        tuning=FAST_RECOVERY,
        poll_tuning=FAST_POLLING,
    ).start()
    proposed = runtime.service.handle_text(
        "reboot server-03 in 1 hour", requester="U123", tz="UTC", surface="command", channel="C123"
    )
    assert isinstance(proposed, Proposed)
    assert runtime.service.confirm(proposed.request.id, user="U123").ok
    eventually(notifier.entered.is_set, what="the outbox round to start delivering")
    try:
        yield Held(runtime=runtime, notifier=notifier, slack=slack)
    finally:
        notifier.gate.set()


def scheduled_posts(slack: FakeSlack) -> list[str]:
    return [
        c.args.get("text", "")
        for c in slack.calls_to("chat.postMessage")
        if "scheduled as" in c.args.get("text", "")
    ]


def test_stop_waits_for_the_running_round_then_flushes_and_closes(held: Held) -> None:
    stopper = threading.Thread(target=held.runtime.stop)
    stopper.start()
    stopper.join(0.5)
    assert stopper.is_alive(), "stop returned while the outbox round was still delivering"
    assert scheduled_posts(held.slack) == []

    held.notifier.gate.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert len(scheduled_posts(held.slack)) == 1  # the round's post; the flush sent no second
    with pytest.raises(sqlite3.ProgrammingError):  # closed, after the loops ended
        held.runtime.store.pending_outbox()


def test_a_round_outlasting_the_stop_is_neither_flushed_over_nor_closed_under(
    held: Held, caplog: pytest.LogCaptureFixture
) -> None:
    held.runtime.stop(timeout=0.3)
    assert any("outbox still running" in r.getMessage() for r in caplog.records)
    assert held.runtime.store.pending_outbox()  # still open, and its message still pending
    assert scheduled_posts(held.slack) == []  # no flush raced the stuck round

    held.notifier.gate.set()  # Slack is back: the stuck round delivers, once
    eventually(lambda: scheduled_posts(held.slack), what="the held message")
    held.runtime.stop()  # the loop has ended now: flush (nothing left) and close
    assert len(scheduled_posts(held.slack)) == 1
    with pytest.raises(sqlite3.ProgrammingError):
        held.runtime.store.pending_outbox()


# --- 2. work acked just before shutdown still runs ------------------------------------------


def test_a_mention_acked_just_before_shutdown_is_still_answered(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = web_client(token=BOT_TOKEN, base_url=slack.api_url)
    runtime = Runtime(
        database=str(tmp_path / "drain.db"),
        api_url=simulator.url,
        api_token=simulator.token,
        poll_interval=0.1,
        notifier=SlackNotifier(client=client),
        channel_gap=CHANNEL_GAP,
    ).start()
    # Hold the listener after Bolt's ack, at the point where the event is marked as seen.
    gate, entered = threading.Event(), threading.Event()
    seen = runtime.service.first_time

    def held_first_time(key: str) -> bool:
        entered.set()
        assert gate.wait(30)
        return seen(key)

    monkeypatch.setattr(runtime.service, "first_time", held_first_time)
    workers = Workers()
    app = build_app(
        client=client,
        signing_secret=SECRET,
        service=runtime.service,
        pacer=runtime.pacer,
        workers=workers,
    )
    server = HttpServer(app=app, signing_secret=SECRET, host="127.0.0.1", port=0)
    serving = threading.Thread(target=server.serve, daemon=True)
    serving.start()
    try:
        body = app_mention_body(text="<@U0BOT> help", ts="1700000100.000100", event_id="EvDrain")
        url = f"http://127.0.0.1:{server.port}/slack/events"
        assert post(url, body, secret=SECRET).status_code == 200  # acked
        eventually(entered.is_set, what="the listener to be running")
        server.close()
        serving.join(10)

        stopping = threading.Thread(target=workers.shutdown)
        stopping.start()
        gate.set()  # the listener goes on while the pools are being shut down
        stopping.join(10)
        assert not stopping.is_alive()
        answers = [
            c
            for c in slack.calls_to("chat.postMessage") + slack.calls_to("chat.postEphemeral")
            if c.args.get("thread_ts") == "1700000100.000100"
        ]
        assert answers, "the acked mention was dropped at shutdown"
    finally:
        gate.set()
        runtime.stop()


# --- 3. an answer that cannot be recorded ---------------------------------------------------


def test_an_answer_that_cannot_be_recorded_is_reconciled_not_left_sending(bot: Bot) -> None:
    _, first_root = request_and_confirm(bot, "reboot server-01 in 1 hour")
    eventually(
        lambda: any("scheduled as" in r for r in thread_replies(bot, first_root)),
        what="the first operation",
    )
    taken = bot.simulator.operations()[0]["id"]
    # The API creates the second operation but answers with the first one's id: recording
    # that answer breaks the store's unique api_id.
    bot.simulator.faults.add(
        Fault(
            method="POST",
            kind="status_after_work",
            status=201,
            body=json.dumps({"id": taken, "status": "scheduled", "estimated_duration": 300}),
        )
    )
    _, root = request_and_confirm(bot, "reboot server-02 in 1 hour")  # asserts "Confirmed"
    replies = eventually(
        lambda: (r := thread_replies(bot, root)) and any("did create it" in x for x in r) and r,
        what="the operation to be adopted",
    )
    created = bot.simulator.operations()[1]["id"]
    assert say.recovery.ANSWER_NOT_RECORDED in "\n".join(replies)
    assert any(f"`{created}`" in r for r in replies), replies
    assert bot.simulator.post_count == 2  # never sent a second time
    ops = bot.runtime.store.operations_in_state("submitted")
    assert sorted(op.api_id or "" for op in ops) == sorted([taken, created])


def test_the_internal_error_sentence_claims_nothing_it_cannot_know() -> None:
    assert "nothing was sent" not in say.track.INTERNAL_ERROR
    assert "`/ops list`" in say.track.INTERNAL_ERROR


# --- 4. reconciling: back off while the list fails; which item is ours ----------------------


def test_reconcile_backs_off_while_the_list_fails(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    tuning = Tuning(
        reconcile_delay=timedelta(seconds=0.3),
        send_backoff=0.1,
        list_backoff=0.2,
        list_max_backoff=0.4,
    )
    simulator.faults.add(Fault(method="POST", kind="status_after_work", status=500))
    simulator.faults.add(Fault(method="GET", kind="status", status=503, times=None))
    bot = start_bot(slack=slack, simulator=simulator, database=tmp_path / "b.db", tuning=tuning)

    def list_calls() -> int:
        return sum(m == "GET" and "id=" not in path for m, path in simulator.requests)

    try:
        request_and_confirm(bot, "reboot server-01 in 1 hour")
        before = list_calls()  # learning device names for the confirmation read it too
        eventually(lambda: list_calls() > before, what="the first reconcile")
        first = time.monotonic()
        # Each round tries the list 4 times (the client's own retries); the 4th round waits
        # for 0.2 + 0.4 + 0.4 s of backoff, where a loop every 0.1 s would be done in ~0.5 s.
        eventually(lambda: list_calls() >= before + 13, what="four reconcile rounds")
        assert time.monotonic() - first >= 0.9

        simulator.faults.clear()
        eventually(
            lambda: any(
                "did create it" in c.args.get("text", "")
                for c in slack.calls_to("chat.postMessage")
            ),
            what="the operation to be adopted once the list is back",
        )
        assert simulator.post_count == 1
    finally:
        stop_bot(bot)


CONFIRMED_AT = datetime(2024, 1, 15, 13, 0, tzinfo=UTC)
OURS = OperationRecord(
    id=1,
    request_id="r1",
    seq=0,
    device_name="server-02",
    operation_type="reboot",
    parameters={"force": False, "timeout": 300},
    scheduled_at=datetime(2024, 1, 15, 14, 0, tzinfo=UTC),
    state="unknown",
    api_id=None,
    status=None,
    final=False,
    estimated_duration=None,
    error=None,
)


def listed(api_id: str, **changes: Any) -> dict[str, Any]:
    item = {
        "id": api_id,
        "device_name": "server-02",
        "operation_type": "reboot",
        "scheduled_at": "2024-01-15T14:00:00Z",
        "created_at": "2024-01-15T13:00:05Z",
    }
    item.update(changes)
    return {k: v for k, v in item.items() if v is not None}


@pytest.mark.parametrize(
    ("items", "adopted"),
    [
        pytest.param([listed("a")], "a", id="created after the confirm"),
        pytest.param([listed("a", created_at=None)], "a", id="created_at missing"),
        pytest.param([listed("a", created_at="yesterday")], "a", id="created_at unreadable"),
        pytest.param([listed("a", created_at="2024-01-15T12:00:00Z")], None, id="provably older"),
        pytest.param([listed("a", created_at="2024-01-15T12:57:00Z")], "a", id="clock skew"),
        pytest.param(
            [listed("maybe", created_at=None), listed("sure")], "sure", id="proof preferred"
        ),
        pytest.param([listed("a", scheduled_at="2024-01-15T14:00:01Z")], None, id="other time"),
        pytest.param([listed("taken")], None, id="already someone's"),
        pytest.param([listed("a", device_name="SERVER-02")], "a", id="device in other case"),
        pytest.param([listed("a", device_name="server-03")], None, id="other device"),
        pytest.param([listed("a", operation_type="update")], None, id="other type"),
        pytest.param(
            [listed("a", parameters={"force": True, "timeout": 300})], None, id="other parameters"
        ),
        pytest.param(
            [listed("a", parameters={"force": False, "timeout": 300, "added": 1})],
            "a",
            id="the API's own parameters beside ours",
        ),
        pytest.param([listed("a", parameters={"force": False})], None, id="a parameter missing"),
    ],
)
def test_find_created_never_adopts_one_provably_older_than_the_confirm(
    items: list[dict[str, Any]], adopted: str | None
) -> None:
    match = find_created(items, OURS, since=CONFIRMED_AT, taken={"taken"})
    assert (match or {}).get("id") == adopted


# --- 5. forgotten operations, the modal, expiry ---------------------------------------------


EMPTY_LIST = json.dumps({"count": 0, "next": None, "previous": None, "results": []})


def test_an_operation_the_api_no_longer_knows_is_told_once_and_no_longer_followed(
    bot: Bot,
) -> None:
    _, root = request_and_confirm(bot, "reboot server-03 in 1 hour")
    eventually(
        lambda: any("scheduled as" in r for r in thread_replies(bot, root)), what="scheduled"
    )
    api_id = bot.simulator.operations()[0]["id"]
    bot.simulator.faults.add(
        Fault(method="GET", kind="status", status=200, body=EMPTY_LIST, times=None)
    )

    def polls() -> int:
        return sum(f"id={api_id}" in path for _, path in bot.simulator.requests)

    def told() -> list[str]:
        return [r for r in thread_replies(bot, root) if "no longer knows" in r]

    eventually(told, what="the thread to be told")
    after_notice = polls()
    (op,) = [o for o in bot.runtime.store.operations_in_state("submitted") if o.api_id == api_id]
    assert op.status == VANISHED
    # Either it is no longer polled at all, or further polls say nothing more.
    eventually(
        lambda: not bot.runtime.store.operations_to_poll() or polls() >= after_notice + 3,
        what="the poller to be done with it",
    )
    replies = thread_replies(bot, root)
    assert len(told()) == 1, replies
    assert not any("still trying" in r for r in replies), replies
    assert bot.runtime.store.operations_to_poll() == []  # final: never asked about again


def change_type(bot: Bot, view: dict[str, Any], action: dict[str, Any] | None) -> None:
    payload = block_actions_payload(action_id="ops_modal_type", value="", view=view)
    if action is not None:
        payload["actions"] = [action]
    assert bot.send(urlencode({"payload": json.dumps(payload)})).status_code == 200


REBOOT_SELECTED = {
    "type": "static_select",
    "action_id": "ops_modal_type",
    "block_id": "operation_type",
    "selected_option": {"text": {"type": "plain_text", "text": "Reboot"}, "value": "reboot"},
    "action_ts": "1700000000.1",
}


@pytest.mark.parametrize(
    ("stale_hash", "action", "logged"),
    [
        pytest.param(True, REBOOT_SELECTED, "hash_conflict", id="changed again meanwhile"),
        pytest.param(False, None, "type change ignored", id="no selected option"),
        pytest.param(
            False,
            {**REBOOT_SELECTED, "selected_option": "reboot"},
            "type change ignored",
            id="option not an object",
        ),
    ],
)
def test_a_type_change_that_cannot_be_applied_is_logged_not_raised(
    bot: Bot,
    caplog: pytest.LogCaptureFixture,
    stale_hash: bool,
    action: dict[str, Any] | None,
    logged: str,
) -> None:
    caplog.set_level(logging.WARNING)
    bot.command("")
    view = dict(eventually(lambda: bot.slack.calls_to("views.open"))[0].response["view"])
    if stale_hash:
        view["hash"] = "1.stale"
    change_type(bot, view, action)

    def ours() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "handlers.actions"]

    eventually(lambda: any(logged in r.getMessage() for r in ours()), what=logged)
    assert not [r for r in caplog.records if "unhandled error" in r.getMessage()]
    assert bot.slack.view(view["id"])["blocks"] == view["blocks"]  # left as it was


class SteppingClock:
    """Hands out the times it was last given in turn, then keeps the last one."""

    def __init__(self, start: datetime) -> None:
        self._times = [start]

    def then(self, *times: datetime) -> None:
        self._times = list(times)

    def __call__(self) -> datetime:
        return self._times.pop(0) if len(self._times) > 1 else self._times[0]


def test_a_claim_that_loses_to_the_expiry_says_expired(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    clock = SteppingClock(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))
    store = Store(path=tmp_path / "expiry.db")
    api = ZequenzeClient(base_url=simulator.url, token=simulator.token)
    service = OpsService(
        store=store, api=api, devices=DeviceBook(store=store, clock=clock), clock=clock
    )
    try:
        proposed = service.handle_text(
            "reboot server-01 now", requester="U123", tz="UTC", surface="command", channel="C1"
        )
        assert isinstance(proposed, Proposed)
        expiry = proposed.request.expires_at
        # Not yet expired when the click is checked; expired by the time it is claimed.
        clock.then(expiry - timedelta(milliseconds=1), expiry)
        outcome = service.confirm(proposed.request.id, user="U123")
        assert outcome.reason == "expired"
        assert say.track.click_refusal(outcome.reason) == say.track.CLICK_REFUSALS["expired"]
        assert store.get_request(proposed.request.id).state == "expired"  # type: ignore[union-attr]
        assert slack.calls_to("chat.postMessage") == []
        assert simulator.post_count == 0
    finally:
        api.close()
        store.close()


def test_every_click_refusal_is_a_sentence_not_a_code() -> None:
    for state in ("pending", "confirmed", "cancelled", "expired", "found", "answered"):
        sentence = say.track.click_refusal(f"already_{state}")
        assert f"already_{state}" not in sentence, sentence
