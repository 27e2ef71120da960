"""Several replicas on one database: whichever gets a click, each operation is POSTed once and
each change told once, and the background work passes to another replica when its leader goes.

Replicas here are runtimes in one test process sharing one SQLite file (each with its own
connection, HTTP server and lease holder name); the same runs on PostgreSQL with processes in
test_replicas_postgres.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.run.runtime import Runtime
from bot.slack.app import build_app, socket_mode
from bot.slack.notifier import SlackNotifier, web_client
from bot.track.leadership import BACKGROUND
from bot.zequenze.simulator.endpoint import Simulator
from tests.conftest import (
    CHANNEL_GAP,
    FAST_RECOVERY,
    SECRET,
    Bot,
    eventually,
    start_bot,
    stop_bot,
)
from tests.fakes import (
    APP_TOKEN,
    BOT_TOKEN,
    FakeSlack,
    FakeSocketMode,
    block_actions_payload,
    slash_command_payload,
)
from tests.test_flow import confirm_button
from tests.test_health import samples


@pytest.fixture
def replicas(slack: FakeSlack, simulator: Simulator, tmp_path: Path) -> Iterator[list[Bot]]:
    started = [
        start_bot(slack=slack, simulator=simulator, database=tmp_path / "shared.db", shared=True)
        for _ in range(2)
    ]
    yield started
    for running in started:
        if running.runtime.started:
            stop_bot(running)


def leader(replicas: list[Bot]) -> Bot:
    return eventually(
        lambda: next((r for r in replicas if r.runtime.leading()), None), what="a leader"
    )


def finished(bot: Bot | Runtime, request_id: str) -> bool:
    runtime = bot if isinstance(bot, Runtime) else bot.runtime
    request = runtime.store.get_request(request_id)
    assert request is not None
    return bool(request.operations) and all(op.final for op in request.operations)


def test_one_replica_leads_the_background_work(replicas: list[Bot]) -> None:
    first = leader(replicas)
    others = [r for r in replicas if r is not first]
    assert [r.runtime.leading() for r in others] == [False]
    lease = first.runtime.store.lease(BACKGROUND)
    assert lease is not None and first.runtime.leadership is not None
    assert lease.holder == first.runtime.leadership.holder
    assert samples(first)[("opsbot_leading", ())] == 1
    assert samples(others[0])[("opsbot_leading", ())] == 0


def test_a_request_shown_by_one_replica_and_confirmed_on_the_other_is_sent_once(
    replicas: list[Bot],
) -> None:
    first, second = replicas
    shown = first.wait_response(first.command("reboot server-01, server-02 now"))
    request_id = confirm_button(shown)["value"]
    for replica in (second, first, second):  # a double click landing on both replicas
        response, _ = replica.click("ops_confirm", request_id)
        assert response.status_code == 200
    eventually(lambda: finished(second, request_id), what="both operations to finish")
    assert first.simulator.post_count == 2
    roots = [c for c in first.slack.calls_to("chat.postMessage") if not c.args.get("thread_ts")]
    assert len(roots) == 1


def test_when_the_leader_stops_the_other_replica_carries_on(replicas: list[Bot]) -> None:
    first = leader(replicas)
    (other,) = [r for r in replicas if r is not first]
    shown = other.wait_response(other.command("reboot server-03 in 2 seconds"))
    request_id = confirm_button(shown)["value"]
    response, _ = other.click("ops_confirm", request_id)
    assert response.status_code == 200
    stop_bot(first)  # a rolling restart: the lease is handed over at once
    eventually(other.runtime.leading, what="the other replica to lead")
    eventually(lambda: finished(other, request_id), what="the operation to finish")
    assert other.simulator.post_count == 1


def test_over_socket_mode_a_click_given_to_each_replicas_connection_sends_once(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    """Each replica opens its own Socket Mode connection and Slack gives a payload to one of
    them: the same Confirm click, given once to each connection (as a redelivery that lands
    on the other replica), sends one operation and posts one public message."""
    client = web_client(token=BOT_TOKEN, base_url=slack.api_url)
    runtimes = [
        Runtime(
            database=str(tmp_path / "shared.db"),
            api_url=simulator.url,
            api_token=simulator.token,
            poll_interval=0.1,
            notifier=SlackNotifier(client=client),
            channel_gap=CHANNEL_GAP,
            tuning=FAST_RECOVERY,
            shared=True,
        ).start()
        for _ in range(2)
    ]
    handlers = []
    with FakeSocketMode() as sm:
        slack.socket_mode_url = sm.url
        try:
            for number, runtime in enumerate(runtimes, start=1):
                app = build_app(
                    client=client,
                    signing_secret=SECRET,
                    service=runtime.service,
                    pacer=runtime.pacer,
                )
                handlers.append(socket_mode(app=app, app_token=APP_TOKEN))
                handlers[-1].connect()
                sm.wait_connected(count=number)

            shown = sm.send_envelope(
                type="slash_commands",
                payload=slash_command_payload(
                    text="reboot server-04 now", response_url=slack.response_url("sm")
                ),
                connection=1,
            )
            sm.wait_ack(shown)
            request_id = confirm_button(
                eventually(
                    lambda: [c.args for c in slack.calls_to("response_url")],
                    what="the confirmation",
                )[0]
            )["value"]
            payload = block_actions_payload(
                action_id="ops_confirm", value=request_id, response_url=slack.response_url("c")
            )
            clicks = [
                sm.send_envelope(type="interactive", payload=payload, connection=number)
                for number in (1, 2)
            ]
            for envelope_id in clicks:
                sm.wait_ack(envelope_id)
            assert [sm.delivered_to[e] for e in clicks] == [1, 2]
            said = eventually(
                lambda: (
                    len(a := [c.args["text"] for c in slack.calls_to("response_url")][1:]) == 2
                    and a
                ),
                what="each replica to answer its click",
            )
            assert sum("Confirmed" in text for text in said) == 1, said
            eventually(lambda: finished(runtimes[0], request_id), what="the operation to end")
            assert simulator.post_count == 1
            roots = [c for c in slack.calls_to("chat.postMessage") if not c.args.get("thread_ts")]
            assert len(roots) == 1
        finally:
            sm.stop()  # first: the built-in client's close() otherwise waits out a recv timeout
            for handler in handlers:
                handler.close()
            for runtime in runtimes:
                runtime.stop()
