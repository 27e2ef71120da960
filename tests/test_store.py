"""The SQLite store on a real file: round trips, compare-and-set transitions, the outbox."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.model import OperationSpec
from store import OperationRecord, RequestRecord, Store
from store.schema import MIGRATIONS

T0 = datetime(2024, 1, 15, 13, 45, tzinfo=UTC)
ALICE, BOB = "U123", "U456"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "opsbot.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Store]:
    """The store's behaviour, on each engine: a SQLite file, and a PostgreSQL database."""
    if request.param == "postgresql":
        opened = Store(url=request.getfixturevalue("pg_migrated_url"))
    else:
        opened = Store(path=db_path)
    yield opened
    opened.close()


def specs() -> list[OperationSpec]:
    return [
        OperationSpec(
            device_name="server-02",
            operation_type="restart_service",
            # Not UTC, with a fraction: stored as the API's whole-second UTC time.
            scheduled_at=datetime(
                2024, 1, 15, 15, 0, 0, 500000, tzinfo=timezone(timedelta(hours=1))
            ),
            parameters={"service_name": "nginx", "verify_status": True},
        ),
        OperationSpec(
            device_name="workstation-05",
            operation_type="update",
            scheduled_at=datetime(2024, 1, 15, 14, 0, tzinfo=UTC),
            parameters={"package_list": ["security-updates"], "nested": {"a": [1, 2.5, None]}},
        ),
        OperationSpec(
            device_name="db-01",
            operation_type="get",
            scheduled_at=datetime(2024, 1, 15, 14, 0, tzinfo=UTC),
        ),
    ]


def new_request(store: Store, *, requester: str = ALICE, ttl: float = 600) -> RequestRecord:
    return store.create_request(
        specs=specs(),
        requester=requester,
        surface="command",
        text="restart nginx on server-02 at 2pm",
        tz="Europe/Madrid",
        immediate=False,
        notes=["note one", "note two"],
        channel="C123",
        thread_ts=None,
        response_url="http://127.0.0.1:1/response",
        now=T0,
        expires_at=T0 + timedelta(seconds=ttl),
    )


def confirmed_request(store: Store) -> RequestRecord:
    """Confirmed, and its public message posted (its root event delivered)."""
    request = new_request(store)
    assert store.confirm(request.id, user=ALICE, now=T0, run_at=None)
    (root,) = [e for e in store.pending_outbox() if e.request_id == request.id]
    assert store.root_posted(root.id, status_ts="1700.01", now=T0)
    return loaded(store, request.id)


def announce(request_id: str, kind: str = "status", **data: Any) -> dict[str, Any]:
    return {"request_id": request_id, "kind": kind, **data}


def submitted(store: Store, *, status: str = "scheduled") -> OperationRecord:
    """The first operation of a confirmed request, sent and accepted by the API."""
    op = confirmed_request(store).operations[0]
    assert store.start_sending(op.id, now=T0)
    assert store.record_submitted(
        op.id,
        api_id=f"txn_{op.id}",
        status=status,
        estimated_duration=120,
        now=T0,
        announce=announce(op.request_id, "submitted", api_id=f"txn_{op.id}"),
    )
    return operation(store, op.id)


def read(store: Store, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of the store's own tables, on whichever engine it runs."""
    with store.engine.read() as tx:
        return tx.rows(sql, params)


def reopened(store: Store) -> Store:
    """The same database opened again, as another process would (its own connections)."""
    return Store(url=store.engine.url) if store.shared else Store(path=store.path)


def nothing_held(store: Store) -> bool:
    """No transaction left open by a step that failed: another connection can write at once
    (the writers' lock, SQLite's or the advisory one, is free)."""
    done = threading.Event()
    other = reopened(store)

    def write() -> None:
        with other.engine.write() as tx:
            tx.execute("DELETE FROM facts WHERE key = ?", ["nothing_held"])
        done.set()

    threading.Thread(target=write, daemon=True).start()
    try:
        return done.wait(timeout=15)
    finally:
        other.close()


def operation(store: Store, operation_id: int) -> OperationRecord:
    rows = read(store, "SELECT * FROM operations WHERE id = ?", [operation_id])
    assert len(rows) == 1
    return OperationRecord.from_row(rows[0])


def loaded(store: Store, request_id: str) -> RequestRecord:
    request = store.get_request(request_id)
    assert request is not None
    return request


def states(store: Store, request_id: str) -> list[str]:
    return [op.state for op in loaded(store, request_id).operations]


def count(store: Store, table: str) -> int:
    return read(store, f"SELECT count(*) AS n FROM {table}")[0]["n"]


def announced(store: Store) -> int:
    """Outbox rows besides the public message every confirmation queues."""
    return read(store, "SELECT count(*) AS n FROM outbox WHERE kind != 'root'")[0]["n"]


# ---------------------------------------------------------------------------- requests


def test_create_and_get_request_round_trip(store: Store) -> None:
    created = new_request(store)
    loaded = store.get_request(created.id)
    assert loaded == created
    assert loaded.state == "pending"
    assert loaded.requester == ALICE
    assert loaded.confirmed_by is None and loaded.confirmed_at is None
    assert loaded.notes == ("note one", "note two")
    assert loaded.immediate is False
    assert loaded.tz == "Europe/Madrid"
    assert loaded.created_at == T0 and loaded.expires_at == T0 + timedelta(seconds=600)

    ops = loaded.operations
    assert [op.seq for op in ops] == [0, 1, 2]
    assert [op.device_name for op in ops] == ["server-02", "workstation-05", "db-01"]
    assert [op.operation_type for op in ops] == ["restart_service", "update", "get"]
    assert all(op.state == "draft" and op.request_id == created.id for op in ops)
    assert all(op.api_id is None and op.status is None and not op.final for op in ops)
    assert ops[0].parameters == {"service_name": "nginx", "verify_status": True}
    assert ops[1].parameters == {
        "package_list": ["security-updates"],
        "nested": {"a": [1, 2.5, None]},
    }
    assert ops[2].parameters == {}
    for op in ops:
        assert op.scheduled_at.tzinfo is not None
        assert op.scheduled_at.utcoffset() == timedelta(0)
    assert ops[0].scheduled_at == datetime(2024, 1, 15, 14, 0, tzinfo=UTC)  # whole seconds

    raw = read(store, "SELECT parameters, scheduled_at FROM operations ORDER BY seq")
    assert json.loads(raw[1]["parameters"]) == ops[1].parameters
    assert [r["scheduled_at"] for r in raw] == ["2024-01-15T14:00:00Z"] * 3


def test_get_unknown_request_is_none(store: Store) -> None:
    new_request(store)
    assert store.get_request("r_nope") is None


def test_request_ids_are_distinct(store: Store) -> None:
    ids = {new_request(store).id for _ in range(5)}
    assert len(ids) == 5
    assert count(store, "operations") == 15


# ------------------------------------------------------------------------ confirmation


def test_confirm_only_by_the_requester(store: Store) -> None:
    request = new_request(store)
    assert not store.confirm(request.id, user=BOB, now=T0, run_at=None)
    assert loaded(store, request.id).state == "pending"
    assert store.pending_outbox() == []
    assert store.confirm(request.id, user=ALICE, now=T0, run_at=None)
    confirmed = loaded(store, request.id)
    assert confirmed.state == "confirmed"
    assert confirmed.confirmed_by == ALICE and confirmed.confirmed_at == T0


def test_confirm_only_once(store: Store) -> None:
    request = new_request(store)
    assert store.confirm(request.id, user=ALICE, now=T0, run_at=None)
    assert not store.confirm(request.id, user=ALICE, now=T0 + timedelta(seconds=1), run_at=None)
    assert loaded(store, request.id).confirmed_at == T0
    assert [e.kind for e in store.pending_outbox()] == ["root"]  # one public message


def test_confirm_unknown_request(store: Store) -> None:
    assert not store.confirm("r_nope", user=ALICE, now=T0, run_at=None)


@pytest.mark.parametrize("late", [0, 1, 3600])
def test_confirm_not_after_expiry(store: Store, late: float) -> None:
    request = new_request(store, ttl=60)
    moment = request.expires_at + timedelta(seconds=late)
    assert not store.confirm(request.id, user=ALICE, now=moment, run_at=None)
    assert loaded(store, request.id).state == "pending"
    # A second before expiry it still works.
    assert store.confirm(
        request.id, user=ALICE, now=request.expires_at - timedelta(seconds=1), run_at=None
    )


@pytest.mark.parametrize("shared", [True, False], ids=["one-store", "store-per-thread"])
def test_confirm_race_has_one_winner(store: Store, shared: bool) -> None:
    request = new_request(store)
    stores = [store] * 8 if shared else [reopened(store) for _ in range(8)]
    barrier = threading.Barrier(8)
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def claim(mine: Store) -> None:
        try:
            barrier.wait(timeout=5)
            won = mine.confirm(request.id, user=ALICE, now=T0, run_at=None)
        except BaseException as exc:  # surfaced below, not lost in a thread
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(won)

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    try:
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        assert sorted(results) == [False] * 7 + [True]
        assert loaded(store, request.id).state == "confirmed"
        assert states(store, request.id) == ["new"] * 3
        assert [e.kind for e in store.pending_outbox()] == ["root"]
    finally:
        if not shared:
            for other in stores:
                other.close()


def test_confirm_turns_drafts_into_new_and_queues_the_public_message(store: Store) -> None:
    request = new_request(store)
    other = new_request(store)
    assert store.confirm(request.id, user=ALICE, now=T0, run_at=None)
    confirmed = loaded(store, request.id)
    assert [op.state for op in confirmed.operations] == ["new"] * 3
    assert [op.scheduled_at for op in confirmed.operations] == [
        op.scheduled_at for op in request.operations
    ]
    assert confirmed.status_ts is None and confirmed.root_tried_at is None
    (root,) = store.pending_outbox()
    assert (root.kind, root.request_id, root.attempts) == ("root", request.id, 0)
    assert store.get_request(other.id) == other  # another request's drafts are not touched


def test_confirm_can_reschedule_an_immediate_request(store: Store) -> None:
    request = new_request(store)
    when = datetime(2024, 1, 15, 15, 46, 7, 999000, tzinfo=timezone(timedelta(hours=2)))
    assert store.confirm(request.id, user=ALICE, now=T0, run_at=when)
    expected = datetime(2024, 1, 15, 13, 46, 7, tzinfo=UTC)
    assert [op.scheduled_at for op in loaded(store, request.id).operations] == [expected] * 3


def test_operations_wait_for_slacks_first_answer_or_the_root_wait(store: Store) -> None:
    request = new_request(store)
    assert store.confirm(request.id, user=ALICE, now=T0, run_at=None)
    wait = timedelta(seconds=5)
    assert store.operations_to_send(now=T0, root_wait=wait) == []
    later = store.operations_to_send(now=T0 + wait, root_wait=wait)
    assert [op.request_id for op in later] == [request.id] * 3  # Slack never answered
    store.root_tried(request.id, now=T0)
    assert len(store.operations_to_send(now=T0, root_wait=wait)) == 3  # Slack answered


def test_a_channel_that_refuses_the_bot_stops_the_requests_nothing_of_which_was_sent(
    store: Store,
) -> None:
    waiting = new_request(store)
    going = new_request(store)
    posted = new_request(store)
    for request in (waiting, going, posted):
        assert store.confirm(request.id, user=ALICE, now=T0, run_at=None)
    assert store.start_sending(going.operations[0].id, now=T0)
    (posted_root,) = [e for e in store.pending_outbox() if e.request_id == posted.id]
    assert store.root_posted(posted_root.id, status_ts="1.1", now=T0)

    stopped = store.stop_unposted(
        "C123", reason="invite me", error="not_in_channel", now=T0, notice="private_not_posted"
    )
    assert stopped == [waiting.id]
    assert states(store, waiting.id) == ["rejected"] * 3
    assert {op.error for op in loaded(store, waiting.id).operations} == {"invite me"}
    assert states(store, going.id) == ["sending", "new", "new"]  # something went: it goes on
    assert states(store, posted.id) == ["new"] * 3  # its public message is out
    kinds = {(e.request_id, e.kind) for e in store.pending_outbox()}
    assert (waiting.id, "private_not_posted") in kinds and (waiting.id, "root") not in kinds
    assert (going.id, "root") in kinds
    assert store.operations_to_send(now=T0 + timedelta(hours=1), root_wait=timedelta(0)) == [
        op
        for op in store.operations_to_send(now=T0 + timedelta(hours=1), root_wait=timedelta(0))
        if op.request_id != waiting.id
    ]
    assert (
        store.stop_unposted("C123", reason="x", error="x", now=T0, notice="private_not_posted")
        == []
    )  # once


def test_end_request(store: Store) -> None:
    request = new_request(store)
    assert not store.end_request(request.id, to="cancelled", user=BOB, now=T0)
    assert store.end_request(request.id, to="cancelled", user=ALICE, now=T0)
    assert loaded(store, request.id).state == "cancelled"
    assert not store.confirm(request.id, user=ALICE, now=T0, run_at=None)
    expiring = new_request(store)
    assert store.end_request(expiring.id, to="expired", user=None, now=T0)
    assert not store.end_request(expiring.id, to="cancelled", user=ALICE, now=T0)


# -------------------------------------------------------------------------- operations


def test_start_sending_is_won_once(store: Store) -> None:
    draft = new_request(store).operations[0]
    assert not store.start_sending(draft.id, now=T0)  # a draft is not sent
    op = confirmed_request(store).operations[0]
    results = [store.start_sending(op.id, now=T0) for _ in range(3)]
    assert results == [True, False, False]
    assert operation(store, op.id).state == "sending"


def test_a_post_in_flight_when_the_bot_went_is_unknown_since_its_claim(store: Store) -> None:
    # A restart, or a replica taking the lead 10 s or more later: the wait before the API's
    # list is read counts from the POST, not from the moment its fate was taken up again.
    op = confirmed_request(store).operations[0]
    assert store.start_sending(op.id, now=T0)
    assert store.recover_after_crash(now=T0 + timedelta(minutes=5), error="stopped") == 1
    recovered = operation(store, op.id)
    assert (recovered.state, recovered.unknown_since) == ("unknown", T0)


def test_record_submitted_writes_history_and_outbox_together(store: Store) -> None:
    op = confirmed_request(store).operations[0]
    assert store.start_sending(op.id, now=T0)
    later = T0 + timedelta(seconds=2)
    assert store.record_submitted(
        op.id,
        api_id="txn_1001",
        status="scheduled",
        estimated_duration=120,
        now=later,
        announce=announce(op.request_id, "submitted", api_id="txn_1001", device="server-02"),
    )
    saved = operation(store, op.id)
    assert (saved.state, saved.api_id, saved.status, saved.final) == (
        "submitted",
        "txn_1001",
        "scheduled",
        False,
    )
    assert saved.estimated_duration == 120
    history = store.status_history(op.id)
    assert [(h["old_status"], h["new_status"]) for h in history] == [(None, "scheduled")]
    assert datetime.fromisoformat(history[0]["at"]) == later
    events = store.pending_outbox()
    assert len(events) == 1
    assert (events[0].request_id, events[0].kind) == (op.request_id, "submitted")
    assert events[0].data == {"api_id": "txn_1001", "device": "server-02"}
    assert events[0].attempts == 0
    assert [o.id for o in store.operations_to_poll()] == [op.id]
    # Only once: a second record for the same send changes nothing.
    assert not store.record_submitted(
        op.id,
        api_id="txn_1002",
        status="scheduled",
        estimated_duration=1,
        now=later,
        announce=announce(op.request_id),
    )
    assert operation(store, op.id).api_id == "txn_1001"
    assert count(store, "status_changes") == 1 and announced(store) == 1


def test_record_submitted_final_status_is_not_polled(store: Store) -> None:
    op = submitted(store, status="completed")
    assert op.final
    assert store.operations_to_poll() == []


@pytest.mark.parametrize("missing", ["request_id", "kind"])
def test_failing_enqueue_rolls_the_submit_back(store: Store, missing: str) -> None:
    op = confirmed_request(store).operations[0]
    assert store.start_sending(op.id, now=T0)
    bad = announce(op.request_id, "submitted")
    del bad[missing]
    with pytest.raises(KeyError):
        store.record_submitted(
            op.id,
            api_id="txn_1001",
            status="scheduled",
            estimated_duration=120,
            now=T0,
            announce=bad,
        )
    saved = operation(store, op.id)
    assert (saved.state, saved.api_id, saved.status) == ("sending", None, None)
    assert count(store, "status_changes") == 0
    assert announced(store) == 0
    assert nothing_held(store)
    # Nothing is left half-done or locked: the same step works with a good announce.
    assert store.record_submitted(
        op.id,
        api_id="txn_1001",
        status="scheduled",
        estimated_duration=120,
        now=T0,
        announce=announce(op.request_id, "submitted"),
    )
    assert count(store, "status_changes") == 1 and announced(store) == 1


def test_failing_enqueue_is_invisible_to_another_connection(store: Store) -> None:
    op = confirmed_request(store).operations[0]
    assert store.start_sending(op.id, now=T0)
    with pytest.raises(KeyError):
        store.record_submitted(
            op.id,
            api_id="txn_1",
            status="scheduled",
            estimated_duration=1,
            now=T0,
            announce={"kind": "submitted"},
        )
    other = reopened(store)  # another connection (SQLite), another pool (PostgreSQL)
    try:
        (state,) = read(other, "SELECT state FROM operations WHERE id = ?", [op.id])
        (changes,) = read(other, "SELECT count(*) AS n FROM status_changes")
    finally:
        other.close()
    assert state == {"state": "sending"}
    assert changes == {"n": 0}


def test_record_unsent(store: Store) -> None:
    op = confirmed_request(store).operations[0]
    assert not store.record_unsent(  # not sending yet
        op.id, state="rejected", error="nope", now=T0, announce=announce(op.request_id)
    )
    assert store.start_sending(op.id, now=T0)
    assert store.record_unsent(
        op.id,
        state="unknown",
        error="may or may not",
        now=T0,
        announce=announce(op.request_id, "unsent"),
    )
    saved = operation(store, op.id)
    assert (saved.state, saved.error, saved.final) == ("unknown", "may or may not", False)
    assert [e.kind for e in store.pending_outbox()] == ["unsent"]


def test_record_status_is_compare_and_set(store: Store) -> None:
    op = submitted(store)
    before = (count(store, "status_changes"), announced(store))
    for stale in ("running", None, "completed"):
        assert not store.record_status(
            op.id, old=stale, new="failed", now=T0, announce=announce(op.request_id)
        )
    assert (count(store, "status_changes"), announced(store)) == before
    assert operation(store, op.id).status == "scheduled"

    assert store.record_status(
        op.id, old="scheduled", new="running", now=T0, announce=announce(op.request_id, "run")
    )
    assert not store.record_status(  # the same change twice: the second loses
        op.id, old="scheduled", new="running", now=T0, announce=announce(op.request_id)
    )
    running = operation(store, op.id)
    assert (running.status, running.final) == ("running", False)
    assert [o.id for o in store.operations_to_poll()] == [op.id]
    history = [(h["old_status"], h["new_status"]) for h in store.status_history(op.id)]
    assert history == [(None, "scheduled"), ("scheduled", "running")]
    assert [e.kind for e in store.pending_outbox()] == ["submitted", "run"]


@pytest.mark.parametrize("final", ["completed", "failed", "Cancelled", "timeout"])
def test_final_status_is_no_longer_polled(store: Store, final: str) -> None:
    op = submitted(store)
    other = submitted(store)
    assert store.record_status(
        op.id, old="scheduled", new=final, now=T0, announce=announce(op.request_id)
    )
    done = operation(store, op.id)
    assert done.final and done.status == final
    row = tuple(read(store, "SELECT final FROM operations WHERE id = ?", [op.id])[0].values())
    assert row == (1,)
    assert [o.id for o in store.operations_to_poll()] == [other.id]


def test_unknown_status_word_keeps_polling(store: Store) -> None:
    op = submitted(store)
    assert store.record_status(
        op.id, old="scheduled", new="pending", now=T0, announce=announce(op.request_id)
    )
    assert not operation(store, op.id).final
    assert [o.id for o in store.operations_to_poll()] == [op.id]


def test_record_status_only_for_submitted(store: Store) -> None:
    op = confirmed_request(store).operations[0]  # "new", never sent
    assert not store.record_status(
        op.id, old=None, new="running", now=T0, announce=announce(op.request_id)
    )
    assert count(store, "status_changes") == 0


# ------------------------------------------------------------------------------ outbox


def test_outbox_in_id_order_delivered_once(store: Store) -> None:
    first, second = new_request(store), new_request(store)
    for n, request in enumerate([first, second, first, second]):
        store.enqueue(announce(request.id, f"k{n}", n=n), now=T0 + timedelta(seconds=-n))
    events = store.pending_outbox()
    assert [e.kind for e in events] == ["k0", "k1", "k2", "k3"]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert [e.request_id for e in events] == [first.id, second.id, first.id, second.id]
    assert [e.data for e in events] == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]
    assert [e.kind for e in store.pending_outbox(limit=2)] == ["k0", "k1"]

    assert store.mark_delivered(events[1].id, now=T0)
    assert not store.mark_delivered(events[1].id, now=T0)
    assert [e.kind for e in store.pending_outbox()] == ["k0", "k2", "k3"]
    assert not store.mark_delivered(999_999, now=T0)


def test_outbox_attempts_count_up(store: Store) -> None:
    request = new_request(store)
    store.enqueue(announce(request.id, "hello"), now=T0)
    (event,) = store.pending_outbox()
    store.mark_attempt_started(event.id)
    store.mark_attempt_failed(event.id, error="slack said no")
    store.mark_attempt_started(event.id)
    store.mark_attempt_failed(event.id, error="x" * 2000)
    (again,) = store.pending_outbox()
    assert again.id == event.id and again.attempts == 2
    row = tuple(read(store, "SELECT last_error FROM outbox WHERE id = ?", [event.id])[0].values())
    assert row == ("x" * 500,)
    assert store.mark_delivered(event.id, now=T0)
    assert store.pending_outbox() == []


def test_enqueue_without_keys_writes_nothing(store: Store) -> None:
    request = new_request(store)
    with pytest.raises(KeyError):
        store.enqueue({"request_id": request.id}, now=T0)
    assert count(store, "outbox") == 0
    assert nothing_held(store)


# -------------------------------------------------------------------------------- file


def test_file_is_in_wal_mode(db_path: Path) -> None:
    store = Store(path=db_path)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    with sqlite3.connect(db_path) as other:  # persistent: any connection sees it
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_keeps_data_and_migrates_once(db_path: Path) -> None:
    first = Store(path=db_path)
    request = new_request(first)
    op = submitted(first)
    applied = list(first.db.query("SELECT * FROM _sqlite_migrations ORDER BY id"))
    first.close()

    second = Store(path=db_path)
    try:
        assert second.get_request(request.id) == request
        assert [o.id for o in second.operations_to_poll()] == [op.id]
        assert len(second.pending_outbox()) == 1
        rows = list(second.db.query("SELECT * FROM _sqlite_migrations ORDER BY id"))
        assert rows == applied  # same rows, same applied_at: nothing ran again
        names = [r["name"] for r in rows if r["migration_set"] == MIGRATIONS.name]
        assert names == [m.name for m in MIGRATIONS._migrations]
        assert len(names) == len(set(names))
        assert MIGRATIONS.pending(second.db) == []
    finally:
        second.close()

    third = Store(path=db_path)  # and again
    try:
        count_rows = third.db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
        assert count_rows == len(MIGRATIONS._migrations)
    finally:
        third.close()


# ------------------------------------------------------------------- unknown outcomes


def unknown(store: Store) -> OperationRecord:
    """The first operation of a confirmed request, its create call unanswered."""
    op = confirmed_request(store).operations[0]
    assert store.start_sending(op.id, now=T0)
    assert store.record_unsent(
        op.id,
        state="unknown",
        error="timed out",
        now=T0,
        announce=announce(op.request_id, "unsent", operation_id=op.id),
    )
    return operation(store, op.id)


def test_the_requester_is_asked_once(store: Store) -> None:
    op = unknown(store)
    ask = announce(op.request_id, "ask_unknown", operation_id=op.id)
    assert store.ask_about_unknown(op.id, now=T0, announce=ask)
    assert not store.ask_about_unknown(op.id, now=T0, announce=ask)
    assert [e.kind for e in store.pending_outbox()].count("ask_unknown") == 1
    assert operation(store, op.id).asked_at == T0


def answer(store: Store, op: OperationRecord, choice: str, **changes: object) -> bool:
    later = T0 + timedelta(hours=1)
    if choice == "send_again":
        return store.send_again(
            op.id,
            user=ALICE,
            now=T0,
            run_at=changes.get("run_at"),  # type: ignore[arg-type]
            watch_until=later,
            announce=announce(op.request_id),
        )
    return store.drop_unknown(
        op.id,
        user=ALICE,
        now=T0,
        error="dropped",
        watch_until=later,
        announce=announce(op.request_id),
    )


def test_send_again_and_drop_are_one_answer(store: Store) -> None:
    op = unknown(store)
    assert answer(store, op, "send_again")
    assert not answer(store, op, "drop")
    again = operation(store, op.id)
    assert (again.state, again.answered_by, again.send_attempts) == ("new", ALICE, 1)
    assert again.watch_original_until == T0 + timedelta(hours=1)
    assert again.scheduled_at == op.scheduled_at and again.earlier_times == ()

    other = unknown(store)
    assert answer(store, other, "drop")
    dropped = operation(store, other.id)
    assert (dropped.state, dropped.final, dropped.error) == ("rejected", True, "dropped")
    assert dropped.watch_original_until == T0 + timedelta(hours=1)  # still looked for
    assert not answer(store, other, "send_again")
    assert [o.id for o in store.operations_watched(now=T0)] == [op.id, other.id]


def test_a_request_for_now_sent_again_runs_now_and_is_matched_by_its_first_time(
    store: Store,
) -> None:
    op = unknown(store)
    resent_at = T0 + timedelta(minutes=11)
    assert answer(store, op, "send_again", run_at=resent_at)
    again = operation(store, op.id)
    assert again.scheduled_at == resent_at and again.earlier_times == (op.scheduled_at,)


def test_an_operation_unknown_again_after_a_send_again_can_be_asked_about_again(
    store: Store,
) -> None:
    op = unknown(store)
    ask = announce(op.request_id, "ask_unknown", operation_id=op.id)
    assert store.ask_about_unknown(op.id, now=T0, announce=ask)
    assert answer(store, op, "send_again")
    assert store.start_sending(op.id, now=T0)
    assert store.record_unsent(
        op.id, state="unknown", error="timed out again", now=T0, announce=announce(op.request_id)
    )
    assert operation(store, op.id).asked_at is None
    assert store.ask_about_unknown(op.id, now=T0, announce=ask)


def test_adopting_an_unknown_outcome_records_the_apis_operation(store: Store) -> None:
    op = unknown(store)
    assert store.adopt_found(
        op.id,
        was="unknown",
        api_id="txn_9",
        status="failed",
        scheduled_at=op.scheduled_at,
        estimated_duration=30,
        end_watch=True,
        now=T0,
        announce=announce(op.request_id, "adopted", operation_id=op.id),
    )
    adopted = operation(store, op.id)
    assert (adopted.state, adopted.api_id, adopted.status, adopted.final) == (
        "submitted",
        "txn_9",
        "failed",
        True,
    )
    assert store.status_history(op.id)[0]["new_status"] == "failed"
    assert store.api_ids_taken(["txn_9", "txn_10"]) == {"txn_9"}
    assert not store.adopt_found(  # adopted once only
        op.id,
        was="unknown",
        api_id="txn_10",
        status="scheduled",
        scheduled_at=op.scheduled_at,
        estimated_duration=None,
        end_watch=True,
        now=T0,
        announce=announce(op.request_id, "adopted"),
    )


def test_a_late_original_becomes_an_operation_of_its_request_once(store: Store) -> None:
    op = unknown(store)
    assert answer(store, op, "send_again")
    assert store.start_sending(op.id, now=T0)
    assert store.record_submitted(
        op.id,
        api_id="txn_2",
        status="scheduled",
        estimated_duration=None,
        now=T0,
        announce=announce(op.request_id, "submitted"),
    )
    assert [o.id for o in store.operations_watched(now=T0)] == [op.id]
    assert store.operations_watched(now=T0 + timedelta(hours=2)) == []
    twice = announce(op.request_id, "found_twice", operation_id=op.id)
    first_time = op.scheduled_at - timedelta(minutes=3)  # what the API holds it for
    for won in (True, False):
        assert won == store.adopt_late_original(
            op.id,
            api_id="txn_1",
            status="running",
            scheduled_at=first_time,
            estimated_duration=None,
            now=T0,
            announce=twice,
        )
    ops = loaded(store, op.request_id).operations
    twins = [o for o in ops if o.device_name == op.device_name]
    assert sorted(o.api_id or "" for o in twins) == ["txn_1", "txn_2"]
    assert next(o for o in twins if o.api_id == "txn_1").scheduled_at == first_time
    assert store.operations_watched(now=T0) == []
    (event,) = [e for e in store.pending_outbox() if e.kind == "found_twice"]
    assert event.data["operation_id"] == next(o.id for o in twins if o.api_id == "txn_1")


def test_a_request_of_several_is_summed_up_once_when_the_last_one_ends(store: Store) -> None:
    request = confirmed_request(store)
    first, second, third = request.operations
    for op, api_id in ((first, "t1"), (second, "t2")):
        assert store.start_sending(op.id, now=T0)
        assert store.record_submitted(
            op.id,
            api_id=api_id,
            status="scheduled",
            estimated_duration=None,
            now=T0,
            announce=announce(request.id, "submitted", operation_id=op.id),
        )
    assert store.start_sending(third.id, now=T0)
    assert store.record_unsent(
        third.id,
        state="rejected",
        error="no",
        now=T0,
        announce=announce(request.id, "unsent", operation_id=third.id),
    )
    assert store.record_status(
        first.id,
        old="scheduled",
        new="completed",
        now=T0,
        announce=announce(request.id, operation_id=first.id),
    )
    assert "finished" not in [e.kind for e in store.pending_outbox()]
    assert store.record_status(
        second.id,
        old="scheduled",
        new="failed",
        now=T0,
        announce=announce(request.id, operation_id=second.id),
    )
    assert [e.kind for e in store.pending_outbox()].count("finished") == 1


def test_a_429_does_not_count_as_a_try_that_may_have_landed(store: Store) -> None:
    request = new_request(store)
    store.enqueue(announce(request.id, "hello"), now=T0)
    (event,) = store.pending_outbox()
    store.mark_attempt_started(event.id)
    store.mark_attempt_failed(event.id, error="429", landed=False)
    assert store.pending_outbox()[0].attempts == 0
    store.mark_attempt_started(event.id)
    store.mark_attempt_failed(event.id, error="timeout")
    assert store.pending_outbox()[0].attempts == 1


def test_device_names_are_remembered_in_the_apis_spelling(store: Store) -> None:
    assert store.known_devices() == {}
    store.learn_devices(["Server-01", "db-01"], now=T0)
    store.learn_devices(["server-01"], now=T0)  # the API spells it differently now
    assert store.known_devices() == {"server-01": "server-01", "db-01": "db-01"}


def test_in_a_channel_that_refused_the_bot_operations_wait_for_their_own_answer(
    store: Store,
) -> None:
    assert (
        store.stop_unposted(
            "C123", reason="invite me", error="not_in_channel", now=T0, notice="private_not_posted"
        )
        == []
    )
    later = new_request(store)
    assert store.confirm(later.id, user=ALICE, now=T0, run_at=None)
    an_hour = T0 + timedelta(hours=1)
    # However long since the click: Slack has not answered this request's message yet.
    assert store.operations_to_send(now=an_hour, root_wait=timedelta(seconds=30)) == []
    (root,) = [e for e in store.pending_outbox() if e.request_id == later.id]
    assert store.root_posted(root.id, status_ts="2.2", now=an_hour)  # invited back
    assert len(store.operations_to_send(now=an_hour, root_wait=timedelta(seconds=30))) == 3
    other = new_request(store)
    assert store.confirm(other.id, user=ALICE, now=T0, run_at=None)
    assert {
        op.request_id
        for op in store.operations_to_send(now=an_hour, root_wait=timedelta(seconds=30))
    } == {later.id, other.id}


def test_a_request_reopened_by_a_dropped_attempt_found_is_summed_up_again(store: Store) -> None:
    request = confirmed_request(store)
    ops = request.operations
    for op in ops[1:]:
        assert store.start_sending(op.id, now=T0)
        assert store.record_unsent(
            op.id, state="rejected", error="no", now=T0, announce=announce(request.id)
        )
    assert store.start_sending(ops[0].id, now=T0)
    assert store.record_unsent(
        ops[0].id, state="unknown", error="timed out", now=T0, announce=announce(request.id)
    )
    assert answer(store, operation(store, ops[0].id), "drop")
    assert [e.kind for e in store.pending_outbox()].count("finished") == 1
    assert store.adopt_found(
        ops[0].id,
        was="rejected",
        api_id="txn_1",
        status="running",
        scheduled_at=ops[0].scheduled_at,
        estimated_duration=None,
        end_watch=True,
        now=T0,
        announce=announce(request.id, "found_after_drop", operation_id=ops[0].id),
    )
    assert [e.kind for e in store.pending_outbox()].count("finished") == 1  # running again
    assert store.record_status(
        ops[0].id, old="running", new="completed", now=T0, announce=announce(request.id)
    )
    assert [e.kind for e in store.pending_outbox()].count("finished") == 2  # ended again


def test_a_second_send_again_keeps_every_earlier_time(store: Store) -> None:
    op = unknown(store)
    first = T0 + timedelta(minutes=5)
    assert answer(store, op, "send_again", run_at=first)
    assert store.start_sending(op.id, now=T0)
    assert store.record_unsent(
        op.id, state="unknown", error="again", now=T0, announce=announce(op.request_id)
    )
    assert answer(store, operation(store, op.id), "send_again", run_at=T0 + timedelta(minutes=9))
    assert operation(store, op.id).earlier_times == (op.scheduled_at, first)


def test_a_message_queued_before_a_refusal_stops_only_its_own_request(store: Store) -> None:
    old = new_request(store)
    assert store.confirm(old.id, user=ALICE, now=T0, run_at=None)
    assert store.stop_unposted(
        "C123", reason="invite me", error="x", now=T0, notice="n", only=old.id
    ) == [old.id]
    assert (
        store.operations_to_send(  # the channel is not marked as refusing by it
            now=T0 + timedelta(hours=1), root_wait=timedelta(0)
        )
        == []
    )
    later = new_request(store)
    assert store.confirm(later.id, user=ALICE, now=T0, run_at=None)
    assert (
        store.stop_unposted("C123", reason="invite me", error="x", now=T0, notice="n", only=old.id)
        == []
    )
    assert states(store, later.id) == ["new"] * 3
    assert {
        op.request_id
        for op in store.operations_to_send(now=T0 + timedelta(hours=1), root_wait=timedelta(0))
    } == {later.id}


def test_a_channel_that_refuses_the_bot_stops_a_request_waiting_for_approval(
    store: Store,
) -> None:
    request = new_request(store)
    assert store.confirm(
        request.id,
        user=ALICE,
        now=T0,
        run_at=None,
        approvals_needed=1,
        approver_sets=[None],
        approval_expires_at=T0 + timedelta(hours=1),
    )
    stopped = store.stop_unposted(
        "C123", reason="invite me", error="not_in_channel", now=T0, notice="private_not_posted"
    )
    assert stopped == [request.id]
    assert states(store, request.id) == ["rejected"] * 3
    assert loaded(store, request.id).state == "expired"  # nobody can approve it now
