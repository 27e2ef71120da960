"""Several replicas on one database: whichever gets a click, each operation is POSTed once and
each change told once, and the background work passes to another replica when its leader goes.

Replicas here are runtimes in one test process sharing one SQLite file (each with its own
connection, HTTP server and lease holder name); the same runs on PostgreSQL with processes in
test_replicas_postgres.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.leadership import BACKGROUND
from bot.simulator.endpoint import Simulator
from tests.conftest import Bot, eventually, start_bot, stop_bot
from tests.fakes import FakeSlack
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


def finished(bot: Bot, request_id: str) -> bool:
    request = bot.runtime.store.get_request(request_id)
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
