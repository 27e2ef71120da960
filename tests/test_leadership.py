"""The lease that decides which replica does the background work, on real stores sharing
one database (two Store objects on one SQLite file stand for two replicas)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.track.leadership import BACKGROUND, Leadership
from bot.track.ticker import Ticker
from store import Store
from tests.conftest import eventually

# Short, so a lease that runs out does so within the test; the margin as a share of it.
SECONDS, MARGIN = 1.0, 0.3


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    first, second = Store(path=tmp_path / "shared.db"), Store(path=tmp_path / "shared.db")
    yield first, second
    first.close()
    second.close()


def replica(store: Store, holder: str, elected: list[tuple[str, int]] | None = None) -> Leadership:
    def note(term: int) -> None:
        if elected is not None:
            elected.append((holder, term))

    return Leadership(
        store=store, holder=holder, settle=note, seconds=SECONDS, renew_every=0.1, margin=MARGIN
    )


def test_one_replica_leads_and_keeps_leading_while_it_renews(stores: tuple[Store, Store]) -> None:
    elected: list[tuple[str, int]] = []
    a, b = replica(stores[0], "a", elected), replica(stores[1], "b", elected)
    assert a.renew() and a.leading and a.term == 1
    assert not b.renew() and not b.leading
    for _ in range(3):
        assert a.renew() and not b.renew()
    assert elected == [("a", 1)]  # told once per term, not at every renewal
    lease = stores[1].lease(BACKGROUND)
    assert lease is not None and (lease.holder, lease.term) == ("a", 1)


def test_a_leader_that_stops_renewing_is_replaced_and_never_overlaps(
    stores: tuple[Store, Store],
) -> None:
    # A leader killed with kill -9 renews no more: its lease runs out, the next replica takes
    # it with the next term, and the dead one had stopped counting itself leader before.
    elected: list[tuple[str, int]] = []
    a, b = replica(stores[0], "a", elected), replica(stores[1], "b", elected)
    assert a.renew()
    taken = eventually(lambda: b.renew(), what="the lease to pass to b")
    assert taken and b.term == 2
    assert not a.leading, "the old leader still counted itself leader when b took over"
    assert not a.renew() and a.term is None
    assert elected == [("a", 1), ("b", 2)]


def test_a_clean_stop_hands_the_lease_over_at_once(stores: tuple[Store, Store]) -> None:
    a, b = replica(stores[0], "a").start(), replica(stores[1], "b")
    try:
        assert a.leading and not b.renew()
    finally:
        a.stop()
    assert not a.leading
    assert b.renew() and b.term == 2  # at once, not after the lease ran out


def test_the_new_leader_settles_the_old_ones_work_before_it_leads(
    stores: tuple[Store, Store],
) -> None:
    seen_leading: list[tuple[str, bool]] = []
    b = Leadership(
        store=stores[1],
        holder="b",
        settle=lambda term: seen_leading.append(("settle", b.leading)),
        on_leading=lambda: seen_leading.append(("on_leading", b.leading)),
        seconds=SECONDS,
        renew_every=0.1,
        margin=MARGIN,
    )
    assert b.renew() and b.leading
    assert seen_leading == [("settle", False), ("on_leading", True)]


def test_a_leader_that_cannot_reach_the_database_stops_leading_by_its_lease(
    tmp_path: Path,
) -> None:
    store = Store(path=tmp_path / "gone.db")
    a = replica(store, "a")
    assert a.renew()
    store.close()  # every store call now raises
    assert a.renew()  # within its lease it still leads: nobody else may have it yet
    eventually(lambda: not a.renew(), what="the leader to give up once its lease ran out")
    assert not a.leading


def test_a_loop_works_only_while_its_replica_leads_and_still_goes_round() -> None:
    worked: list[int] = []
    leads = {"now": False}
    loop = Ticker(name="work", interval=0.01, job=lambda: worked.append(1))
    loop.only_while(lambda: leads["now"])
    loop.start()
    try:
        first = loop.last_round_at
        eventually(lambda: loop.last_round_at != first, what="a round while not leading")
        assert worked == []  # rounds go by (health sees the loop alive) with no work done
        leads["now"] = True
        eventually(lambda: worked, what="work once leading")
    finally:
        loop.stop()
        loop.join(5)
