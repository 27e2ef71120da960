"""The per-channel pacer on a clock the test moves: a burst, then one turn per gap; a 429's
hold; one channel never waiting on another."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.track.pacing import BURST, Buckets, ChannelPacer, LocalBuckets, SharedBuckets
from store import Store


@pytest.fixture(params=["in-process", "sqlite", "postgresql"])
def buckets(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Buckets]]:
    """Where the turns are kept: this process, or the database replicas share (each call a
    new replica's view of it)."""
    yield from _kept_in(request, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Buckets]]:
    """A database the replicas share."""
    yield from _kept_in(request, tmp_path)


def _kept_in(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Buckets]]:
    if request.param == "in-process":
        yield LocalBuckets
        return
    url = request.getfixturevalue("pg_migrated_url") if request.param == "postgresql" else ""
    opened: list[Store] = []

    def replica() -> Buckets:
        opened.append(Store(url=url) if url else Store(path=tmp_path / "shared.db"))
        return SharedBuckets(opened[-1], "post")

    yield replica
    for store in opened:
        store.close()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_quiet_channel_takes_a_burst_then_one_turn_per_gap(
    buckets: Callable[[], Buckets],
) -> None:
    clock = Clock()
    pacer = ChannelPacer(gap=1.0, clock=clock, buckets=buckets())
    assert [pacer.try_take("C1") for _ in range(BURST + 1)] == [True] * BURST + [False]
    assert pacer.wait("C1") == 1.0
    clock.now += 0.5
    assert not pacer.try_take("C1") and pacer.wait("C1") == 0.5
    clock.now += 0.5
    assert pacer.try_take("C1") and not pacer.try_take("C1")
    clock.now += 60  # a long quiet: the burst again, never more
    assert [pacer.try_take("C1") for _ in range(BURST + 1)] == [True] * BURST + [False]


def test_one_channel_never_waits_on_another(buckets: Callable[[], Buckets]) -> None:
    pacer = ChannelPacer(gap=1.0, clock=Clock(), buckets=buckets())
    for _ in range(BURST):
        assert pacer.try_take("BUSY")
    pacer.hold("BUSY", 30)
    assert not pacer.try_take("BUSY")
    assert [pacer.try_take("QUIET") for _ in range(BURST)] == [True] * BURST


def test_a_429_holds_the_channel_for_as_long_as_slack_asked(buckets: Callable[[], Buckets]) -> None:
    clock = Clock()
    pacer = ChannelPacer(gap=1.0, clock=clock, buckets=buckets())
    pacer.hold("C1", 5)
    assert pacer.wait("C1") == 5
    clock.now += 4.9
    assert not pacer.try_take("C1")
    clock.now += 0.1
    # After the hold the channel starts empty: one turn, then one per gap.
    assert pacer.try_take("C1") is False
    clock.now += 1.0
    assert pacer.try_take("C1") and not pacer.try_take("C1")


def test_a_shorter_hold_never_cuts_a_longer_one(buckets: Callable[[], Buckets]) -> None:
    clock = Clock()
    pacer = ChannelPacer(gap=1.0, clock=clock, buckets=buckets())
    pacer.hold("C1", 10)
    pacer.hold("C1", 1)
    clock.now += 2
    assert not pacer.try_take("C1") and pacer.wait("C1") == 8


def test_gap_zero_turns_pacing_off(buckets: Callable[[], Buckets]) -> None:
    pacer = ChannelPacer(gap=0.0, clock=Clock(), buckets=buckets())
    assert all(pacer.try_take("C1") for _ in range(100))


def test_take_waits_for_a_turn_and_gives_up_at_its_timeout(buckets: Callable[[], Buckets]) -> None:
    pacer = ChannelPacer(gap=0.05, buckets=buckets())
    for _ in range(BURST):
        assert pacer.take("C1", timeout=0)
    assert pacer.take("C1", timeout=1.0)  # waits about one gap
    pacer.hold("C1", 30)
    assert not pacer.take("C1", timeout=0.05)


def test_replicas_sharing_a_database_share_each_channels_turns(
    shared: Callable[[], Buckets],
) -> None:
    # Slack counts a channel's posts whichever replica makes them: two replicas together get
    # the burst once, then one turn per gap between them, and a 429 one of them met holds
    # the channel for both.
    clock = Clock()
    first, second = (ChannelPacer(gap=1.0, clock=clock, buckets=shared()) for _ in range(2))
    turns = [pacer.try_take("C1") for pacer in (first, second, first, second)]
    assert turns == [True, True, False, False]
    clock.now += 1.0
    assert second.try_take("C1") and not first.try_take("C1")
    clock.now += 1.0
    first.hold("C1", 5)
    assert not second.try_take("C1") and second.wait("C1") == 5


def test_asking_how_long_to_wait_or_how_many_turns_writes_nothing(
    shared: Callable[[], Buckets],
) -> None:
    # The outbox asks several times a second per waiting channel: only a turn taken or a hold
    # changes what is kept.
    clock = Clock()
    buckets = shared()
    assert isinstance(buckets, SharedBuckets)
    pacer = ChannelPacer(gap=1.0, clock=clock, buckets=buckets)
    assert pacer.try_take("C1")

    def kept() -> list[dict[str, object]]:
        with buckets._store.engine.read() as tx:
            return tx.rows("SELECT * FROM channel_turns ORDER BY key")

    before = kept()
    clock.now += 0.4
    assert pacer.turns("C1") == 1 and pacer.wait("C1") == 0.0
    assert kept() == before
    assert pacer.try_take("C1") and kept() != before
