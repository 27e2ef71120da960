"""Replicas as real processes: `opsbot run` (HTTP mode) several times over on one PostgreSQL
database, each on its own port, against the fake Slack and the API simulator of this test.

Whichever replica gets a click or an event, it is acted on once; the background work passes
to another replica when its leader is killed with `kill -9` or stopped for a rolling
restart, and nothing is lost or doubled; a database that goes away for 30 s is told as such
and the bot carries on when it is back. (tests/test_replicas.py holds the same ideas with
replicas in one process on a SQLite file.)
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.track.leadership import LEASE_SECONDS, RENEW_EVERY
from bot.zequenze.simulator.endpoint import Simulator
from tests.conftest import CHANNEL_GAP, SECRET, eventually
from tests.fakes import FakeSlack, app_mention_body, block_actions_body
from tests.fakes.burst import burst, signed_request
from tests.fakes.signing import JSON
from tests.postgres import PostgresServer
from tests.processes import FAST_SETTINGS, BotProcess, Replicas
from tests.test_flow import all_text

# Their own group: these tests are the suite's longest (a lease to run out, a database away
# for 30 s), and run one after another on one worker while the other goes through the rest.
pytestmark = pytest.mark.xdist_group("replicas")

DEVICES = [f"server-{n:03d}" for n in range(1, 201)]
COMPLETED = "is now *completed*"
# The goal for the background work to pass on after a kill -9: the lease's 10 s
# and one renewal round.
TAKEOVER_GOAL = 15.0
OUTAGE = 30.0
TRY_AGAIN = "try again in a moment"


@pytest.fixture
def replicas(
    slack: FakeSlack, simulator: Simulator, pg_migrated_url: str, tmp_path: Path
) -> Iterator[Replicas]:
    """Two replicas on one fresh database, started; more with `replicas.start()`."""
    simulator.inventory |= set(DEVICES)

    def make(name: str) -> BotProcess:
        return BotProcess(
            folder=tmp_path / name,
            slack_url=slack.base_url,
            api_url=simulator.url,
            api_token=simulator.token,
            secret=SECRET,
            database=pg_migrated_url,
            env={**FAST_SETTINGS, "OPSBOT_CHANNEL_GAP": str(CHANNEL_GAP)},
            name=name,
        )

    group = Replicas(make)
    try:
        group.start(2)
        yield group
    finally:
        group.close()


# ---------------------------------------------------------------------------- helpers


def answers(slack: FakeSlack, key: str) -> list[dict[str, Any]]:
    return [c.args for c in slack.calls_to("response_url") if c.args.get("_key") == key]


def answered(slack: FakeSlack, key: str, *, timeout: float = 20.0) -> dict[str, Any]:
    """The first answer to the response URL `key`, once it came."""
    return eventually(lambda: answers(slack, key), timeout=timeout, what=f"an answer to {key}")[0]


def confirm_value(answer: dict[str, Any]) -> str:
    return next(
        e["value"]
        for b in answer.get("blocks") or ()
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "ops_confirm"
    )


def propose(replica: BotProcess, slack: FakeSlack, text: str, *, key: str, **who: str) -> str:
    """`/ops TEXT` on `replica`: the request id its confirmation offers."""
    response = replica.command(text, key=key, **who)
    assert response is not None and response.status_code == 200, response
    return confirm_value(answered(slack, key))


def ready(replica: BotProcess) -> int | None:
    """What its /readyz answers (None: nothing)."""
    answer = replica.get("/readyz")
    return None if answer is None else answer.status_code


def roots(slack: FakeSlack) -> list[str]:
    return [
        c.response["ts"]
        for c in slack.calls_to("chat.postMessage")
        if not c.args.get("thread_ts") and c.status == 200
    ]


def thread_lines(slack: FakeSlack) -> list[str]:
    return [
        c.args.get("text", "")
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") and c.status == 200
    ]


def devices_sent(simulator: Simulator) -> Counter[str]:
    return Counter(op["device_name"] for op in simulator.operations())


# ------------------------------------------------------------------------------ tests


def test_the_same_click_on_two_replicas_at_once_sends_one_operation(
    replicas: Replicas, slack: FakeSlack, simulator: Simulator
) -> None:
    first, second = replicas.running
    request_id = propose(first, slack, "reboot server-01 now", key="cmd")
    clicks = [(first, "click-first"), (second, "click-second")]
    acks = burst(
        [r.url for r, _ in clicks],
        [
            signed_request(
                r.url,
                block_actions_body(
                    action_id="ops_confirm", value=request_id, response_url=r.response_url(key)
                ),
                secret=SECRET,
            )
            for r, key in clicks
        ],
    )
    assert [a.status for a in acks] == [200, 200], acks
    said = [answered(slack, key)["text"] for _, key in clicks]
    assert sum("Confirmed" in text for text in said) == 1, said

    eventually(lambda: any(COMPLETED in line for line in thread_lines(slack)), what="the end")
    assert simulator.post_count == 1
    assert len(roots(slack)) == 1, "the public message was posted twice"
    assert sum(COMPLETED in line for line in thread_lines(slack)) == 1
    for replica in replicas.running:
        replica.stop()


def test_the_same_event_on_two_replicas_is_answered_once(
    replicas: Replicas, slack: FakeSlack, simulator: Simulator
) -> None:
    first, second = replicas.running
    body = app_mention_body(
        text="<@U0BOT> reboot server-03 now", ts="1700000400.000100", event_id="EvTWICE"
    )
    acks = burst(
        [first.url, second.url],
        [signed_request(r.url, body, secret=SECRET, content_type=JSON) for r in (first, second)],
    )
    assert [a.status for a in acks] == [200, 200], acks

    # Then an event of its own to each replica: each answered means each took in the one
    # before it (a replica's work runs in the order it arrives).
    for n, replica in enumerate((first, second)):
        response = replica.mention(
            "help", ts=f"1700000500.00010{n}", event_id=f"EvAFTER{n}", channel=f"C90{n}"
        )
        assert response is not None and response.status_code == 200
    eventually(
        lambda: (
            {c.args.get("channel") for c in slack.calls_to("chat.postMessage")} >= {"C900", "C901"}
        ),
        what="both replicas to answer their own event",
    )
    # Taken in is not yet answered: the confirmation follows a look at the device, and may
    # come after the answers to help (the work runs in a pool). Waited for, then counted.
    confirmations = eventually(
        lambda: [
            c for c in slack.calls_to("chat.postEphemeral") if "Please confirm" in c.args["text"]
        ],
        what="the mention's confirmation",
    )
    assert len(confirmations) == 1, [c.args["text"] for c in confirmations]
    assert simulator.post_count == 0
    for replica in replicas.running:
        replica.stop()


def test_the_leader_killed_half_way_through_200_devices_another_finishes_once(
    replicas: Replicas, slack: FakeSlack, simulator: Simulator, record_property: Any
) -> None:
    """200 devices in waves of 20; the leader is killed with `kill -9` once 100 are sent.
    Every operation is POSTed once, each wave and the end told once, no 429, and the other
    replica takes over (by the lease: within 10 s and one renewal)."""
    leader = replicas.leader()
    (other,) = [r for r in replicas.running if r is not leader]
    request_id = propose(
        other, slack, "reboot server-001..server-200 in waves of 20", key="cmd", channel="C200"
    )
    response = other.click("ops_confirm", request_id, key="click", channel="C200")
    assert response is not None and response.status_code == 200
    assert "Confirmed" in answered(slack, "click")["text"]

    eventually(lambda: simulator.post_count >= 100, timeout=60, what="half the operations")
    killed_at = time.monotonic()
    leader.kill()
    eventually(other.leading, timeout=LEASE_SECONDS + RENEW_EVERY + 15, what="a takeover")
    takeover = time.monotonic() - killed_at
    record_property("takeover_seconds", round(takeover, 2))
    print(f"takeover after kill -9: {takeover:.1f} s (goal {TAKEOVER_GOAL:g} s)")

    eventually(
        lambda: any(line.startswith("🏁") for line in thread_lines(slack)),
        timeout=90,
        what="the end of the request",
    )
    assert simulator.post_count == 200
    assert devices_sent(simulator) == Counter(DEVICES)
    lines = thread_lines(slack)
    for wave in range(1, 11):
        assert sum(f"Wave {wave} of 10 goes" in line for line in lines) == 1, (wave, lines)
    (end,) = [line for line in lines if line.startswith("🏁")]
    assert "200 completed" in end, end
    assert len(roots(slack)) == 1
    assert slack.rate_limited == 0
    other.stop()


def test_a_rolling_restart_under_load_answers_every_request_and_loses_nothing(
    replicas: Replicas, slack: FakeSlack, simulator: Simulator
) -> None:
    """Commands and clicks keep coming, spread over the replicas in rotation; a third replica
    starts, the old leader is taken out of the rotation and stopped (SIGTERM) at once, with
    its last requests still in its hands."""
    old = replicas.leader()
    rotation = list(replicas.running)
    refused: list[str] = []
    failed: list[BaseException] = []
    clicked: list[tuple[str, str]] = []  # (device, click's response URL key)
    done = threading.Event()
    # A balancer's choice and its sending, as one: once a replica is out of the rotation,
    # nothing more is sent to it (what was sent before is still in its hands).
    routing = threading.Lock()

    def load() -> None:
        try:
            send_in_turn()
        except BaseException as exc:  # shown by the test, not lost in the thread
            failed.append(exc)
            raise

    def send_in_turn() -> None:
        turn = 0

        def next_replica() -> BotProcess:
            nonlocal turn
            turn += 1
            return rotation[turn % len(rotation)]

        for n, device in enumerate(DEVICES):
            if done.is_set():
                return
            key = f"cmd-{n}"
            with routing:
                target = next_replica()
                response = target.command(f"reboot {device} now", key=key)
            if response is None or response.status_code != 200:
                refused.append(f"/ops to {target}: {response}")
                continue
            value = confirm_value(answered(slack, key))
            with routing:
                target = next_replica()
                response = target.click("ops_confirm", value, key=f"click-{n}")
            if response is None or response.status_code != 200:
                refused.append(f"click to {target}: {response}")
                continue
            clicked.append((device, f"click-{n}"))

    generator = threading.Thread(target=load, name="load")
    generator.start()
    try:
        eventually(lambda: len(clicked) >= 5, what="the load to start")
        started = replicas.start()
        with routing:
            rotation.extend(started)
        eventually(lambda: len(clicked) >= 10, what="the new replica to take requests")
        with routing:
            rotation.remove(old)
        old.terminate()
        eventually(lambda: len(clicked) >= 25, what="more requests after the stop")
    finally:
        done.set()
        generator.join(30)
    old.stopped()
    assert failed == []
    assert refused == []

    sent = [device for device, _ in clicked]
    for _, key in clicked:
        assert "Confirmed" in answered(slack, key)["text"]
    eventually(
        lambda: sum(COMPLETED in line for line in thread_lines(slack)) >= len(sent),
        timeout=60,
        what="every operation to complete",
    )
    assert devices_sent(simulator) == Counter(sent)
    assert simulator.post_count == len(sent)
    assert sum(COMPLETED in line for line in thread_lines(slack)) == len(sent)
    assert len(roots(slack)) == len(sent)
    new = replicas.leader()
    assert new is not old
    for replica in replicas.running:
        replica.stop()


def test_the_database_away_for_30_seconds_is_told_and_the_bot_carries_on(
    replicas: Replicas, slack: FakeSlack, simulator: Simulator, pg_server: PostgresServer
) -> None:
    first, second = replicas.running
    # Confirmed before the outage, running through it: its end is told after.
    simulator.run_seconds = OUTAGE / 2
    request_id = propose(first, slack, "reboot server-05 now", key="before")
    response = second.click("ops_confirm", request_id, key="before-click")
    assert response is not None and response.status_code == 200
    eventually(lambda: simulator.post_count == 1, what="the operation to be sent")
    simulator.run_seconds = 0.4

    pg_server.stop()
    back_at = time.monotonic() + OUTAGE
    try:
        for replica in (first, second):
            eventually(lambda r=replica: ready(r) == 503, what=f"{replica} to say it is not ready")
        # Commands and a click keep coming while the database is away, a few seconds apart,
        # to one replica and the other: each is told to try again in a moment.
        n = 0
        while time.monotonic() < back_at:
            replica = (first, second)[n % 2]
            key = f"down-{n}"
            if n % 3 == 2:
                response = replica.click("ops_confirm", request_id, key=key)
            else:
                response = replica.command("reboot server-06 now", key=key)
            assert response is not None and response.status_code == 200, response
            assert TRY_AGAIN in all_text(answered(slack, key)).lower(), answers(slack, key)
            n += 1
            time.sleep(max(0.0, min(OUTAGE / 10, back_at - time.monotonic())))  # the outage
        print(f"requests answered while the database was away: {n}")
        # A command to each replica and a click, at least.
        assert n >= 3, f"the outage passed with only {n} requests answered"
    finally:
        pg_server.start()

    for replica in (first, second):
        eventually(lambda r=replica: ready(r) == 200, timeout=30, what=f"{replica} ready again")
    request_id = propose(second, slack, "reboot server-07 now", key="after")
    response = first.click("ops_confirm", request_id, key="after-click")
    assert response is not None and response.status_code == 200
    assert "Confirmed" in answered(slack, "after-click")["text"]
    eventually(
        lambda: sum(COMPLETED in line for line in thread_lines(slack)) >= 2,
        timeout=60,
        what="both operations to complete",
    )
    assert devices_sent(simulator) == Counter(["server-05", "server-07"])
    assert sum(COMPLETED in line for line in thread_lines(slack)) == 2
    assert len(roots(slack)) == 2
