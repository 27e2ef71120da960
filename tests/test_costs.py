"""Cost that does not grow with history (issue 15, section 5): a `/metrics` scrape, a person's
Home tab and the freeze check before each send cost the same at 20 and at 20,000 rows of
history. Counted in SQLite's virtual machine steps (tests/history.py), never timed: the count
is the same on a loaded machine. Each store below holds the same unfinished work; only the
history differs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlite_utils import Database

from bot.policy.rules import Policy
from bot.run.metrics import Metrics
from bot.slack import home_tab
from store import Store
from store.schema import MIGRATIONS
from tests import history

SIZES = (20, 20_000)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ME = "U0ME"


def _same_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Request ids counted from 1 in each store: with the random ones, where an id falls
    among the others moves a join's steps by one or two a row, history or not."""
    numbers = itertools.count(1)
    ids = SimpleNamespace(token_hex=lambda _: f"{next(numbers):012x}")
    monkeypatch.setattr("store.requests.secrets", ids)


def _request(store: Store, devices: list[str], *, requester: str = ME, minutes: int = 30) -> str:
    at = NOW + timedelta(minutes=minutes)
    return history.request(store, devices, requester=requester, now=NOW, at=at)


def _stores(tmp_path: Path) -> Iterator[tuple[int, Store]]:
    """A store for each size of history, closed after its turn."""
    for size in SIZES:
        store = Store(path=tmp_path / f"{size}.db")
        try:
            yield size, store
        finally:
            store.close()


def _scrape(metrics: Metrics) -> dict[tuple[str, str], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            label = sample.labels.get("status") or sample.labels.get("outcome") or ""
            found[(sample.name, label)] = sample.value
    return found


# --- /metrics ------------------------------------------------------------------------------


def test_a_scrape_costs_the_same_at_20_and_20000_operations_sent(tmp_path: Path) -> None:
    costs: dict[int, tuple[int, int]] = {}
    for size, store in _stores(tmp_path):
        history.sent_history(store.db.conn, size)
        metrics = Metrics(store=store, next_check_due=store.next_check_due, clock=lambda: NOW)
        with history.Steps(store) as first:  # the first scrape after a start
            shown = _scrape(metrics)
        with history.Steps(store) as again:
            assert _scrape(metrics) == shown
        costs[size] = (first.count, again.count)
        # What it says is still the whole history, counted.
        words = [history.ENDED_WORDS[n % len(history.ENDED_WORDS)] for n in range(size)]
        assert shown[("opsbot_operations", "succeeded")] == words.count("completed")
        assert shown[("opsbot_operations", "failed")] == size - words.count("completed")
        assert shown[("opsbot_operations", "running")] == 0
        assert shown[("opsbot_requests_total", "confirmed")] == size // 20
    assert costs[SIZES[0]] == costs[SIZES[1]], costs


def test_the_counts_a_scrape_reads_follow_each_operation_as_it_moves(tmp_path: Path) -> None:
    store = Store(path=tmp_path / "moves.db")
    try:
        request_id = _request(store, ["server-01", "server-02", "server-03"])
        assert store.confirm(request_id, user=ME, now=NOW, run_at=NOW)
        first, second, third = store.get_request(request_id).operations
        for op in (first, second, third):
            assert store.start_sending(op.id, now=NOW)
        assert store.gauges()["statuses"] == {}  # nothing has reached the API yet
        assert store.record_submitted(
            first.id,
            api_id="txn_1",
            status="scheduled",
            estimated_duration=60,
            now=NOW,
            announce=first.announce("submitted"),
        )
        assert store.record_status(
            first.id, old="scheduled", new="running", now=NOW, announce=first.announce("status")
        )
        assert store.record_unsent(
            second.id,
            state="unknown",
            error="no answer",
            now=NOW,
            announce=second.announce("unknown"),
        )
        assert store.record_unsent(
            third.id,
            state="rejected",
            error="refused",
            now=NOW,
            announce=third.announce("rejected"),
            answer={"status": 400},
        )
        assert store.gauges()["statuses"] == {"running": 1}
        assert store.adopt_found(
            second.id,
            was="unknown",
            api_id="txn_2",
            status="Scheduled",
            scheduled_at=NOW,
            estimated_duration=None,
            end_watch=True,
            now=NOW,
            announce=second.announce("found"),
        )
        assert store.record_status(
            first.id, old="running", new="Completed ", now=NOW, announce=first.announce("status")
        )
        assert store.gauges()["statuses"] == {"completed": 1, "scheduled": 1}
        kept, true = history.kept_and_true_counts(store)
        assert kept == true
        assert store.audit_counts(["confirmed", "api_created", "refused"]) == {
            "confirmed": 1,
            "api_created": 1,
        }
    finally:
        store.close()


def test_migration_0009_counts_the_history_already_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Database(path)
    MIGRATIONS.apply(old, stop_before="0009_costs")
    history.sent_history(old.conn, 100)
    old.close()
    store = Store(path=path)
    try:
        kept, true = history.kept_and_true_counts(store)
        assert kept == true
        assert true["statuses"] == {"completed": 51, "failed": 17, "cancelled": 16, "timeout": 16}
        assert true["events"]["confirmed"] == 5
    finally:
        store.close()


# --- the Home tab --------------------------------------------------------------------------


def _unfinished(store: Store) -> None:
    """The same in every store: two confirmed requests of 10 devices in flight, one waiting
    for approval, three waiting for the person's click, someone else's in flight."""
    for number in range(2):
        request_id = _request(store, [f"web-{number}-{n}" for n in range(10)])
        assert store.confirm(request_id, user=ME, now=NOW, run_at=None)
    approving = _request(store, ["db-01"])
    assert store.confirm(
        approving,
        user=ME,
        now=NOW,
        run_at=None,
        approvals_needed=1,
        approver_sets=[None],
        approval_expires_at=NOW + timedelta(hours=1),
    )
    for _ in range(3):
        _request(store, ["web-9"], minutes=60)
    theirs = _request(store, ["mail-01"], requester="U0THEM")
    assert store.confirm(theirs, user="U0THEM", now=NOW, run_at=None)


def test_a_home_tab_costs_the_same_at_20_and_20000_requests_of_its_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    costs = {}
    for size, store in _stores(tmp_path):
        _same_ids(monkeypatch)
        history.persons_history(store.db.conn, ME, size)
        _unfinished(store)
        service: Any = SimpleNamespace(store=store, policy=Policy(), clock=lambda: NOW)
        with history.Steps(store) as steps:
            data = home_tab.gather(service, user=ME, tz="UTC")
        costs[size] = steps.count
        assert len(data.to_confirm) == 3
        assert data.in_flight_total == 21  # 20 sent, and the one waiting for approval
        assert data.scheduled_total == 21  # the fleet's: the person's 20 and another's
        assert data.to_approve == []  # their own
    assert costs[SIZES[0]] == costs[SIZES[1]], costs


def test_the_home_tabs_questions_search_indexes_of_what_is_unfinished(tmp_path: Path) -> None:
    store = Store(path=tmp_path / "plan.db")
    try:
        for sql, index in (
            (
                "SELECT id FROM requests INDEXED BY idx_requests_pending "
                "WHERE state = 'pending' AND expires_at > '2026' AND requester = 'U1'",
                "idx_requests_pending (expires_at>?)",
            ),
            (
                "SELECT id FROM operations o WHERE o.final = 0 AND o.state <> 'draft' "
                "AND scheduled_at >= '2026' AND scheduled_at < '2027'",
                "idx_operations_live (scheduled_at>? AND scheduled_at<?)",
            ),
        ):
            plan = " ".join(
                str(row[-1]) for row in store.db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
            )
            assert index in plan, plan
    finally:
        store.close()


# --- the freeze check before each send ---------------------------------------------------


def test_the_freeze_check_costs_the_same_at_20_and_20000_freezes_that_ran_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    costs = {}
    for size, store in _stores(tmp_path):
        _same_ids(monkeypatch)
        history.ended_freezes(store.db.conn, size)
        for devices, until in ((["db-*"], None), (["mail-*"], NOW + timedelta(hours=1))):
            store.add_freeze(
                devices=devices, reason="", by="U0ADMIN", channel=None, now=NOW, until=until
            )
        request_id = _request(store, ["server-01", "db-01", "mail-01"])
        assert store.confirm(request_id, user=ME, now=NOW, run_at=NOW)
        free, frozen, frozen_for_an_hour = store.get_request(request_id).operations
        with history.Steps(store) as claim:
            assert store.start_sending(free.id, now=NOW)
        with history.Steps(store) as refused:
            assert not store.start_sending(frozen.id, now=NOW)
            assert not store.start_sending(frozen_for_an_hour.id, now=NOW)
        with history.Steps(store) as listed:
            assert len(store.active_freezes(now=NOW)) == 2
        costs[size] = (claim.count, refused.count, listed.count)
    assert costs[SIZES[0]] == costs[SIZES[1]], costs
