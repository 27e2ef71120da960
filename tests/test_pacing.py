"""The per-channel pacer on a clock the test moves: a burst, then one turn per gap; a 429's
hold; one channel never waiting on another."""

from __future__ import annotations

from bot.pacing import BURST, ChannelPacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_quiet_channel_takes_a_burst_then_one_turn_per_gap() -> None:
    clock = Clock()
    pacer = ChannelPacer(gap=1.0, clock=clock)
    assert [pacer.try_take("C1") for _ in range(BURST + 1)] == [True] * BURST + [False]
    assert pacer.wait("C1") == 1.0
    clock.now += 0.5
    assert not pacer.try_take("C1") and pacer.wait("C1") == 0.5
    clock.now += 0.5
    assert pacer.try_take("C1") and not pacer.try_take("C1")
    clock.now += 60  # a long quiet: the burst again, never more
    assert [pacer.try_take("C1") for _ in range(BURST + 1)] == [True] * BURST + [False]


def test_one_channel_never_waits_on_another() -> None:
    pacer = ChannelPacer(gap=1.0, clock=Clock())
    for _ in range(BURST):
        assert pacer.try_take("BUSY")
    pacer.hold("BUSY", 30)
    assert not pacer.try_take("BUSY")
    assert [pacer.try_take("QUIET") for _ in range(BURST)] == [True] * BURST


def test_a_429_holds_the_channel_for_as_long_as_slack_asked() -> None:
    clock = Clock()
    pacer = ChannelPacer(gap=1.0, clock=clock)
    pacer.hold("C1", 5)
    assert pacer.wait("C1") == 5
    clock.now += 4.9
    assert not pacer.try_take("C1")
    clock.now += 0.1
    # After the hold the channel starts empty: one turn, then one per gap.
    assert pacer.try_take("C1") is False
    clock.now += 1.0
    assert pacer.try_take("C1") and not pacer.try_take("C1")


def test_a_shorter_hold_never_cuts_a_longer_one() -> None:
    clock = Clock()
    pacer = ChannelPacer(gap=1.0, clock=clock)
    pacer.hold("C1", 10)
    pacer.hold("C1", 1)
    clock.now += 2
    assert not pacer.try_take("C1") and pacer.wait("C1") == 8


def test_gap_zero_turns_pacing_off() -> None:
    pacer = ChannelPacer(gap=0.0, clock=Clock())
    assert all(pacer.try_take("C1") for _ in range(100))


def test_take_waits_for_a_turn_and_gives_up_at_its_timeout() -> None:
    pacer = ChannelPacer(gap=0.05)
    for _ in range(BURST):
        assert pacer.take("C1", timeout=0)
    assert pacer.take("C1", timeout=1.0)  # waits about one gap
    pacer.hold("C1", 30)
    assert not pacer.take("C1", timeout=0.05)
