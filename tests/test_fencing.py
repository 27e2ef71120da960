"""Fencing (issue 17, design point 9): the claims that lead to a call that cannot be undone, an
operation's POST (`start_sending`) and a message's delivery (`mark_attempt_started`), are won
only while this process holds the background lease, judged in the claim's own transaction. A
replica whose lease ran out and was taken over claims nothing, even while a round of its still
runs (a pause, a partition: its own clock may still say it leads)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.track.leadership import BACKGROUND
from bot.zequenze.simulator.endpoint import Simulator
from store import ROOT, Store
from tests.conftest import Bot, eventually, start_bot, stop_bot
from tests.fakes import FakeSlack
from tests.test_store import ALICE, T0, confirmed_request, new_request


@pytest.fixture
def replicas(either_database: str) -> Iterator[tuple[Store, Store]]:
    """Two replicas' stores on one database, each fenced by its own holder name."""
    deposed, successor = Store.open(either_database), Store.open(either_database)
    deposed.fence, successor.fence = "replica-a", "replica-b"
    yield deposed, successor
    deposed.close()
    successor.close()


def test_a_replica_whose_lease_was_taken_over_claims_nothing(
    replicas: tuple[Store, Store],
) -> None:
    deposed, successor = replicas
    assert deposed.take_lease(BACKGROUND, holder="replica-a", seconds=0.3) == 1
    operation = confirmed_request(deposed).operations[0]
    waiting = new_request(deposed)
    assert deposed.confirm(waiting.id, user=ALICE, now=T0, run_at=None)
    (message,) = [
        e for e in deposed.pending_outbox() if e.request_id == waiting.id and e.kind == ROOT
    ]
    # The lease runs out (0.3 s) and the other replica takes it.
    eventually(
        lambda: successor.take_lease(BACKGROUND, holder="replica-b", seconds=30) == 2,
        what="the lease taken over",
    )

    assert not deposed.start_sending(operation.id, now=T0)
    assert not deposed.mark_attempt_started(message.id)
    assert deposed.get_request(operation.request_id).operations[0].state == "new"
    (unclaimed,) = [e for e in deposed.pending_outbox() if e.id == message.id]
    assert unclaimed.attempts == 0  # not counted as a try that may have gone out

    # The lease's holder claims both, once.
    assert successor.start_sending(operation.id, now=T0)
    assert successor.mark_attempt_started(message.id)
    assert not successor.start_sending(operation.id, now=T0)


def test_a_store_without_a_fence_claims_as_before(either_database: str) -> None:
    """One process on its own database (SQLite's default): no lease, no fence."""
    store = Store.open(either_database)
    try:
        assert store.fence is None
        operation = confirmed_request(store).operations[0]
        assert store.start_sending(operation.id, now=T0)
    finally:
        store.close()


def take_over(store: Store) -> None:
    """Another replica takes the lease, unknown to this one (its lease ran out while it was
    paused, and its own clock has not noticed yet)."""
    with store.engine.write() as tx:
        tx.execute(
            "UPDATE leases SET holder = 'usurper', term = term + 1, expires_at = ? WHERE name = ?",
            ["9999-01-01T00:00:00.000+00:00", BACKGROUND],
        )


def give_back(store: Store) -> None:
    with store.engine.write() as tx:
        tx.execute(
            "UPDATE leases SET expires_at = ? WHERE name = ?",
            ["2000-01-01T00:00:00.000+00:00", BACKGROUND],
        )


@pytest.fixture
def pg_bot(slack: FakeSlack, simulator: Simulator, pg_migrated_url: str) -> Iterator[Bot]:
    running = start_bot(slack=slack, simulator=simulator, database=pg_migrated_url)
    yield running
    stop_bot(running)


def test_a_deposed_leaders_round_posts_nothing_and_the_work_waits_for_the_leader(
    pg_bot: Bot,
) -> None:
    runtime = pg_bot.runtime
    assert runtime.leadership is not None and runtime.store.fence == runtime.leadership.holder
    take_over(runtime.store)
    shown = pg_bot.wait_response(pg_bot.command("reboot server-01 now"))
    request_id = next(
        e["value"]
        for b in shown["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "ops_confirm"
    )
    _, key = pg_bot.click("ops_confirm", request_id)
    assert "Confirmed" in pg_bot.wait_response(key)["text"]
    # An outbox round of the deposed leader, run whatever its leadership thinks.
    runtime._flush()
    assert pg_bot.slack.calls_to("chat.postMessage") == []
    (root,) = [e for e in runtime.store.pending_outbox() if e.request_id == request_id]
    assert root.attempts == 0
    assert pg_bot.simulator.post_count == 0

    # The lease comes back (the usurper stopped): the replica leads again, and the message
    # and the operation go, once each.
    give_back(runtime.store)
    eventually(lambda: pg_bot.simulator.post_count == 1, what="the operation sent")
    eventually(
        lambda: runtime.store.get_request(request_id).operations[0].state == "submitted",
        what="the operation submitted",
    )
    roots = [c for c in pg_bot.slack.calls_to("chat.postMessage") if not c.args.get("thread_ts")]
    assert len(roots) == 1
