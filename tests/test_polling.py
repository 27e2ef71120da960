"""Polling by need: each operation is looked at when its answer can matter, on one clock that
the test moves (the simulator's and the bot's), so no test waits for time to pass."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.model import OperationSpec
from bot.track.poller import Poller, PollTuning
from bot.zequenze.api import ZequenzeClient
from bot.zequenze.devices import DeviceBook
from bot.zequenze.simulator.endpoint import DEFAULT_INVENTORY, Simulator
from bot.zequenze.simulator.faults import Fault
from store import Store, is_final

INTERVAL = 10.0  # seconds of the test's clock
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Harness:
    clock: Clock
    simulator: Simulator
    store: Store
    api: ZequenzeClient
    poller: Poller
    path: Path

    def create(self, at: Sequence[datetime]) -> list[int]:
        """Operations submitted as the bot's sender leaves them; their store ids."""
        now = self.clock()
        devices = sorted(DEFAULT_INVENTORY)
        specs = [
            OperationSpec(
                device_name=devices[n % len(devices)],
                operation_type="reboot",
                scheduled_at=moment,
                parameters={"force": False, "timeout": 300},
            )
            for n, moment in enumerate(at)
        ]
        request = self.store.create_request(
            specs=specs,
            requester="U123",
            surface="command",
            text="test",
            tz="UTC",
            immediate=False,
            notes=(),
            channel="C123",
            thread_ts=None,
            response_url=None,
            now=now,
            expires_at=now + timedelta(days=365),
        )
        assert self.store.confirm(request.id, user="U123", now=now, run_at=None)
        confirmed = self.store.get_request(request.id)
        assert confirmed is not None
        for op, spec in zip(confirmed.operations, specs, strict=True):
            assert self.store.start_sending(op.id, now=now)
            created = self.api.create_operation(spec)
            assert self.store.record_submitted(
                op.id,
                api_id=created["id"],
                status=created["status"],
                estimated_duration=created.get("estimated_duration"),
                now=now,
                announce=op.announce("submitted"),
            )
        return [op.id for op in confirmed.operations]

    def gets(self) -> list[dict[str, list[str]]]:
        return [parse_qs(urlsplit(p).query) for m, p in self.simulator.requests if m == "GET"]

    def run(self, seconds: float, *, step: float) -> None:
        """Rounds every `step` seconds of the clock, as the loop would wake for them."""
        end = self.clock.now + timedelta(seconds=seconds)
        while self.clock.now < end:
            self.poller.poll_once()
            self.clock.advance(step)

    def history(self, operation_id: int) -> list[str]:
        return [c["new_status"] for c in self.store.status_history(operation_id)]


def make_harness(
    tmp_path: Path, *, tuning: PollTuning | None = None, run_seconds: float = 30.0, name="p"
) -> Iterator[Harness]:
    clock = Clock()
    with Simulator(run_seconds=run_seconds, seed=3, clock=clock) as simulator:
        store = Store(path=tmp_path / f"{name}.db")
        api = ZequenzeClient(base_url=simulator.url, token=simulator.token, retry_base=0.01)
        poller = Poller(
            store=store,
            api=api,
            devices=DeviceBook(store=store, clock=clock),
            clock=clock,
            interval=INTERVAL,
            tuning=tuning or PollTuning(),
        )
        try:
            yield Harness(clock, simulator, store, api, poller, tmp_path / f"{name}.db")
        finally:
            poller.close()
            api.close()
            store.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    yield from make_harness(tmp_path)


def test_creating_operations_asks_about_none_of_the_others(harness: Harness) -> None:
    tomorrow = T0 + timedelta(days=1)
    harness.create([tomorrow] * 5)
    harness.poller.poll_once()
    for _ in range(20):  # a burst of creations, each waking the loop as the sender does
        harness.create([tomorrow])
        harness.poller.poll_once()
    assert harness.gets() == []
    assert harness.simulator.post_count == 25
    assert harness.store.operations_unplaced() == []


def test_a_far_future_operation_is_asked_about_in_time_and_not_before(harness: Harness) -> None:
    (op_id,) = harness.create([T0 + timedelta(hours=5)])
    # Five hours of rounds every minute: the rare look (one an hour) never asks the device.
    harness.run(5 * 3600 - 2 * INTERVAL, step=60)
    looks = harness.gets()
    assert 1 <= len(looks) <= 5
    assert all("update_status" not in q for q in looks)
    # From shortly before its time: asked with update_status, and its whole run is seen.
    harness.run(4 * INTERVAL + 30, step=1)
    assert any("update_status" in q for q in harness.gets())
    assert harness.history(op_id) == ["scheduled", "running", "completed"]


def test_a_status_lasting_longer_than_the_interval_is_never_skipped(tmp_path: Path) -> None:
    # Runs of 1.3 intervals starting at random moments of the next ten minutes, rounds every
    # tenth of a second: between two looks of a running operation there is never more than
    # the interval, so no running phase falls between them.
    for harness in make_harness(tmp_path, run_seconds=INTERVAL * 1.3):
        rng = random.Random(5)
        ids = harness.create([T0 + timedelta(seconds=rng.uniform(0, 600)) for _ in range(40)])
        harness.run(600 + 3 * INTERVAL, step=0.5)
        for op_id in ids:
            assert harness.history(op_id) == ["scheduled", "running", "completed"], op_id


def test_many_due_at_once_are_read_from_a_listing_with_the_same_results(
    tmp_path: Path,
) -> None:
    results = {}
    for name, tuning in (("listing", PollTuning()), ("by_id", PollTuning(page_size=1))):
        for harness in make_harness(tmp_path, run_seconds=25.0, name=name):
            ids = harness.create([T0 + timedelta(seconds=5)] * 60)
            harness.poller._tuning = tuning
            harness.run(60, step=1)
            by_id = sum("id" in q for q in harness.gets())
            results[name] = (
                [harness.history(i) for i in ids],
                harness.poller.listings,
                by_id,
                len(harness.gets()),
            )
    histories, listings, by_id, total = results["listing"]
    assert histories == results["by_id"][0]
    assert all(h == ["scheduled", "running", "completed"] for h in histories)
    assert listings >= 2 and by_id == 0
    assert total * 5 < results["by_id"][3]  # 60 by id each time against one page
    assert results["by_id"][1] == 0


def test_the_listing_misses_nothing_it_does_not_show(harness: Harness) -> None:
    # Ours are older than a page of others' creations: what the pages allowed do not show is
    # asked by id.
    ids = harness.create([T0 + timedelta(seconds=5)] * 10)
    harness.simulator.seed(150, created_at=T0 + timedelta(seconds=1), spacing=timedelta(0))
    harness.run(60, step=1)
    for op_id in ids:
        assert harness.history(op_id) == ["scheduled", "running", "completed"]


def test_every_operation_followed_keeps_a_next_look(harness: Harness) -> None:
    ids = harness.create(
        [T0 + timedelta(days=2), T0, T0 + timedelta(seconds=30), T0 + timedelta(hours=3)]
    )
    harness.simulator.faults.add(Fault(method="GET", kind="status", status=503, times=12))
    harness.run(7200, step=5)
    followed = harness.store.operations_to_poll()
    latest = harness.clock() + timedelta(seconds=PollTuning().idle_look)
    for op in followed:
        assert op.next_check_at is not None and op.next_check_at <= latest, op
    done = {op_id for op_id in ids if is_final(harness.history(op_id)[-1])}
    assert done | {op.id for op in followed} == set(ids)
    assert len(done) == 2  # the two due within the two hours ran to their end


def test_a_restart_keeps_the_schedule(tmp_path: Path) -> None:
    for harness in make_harness(tmp_path):
        (op_id,) = harness.create([T0 + timedelta(hours=1)])
        harness.poller.poll_once()
        (placed,) = harness.store.operations_to_poll()
        assert placed.next_check_at == T0 + timedelta(hours=1, seconds=-INTERVAL)
        harness.poller.close()
        harness.store.close()
        # A new process on the same file: the same next look, nothing asked before it.
        store = Store(path=harness.path)
        poller = Poller(
            store=store,
            api=harness.api,
            devices=DeviceBook(store=store, clock=harness.clock),
            clock=harness.clock,
            interval=INTERVAL,
        )
        harness.store, harness.poller = store, poller
        harness.run(3600 - 2 * INTERVAL, step=60)
        assert harness.gets() == []
        assert store.operations_to_poll()[0].next_check_at == placed.next_check_at
        harness.run(3 * INTERVAL + 40, step=1)
        assert harness.history(op_id) == ["scheduled", "running", "completed"]
        poller.close()
        store.close()


def test_looks_still_in_flight_never_make_the_loop_spin(tmp_path: Path) -> None:
    # A full load of due looks, all still waiting for a slow API from the round before: the
    # next round takes none of them, and the loop waits rather than turning at once.
    for harness in make_harness(tmp_path, tuning=PollTuning(round_limit=2)):
        ids = harness.create([T0, T0, T0])
        harness.poller.poll_once()  # placed; the first looks are due at their time
        harness.clock.advance(INTERVAL)
        with harness.poller._inflight_lock:
            harness.poller._inflight.update(ids)
        assert harness.poller.poll_once() == 0
        assert harness.poller.pause() > 0
