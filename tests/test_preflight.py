"""The pre-flight look: what else is running or scheduled on a request's devices, read from the
newest end of the API's list (the simulator over HTTP, 100,000 operations) in a few GETs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.model import OperationSpec
from bot.understand.preflight import Conflict, find_conflicts
from bot.zequenze.api import Found, ZequenzeClient
from bot.zequenze.simulator.endpoint import Simulator
from bot.zequenze.simulator.faults import Fault
from tests.test_listing import HISTORY, ORDERS, list_gets

BEFORE = timedelta(minutes=10)  # this request's operations run that long from now


def spec(device: str, at: datetime) -> OperationSpec:
    return OperationSpec(
        device_name=device,
        operation_type="reboot",
        scheduled_at=at,
        parameters={"force": False, "timeout": 300},
    )


def create(api: ZequenzeClient, device: str, at: datetime, kind: str = "reboot") -> str:
    parameters: dict[str, Any] = {"force": False} if kind == "reboot" else {}
    created = api.create_operation(
        OperationSpec(
            device_name=device, operation_type=kind, scheduled_at=at, parameters=parameters
        )
    )
    return str(created["id"])


@pytest.fixture(scope="module", params=ORDERS)
def busy(request: pytest.FixtureRequest) -> Iterator[tuple[Simulator, dict[str, str], datetime]]:
    """100,000 finished operations, then a few on this request's devices and others; their ids
    by what they are, and the time this request's operations are for."""
    with Simulator(run_seconds=0.0, seed=7, order=request.param) as simulator:
        simulator.seed(HISTORY)
        api = ZequenzeClient(base_url=simulator.url, token=simulator.token, retries=0)
        now = datetime.now(UTC).replace(microsecond=0)
        at = now + BEFORE
        ids = {"done": create(api, "server-04", now - timedelta(minutes=5))}
        simulator.run_seconds = 3600.0
        ids["running"] = create(api, "server-01", now - timedelta(minutes=1), kind="update")
        # Seen to move only when asked with update_status: as the API would store them.
        for key in ("done", "running"):
            api.get_operation(ids[key], update_status=True)
        ids["soon"] = create(api, "server-02", at + timedelta(minutes=30))
        ids["before"] = create(api, "server-02", at - timedelta(minutes=45))
        ids["later"] = create(api, "server-03", at + timedelta(hours=2))
        ids["elsewhere"] = create(api, "db-01", at)
        api.close()
        yield simulator, ids, at


@pytest.fixture
def client(busy: tuple[Simulator, dict[str, str], datetime]) -> Iterator[ZequenzeClient]:
    simulator = busy[0]
    api = ZequenzeClient(base_url=simulator.url, token=simulator.token, retries=0)
    yield api
    api.close()


def test_running_and_near_operations_on_the_same_devices_conflict_in_a_few_gets(
    busy: tuple[Simulator, dict[str, str], datetime], client: ZequenzeClient
) -> None:
    simulator, ids, at = busy
    specs = [spec(name, at) for name in ("SERVER-01", "Server-02", "server-03", "server-04")]
    before = len(simulator.requests)
    found = find_conflicts(api=client, specs=specs, now=at - BEFORE)
    # Newest first: 5 pages of 100. Oldest first: its first page, and 5 from the other end.
    assert list_gets(simulator, before) <= 6
    assert found.unavailable is None
    assert found.searched == 500  # not the whole list: the note says how far it went
    running, before_it, soon = found.conflicts  # running first, then by time
    assert running == Conflict(
        api_id=ids["running"],
        device_name="server-01",
        operation_type="update",
        status="running",
        scheduled_at=at - BEFORE - timedelta(minutes=1),
        running=True,
    )
    assert (before_it.api_id, before_it.device_name) == (ids["before"], "server-02")
    assert (soon.api_id, soon.status, soon.running) == (ids["soon"], "scheduled", False)
    assert soon.scheduled_at == at + timedelta(minutes=30)
    # Two hours later, completed, another device: none of them.
    assert {c.api_id for c in found.conflicts}.isdisjoint(
        {ids["later"], ids["done"], ids["elsewhere"]}
    )


def test_a_request_for_now_is_compared_from_now_and_a_narrower_window_shows_less(
    busy: tuple[Simulator, dict[str, str], datetime], client: ZequenzeClient
) -> None:
    _, ids, at = busy
    now = at - BEFORE
    long_ago = now - timedelta(days=1)  # a time gone by: it runs at once
    from_now = find_conflicts(api=client, specs=[spec("server-02", long_ago)], now=now)
    # 35 minutes before now and 40 after.
    assert {c.api_id for c in from_now.conflicts} == {ids["before"], ids["soon"]}
    narrow = timedelta(minutes=38)
    found = find_conflicts(api=client, specs=[spec("server-02", long_ago)], now=now, window=narrow)
    assert [c.api_id for c in found.conflicts] == [ids["before"]]
    # From this request's own time: 45 minutes before it and 30 after.
    found = find_conflicts(api=client, specs=[spec("server-02", at)], now=now, window=narrow)
    assert [c.api_id for c in found.conflicts] == [ids["soon"]]
    assert find_conflicts(api=client, specs=[spec("server-05", at)], now=now).conflicts == ()


def test_the_api_down_is_a_note_not_an_exception(
    busy: tuple[Simulator, dict[str, str], datetime], client: ZequenzeClient
) -> None:
    simulator, _, at = busy
    simulator.faults.add(Fault(kind="status", method="GET", status=503, times=None))
    try:
        found = find_conflicts(api=client, specs=[spec("server-01", at)], now=at - BEFORE)
    finally:
        simulator.faults.clear()
    assert found.conflicts == () and found.searched is None
    assert found.unavailable is not None
    assert found.unavailable.startswith("I could not check what else is running or scheduled")
    assert "503" in found.unavailable

    wrong = ZequenzeClient(base_url=simulator.url, token="not-the-token", retries=0)
    try:
        refused = find_conflicts(api=wrong, specs=[spec("server-01", at)], now=at - BEFORE)
    finally:
        wrong.close()
    assert refused.unavailable is not None and "401" in refused.unavailable


def test_unreachable_api_is_a_note_too() -> None:
    with Simulator() as simulator:
        url = simulator.url
    api = ZequenzeClient(base_url=url, token="sim-token", retries=0, timeout=1.0)
    try:
        found = find_conflicts(
            api=api, specs=[spec("server-01", datetime.now(UTC))], now=datetime.now(UTC)
        )
    finally:
        api.close()
    assert found.unavailable is not None and "Could not reach the Zequenze API" in found.unavailable


@pytest.mark.parametrize("order", ORDERS)
def test_a_short_list_is_read_whole_and_an_old_one_beyond_the_bound_is_missed(order: str) -> None:
    with Simulator(run_seconds=0.0, order=order) as simulator:  # type: ignore[arg-type]
        api = ZequenzeClient(base_url=simulator.url, token=simulator.token, retries=0)
        try:
            now = datetime.now(UTC).replace(microsecond=0)
            far = now + timedelta(days=30)
            planned = create(api, "server-01", far)
            whole = find_conflicts(api=api, specs=[spec("server-01", far)], now=now)
            assert [c.api_id for c in whole.conflicts] == [planned]
            assert whole.searched is None  # every operation the API holds

            # The blind spot, documented: 600 created since, and the look stops at 500.
            simulator.seed(600, created_at=now + timedelta(seconds=1))
            missed = find_conflicts(api=api, specs=[spec("server-01", far)], now=now)
            assert missed.conflicts == () and missed.searched == 500
            deeper = find_conflicts(api=api, specs=[spec("server-01", far)], now=now, within=700)
            assert [c.api_id for c in deeper.conflicts] == [planned]
        finally:
            api.close()


class GivenList:
    """An API whose list is given: what find_newest sees of it."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def find_newest(self, match: Any, *, want: int, within: int, page_size: int = 100) -> Found:
        hits = [item for item in self.items[:within] if match(item)][:want]
        whole = within >= len(self.items)
        searched = min(within, len(self.items))
        return Found(items=hits, searched=searched, whole=whole, total=len(self.items), requests=1)


def test_statuses_the_api_invents_and_times_it_cannot_read() -> None:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    items = [
        {"id": "t1", "device_name": "server-01", "status": "in_progress", "scheduled_at": None},
        {"id": "t2", "device_name": "server-01", "status": "queued", "scheduled_at": "soon"},
        {"id": "t3", "device_name": "server-01", "status": "cancelled", "scheduled_at": None},
        {
            "id": "t4",
            "device_name": "server-01",
            "status": "Pending",
            "scheduled_at": "2026-11-25T10:59:00Z",
        },
        {
            "id": "t5",
            "device_name": "server-01",
            "status": "TIMED_OUT",
            "scheduled_at": "2026-11-25T10:00:00Z",
        },
    ]
    found = find_conflicts(api=GivenList(items), specs=[spec("server-01", now)], now=now)
    assert [(c.api_id, c.running) for c in found.conflicts] == [
        ("t1", True),
        ("t4", False),
        ("t2", False),  # no readable time: shown, after those with one
    ]
    assert found.conflicts[2].scheduled_at is None and found.searched is None
    assert find_conflicts(api=GivenList(items), specs=[], now=now).conflicts == ()
