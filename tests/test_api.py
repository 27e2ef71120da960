"""ZequenzeClient against the API simulator over loopback: bodies, errors, paging."""

from __future__ import annotations

import json
import socket
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.model import OperationSpec
from bot.zequenze.api import ApiError, ZequenzeClient
from bot.zequenze.simulator.endpoint import RESOURCE_PATH, Simulator
from bot.zequenze.simulator.faults import Fault
from tests.conftest import eventually

# These tests pick free ports for processes that bind them later: in one group, the suite's
# parallel workers never race each other for a port between picking and binding.
pytestmark = pytest.mark.xdist_group("ports")

WRONG_TOKEN = "wrong-token-Zq81"
SHORT_TIMEOUT = 0.5  # a "hang" fault outlasts it by far; keeps timeout tests fast


def spec(**overrides: Any) -> OperationSpec:
    values: dict[str, Any] = {
        "device_name": "server-02",
        "operation_type": "restart_service",
        "scheduled_at": datetime(2024, 1, 15, 14, 0, tzinfo=UTC),
        "parameters": {"service_name": "nginx", "verify_status": True},
    }
    values.update(overrides)
    return OperationSpec(**values)


def connect(*, base_url: str, token: str, **options: Any) -> ZequenzeClient:
    """A client that tries each request once, so a test sees the error a fault causes
    (retrying a GET is the client's own business, tested on its own below)."""
    options.setdefault("timeout", 5.0)
    options.setdefault("retries", 0)
    return ZequenzeClient(base_url=base_url, token=token, **options)


class RecordingTransport(httpx.HTTPTransport):
    """The real HTTP transport, keeping a copy of every request it puts on the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.sent.append(request)
        return super().handle_request(request)


@pytest.fixture
def client(simulator: Simulator) -> Iterator[ZequenzeClient]:
    api = connect(base_url=simulator.url, token=simulator.token)
    yield api
    api.close()


@pytest.fixture
def quick_client(simulator: Simulator) -> Iterator[ZequenzeClient]:
    api = connect(base_url=simulator.url, token=simulator.token, timeout=SHORT_TIMEOUT)
    yield api
    api.close()


def api_error(call: Callable[[], Any], *secrets: str) -> ApiError:
    """The ApiError `call` raises, checked to leak none of `secrets`: not in its message, nor
    in any exception it chains (what a log line with the traceback would show)."""
    with pytest.raises(ApiError) as caught:
        call()
    error = caught.value
    chain: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    rendered = [error.message, *("".join(traceback.format_exception_only(e)) for e in chain)]
    for secret in secrets:
        for text in rendered:
            assert secret not in text
    return error


def get_requests(simulator: Simulator) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(target).query)
        for method, target in list(simulator.requests)
        if method == "GET"
    ]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- create


def test_create_sends_the_seed_body_with_bearer_token(simulator: Simulator) -> None:
    transport = RecordingTransport()
    api = connect(base_url=simulator.url, token=simulator.token, transport=transport)
    # Not UTC, with a fraction of a second: the API still gets whole seconds in UTC with `Z`.
    madrid_summer = timezone(timedelta(hours=2))
    when = datetime(2024, 1, 15, 16, 0, 0, 123456, tzinfo=madrid_summer)
    try:
        created = api.create_operation(spec(scheduled_at=when))
    finally:
        api.close()

    assert [r.method for r in transport.sent] == ["POST"]
    request = transport.sent[0]
    assert request.url.path == RESOURCE_PATH
    assert request.headers["Authorization"] == f"Bearer {simulator.token}"
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.content)
    assert body == {
        "device_name": "server-02",
        "operation_type": "restart_service",
        "scheduled_at": "2024-01-15T14:00:00Z",
        "parameters": {"service_name": "nginx", "verify_status": True},
    }
    assert list(body) == ["device_name", "operation_type", "scheduled_at", "parameters"]

    assert created["id"] == "txn_1001"
    stored = simulator.operations()
    assert [op["id"] for op in stored] == ["txn_1001"]
    assert stored[0]["scheduled_at"] == "2024-01-15T14:00:00Z"
    assert stored[0]["parameters"] == {"service_name": "nginx", "verify_status": True}


def test_create_returns_the_id_as_a_string(client: ZequenzeClient, simulator: Simulator) -> None:
    first = client.create_operation(spec())
    second = client.create_operation(spec(device_name="db-01", operation_type="get"))
    assert (first["id"], second["id"]) == ("txn_1001", "txn_1002")
    assert first["status"] == "scheduled"
    assert simulator.post_count == 2


# --------------------------------------------------------------------------- errors


def test_400_lists_the_field_errors(client: ZequenzeClient, simulator: Simulator) -> None:
    error = api_error(
        lambda: client.create_operation(spec(operation_type="explode")), simulator.token
    )
    assert error.status == 400
    assert "operation_type: " in error.message
    assert '"explode" is not a valid choice' in error.message
    assert not error.outcome_unknown and not error.retryable
    assert simulator.post_count == 0


def test_400_with_several_fields_names_each(client: ZequenzeClient, simulator: Simulator) -> None:
    body = {"scheduled_at": ["Bad time."], "parameters": ["Too big."]}
    simulator.faults.add(Fault(kind="status", status=400, method="POST", body=json.dumps(body)))
    error = api_error(lambda: client.create_operation(spec()), simulator.token)
    assert "scheduled_at: Bad time." in error.message
    assert "parameters: Too big." in error.message
    assert not error.outcome_unknown


def test_401_tells_an_admin(simulator: Simulator) -> None:
    api = connect(base_url=simulator.url, token=WRONG_TOKEN)
    try:
        for call in (lambda: api.create_operation(spec()), lambda: api.get_operation("txn_1")):
            error = api_error(call, WRONG_TOKEN, simulator.token)
            assert error.status == 401
            assert "tell an admin" in error.message
            assert not error.outcome_unknown and not error.retryable
    finally:
        api.close()
    assert simulator.post_count == 0


def test_403_tells_an_admin(client: ZequenzeClient, simulator: Simulator) -> None:
    simulator.faults.add(Fault(kind="status", status=403, times=2))
    for call in (lambda: client.create_operation(spec()), lambda: client.get_operation("txn_1")):
        error = api_error(call, simulator.token)
        assert error.status == 403
        assert "tell an admin" in error.message
        assert "403" in error.message
        assert not error.outcome_unknown
    assert simulator.faults.pending() == []


def test_404_on_create_names_the_device(client: ZequenzeClient, simulator: Simulator) -> None:
    error = api_error(
        lambda: client.create_operation(spec(device_name="server-99")), simulator.token
    )
    assert error.status == 404
    assert error.message == "Device server-99 is not in the inventory."
    assert not error.outcome_unknown and not error.retryable


def test_429_is_retryable_and_not_unknown(client: ZequenzeClient, simulator: Simulator) -> None:
    simulator.faults.add(Fault(kind="status", status=429, headers={"Retry-After": "1"}))
    error = api_error(lambda: client.create_operation(spec()), simulator.token)
    assert error.status == 429
    assert "rate-limiting" in error.message
    assert error.retryable and not error.outcome_unknown
    assert simulator.post_count == 0


@pytest.mark.parametrize("status", [500, 502])
def test_5xx_on_create_may_or_may_not_have_created(
    client: ZequenzeClient, simulator: Simulator, status: int
) -> None:
    simulator.faults.add(Fault(kind="status", status=status, method="POST"))
    error = api_error(lambda: client.create_operation(spec()), simulator.token)
    assert error.status == status
    assert f"HTTP {status}" in error.message
    assert "may or may not" in error.message
    assert error.outcome_unknown and error.retryable


def test_5xx_after_the_work_really_is_unknown(client: ZequenzeClient, simulator: Simulator) -> None:
    # The case outcome_unknown exists for: the API created it, then failed to say so.
    simulator.faults.add(Fault(kind="status_after_work", status=500, method="POST"))
    error = api_error(lambda: client.create_operation(spec()), simulator.token)
    assert error.outcome_unknown and "may or may not" in error.message
    assert simulator.post_count == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_on_get_is_retryable_not_unknown(
    client: ZequenzeClient, simulator: Simulator, status: int
) -> None:
    simulator.faults.add(Fault(kind="status", status=status, method="GET"))
    error = api_error(lambda: client.get_operation("txn_1001"), simulator.token)
    assert error.status == status
    assert error.retryable
    assert not error.outcome_unknown
    assert "may or may not" not in error.message


@pytest.mark.parametrize("kind", ["hang", "hang_after_work"])
def test_timeout_on_create_is_unknown(
    quick_client: ZequenzeClient, simulator: Simulator, kind: str
) -> None:
    simulator.faults.add(Fault(kind=kind, seconds=5, method="POST"))  # type: ignore[arg-type]
    error = api_error(lambda: quick_client.create_operation(spec()), simulator.token)
    assert "did not answer in time" in error.message
    assert error.outcome_unknown and error.retryable
    assert simulator.faults.pending() == []
    if kind == "hang_after_work":  # created all the same: exactly why it must not be retried
        eventually(lambda: simulator.post_count == 1, timeout=5, what="the create")
    else:
        assert simulator.post_count == 0


def test_timeout_on_get_is_retryable_not_unknown(
    quick_client: ZequenzeClient, simulator: Simulator
) -> None:
    simulator.faults.add(Fault(kind="hang", seconds=5, method="GET"))
    error = api_error(lambda: quick_client.get_operation("txn_1001"), simulator.token)
    assert "did not answer in time" in error.message
    assert error.retryable and not error.outcome_unknown


def test_reset_on_create_is_unknown(client: ZequenzeClient, simulator: Simulator) -> None:
    simulator.faults.add(Fault(kind="reset", method="POST"))
    error = api_error(lambda: client.create_operation(spec()), simulator.token)
    assert "broke before it answered" in error.message
    assert error.outcome_unknown and error.retryable
    assert simulator.faults.pending() == []


def test_reset_on_get_is_not_unknown(client: ZequenzeClient, simulator: Simulator) -> None:
    simulator.faults.add(Fault(kind="reset", method="GET"))
    error = api_error(lambda: client.get_operation("txn_1001"), simulator.token)
    assert error.retryable and not error.outcome_unknown


def test_html_is_not_json(client: ZequenzeClient, simulator: Simulator) -> None:
    simulator.faults.add(Fault(kind="html", times=2))
    post = api_error(lambda: client.create_operation(spec()), simulator.token)
    get = api_error(lambda: client.get_operation("txn_1001"), simulator.token)
    for error in (post, get):
        assert "not JSON" in error.message
        assert "text/html" in error.message
        assert "<html>" not in error.message
        assert error.retryable
    assert post.outcome_unknown  # a proxy page on a POST says nothing about the create
    assert not get.outcome_unknown


def test_missing_results(client: ZequenzeClient, simulator: Simulator) -> None:
    simulator.faults.add(Fault(kind="missing_results", times=2))
    for call in (
        lambda: client.get_operation("txn_1001"),
        lambda: client.newest_operations(limit=20),
    ):
        error = api_error(call, simulator.token)
        assert "without a list of operations (no `results`)" in error.message
        assert error.retryable and not error.outcome_unknown


def test_connection_refused_could_not_reach() -> None:
    token = "refused-token-7Qx"
    api = connect(base_url=f"http://127.0.0.1:{closed_port()}/api/v1", token=token)
    try:
        for call in (lambda: api.create_operation(spec()), lambda: api.get_operation("txn_1")):
            error = api_error(call, token)
            assert "Could not reach" in error.message
            assert "nothing was sent" in error.message
            assert not error.outcome_unknown
            assert error.retryable
    finally:
        api.close()


# -------------------------------------------------------------------------- retries


@pytest.fixture
def retrying_client(simulator: Simulator) -> Iterator[ZequenzeClient]:
    api = connect(
        base_url=simulator.url,
        token=simulator.token,
        timeout=SHORT_TIMEOUT,
        retries=3,
        retry_base=0.01,
    )
    yield api
    api.close()


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="status", status=500, method="POST"),
        Fault(kind="status", status=429, method="POST"),
        Fault(kind="reset", method="POST"),
        Fault(kind="hang", seconds=5, method="POST"),
    ],
    ids=["500", "429", "reset", "hang"],
)
def test_a_create_is_never_retried(
    retrying_client: ZequenzeClient, simulator: Simulator, fault: Fault
) -> None:
    simulator.faults.add(fault)
    api_error(lambda: retrying_client.create_operation(spec()), simulator.token)
    assert [m for m, _ in simulator.requests] == ["POST"]
    assert simulator.post_count == 0


@pytest.mark.parametrize(
    "fault",
    [
        Fault(kind="status", status=503, method="GET"),
        Fault(kind="status", status=429, method="GET", headers={"Retry-After": "0"}),
        Fault(kind="reset", method="GET"),
        Fault(kind="hang", seconds=5, method="GET"),
    ],
    ids=["503", "429", "reset", "hang"],
)
def test_a_read_gets_through_a_passing_fault(
    retrying_client: ZequenzeClient, simulator: Simulator, fault: Fault
) -> None:
    created = retrying_client.create_operation(spec())
    simulator.faults.add(fault)
    found = retrying_client.get_operation(created["id"])
    assert found is not None and found["id"] == created["id"]
    assert [m for m, _ in simulator.requests] == ["POST", "GET", "GET"]


def test_a_refused_read_is_not_retried(simulator: Simulator) -> None:
    api = connect(base_url=simulator.url, token=WRONG_TOKEN, retries=3, retry_base=0.01)
    try:
        error = api_error(lambda: api.get_operation("txn_1001"), WRONG_TOKEN)
    finally:
        api.close()
    assert error.status == 401
    assert [m for m, _ in simulator.requests] == ["GET"]


# -------------------------------------------------------------------------- reading


def test_get_operation_asks_for_a_fresh_status(
    client: ZequenzeClient, simulator: Simulator
) -> None:
    created = client.create_operation(spec())
    client.create_operation(spec(device_name="server-03"))
    found = client.get_operation(created["id"])
    assert found is not None
    assert found["id"] == created["id"]
    assert found["device_name"] == "server-02"
    query = get_requests(simulator)[-1]
    assert query["id"] == [created["id"]]
    assert query["update_status"] == ["true"]


def test_get_operation_without_update_status(client: ZequenzeClient, simulator: Simulator) -> None:
    created = client.create_operation(spec())
    assert client.get_operation(created["id"], update_status=False) is not None
    query = get_requests(simulator)[-1]
    assert query["id"] == [created["id"]]
    assert "update_status" not in query


def test_get_operation_unknown_id_is_none(client: ZequenzeClient, simulator: Simulator) -> None:
    client.create_operation(spec())
    assert client.get_operation("txn_424242") is None
    assert get_requests(simulator)[-1]["id"] == ["txn_424242"]


def test_other_operations_for_an_id_are_an_error_not_a_missing_operation(
    client: ZequenzeClient, simulator: Simulator
) -> None:
    """An API that ignores the id filter answers with the newest operation instead: that says
    nothing about the one asked for, which must not be taken as gone."""
    older = client.create_operation(spec(device_name="server-01"))["id"]
    client.create_operation(spec(device_name="server-02"))
    simulator.faults.add(Fault(kind="ignore_id_filter", times=None))
    error = api_error(lambda: client.get_operation(older), simulator.token)
    assert "answered with other operations" in error.message
    simulator.faults.clear()
    assert client.get_operation(older)["id"] == older


# --- reading the list from its newest end ------------------------------------------------

T0 = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
ORDERS = ["newest_first", "oldest_first"]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ids_newest_first(seeded: list[str]) -> list[str]:
    return list(reversed(seeded))


def list_gets(simulator: Simulator) -> list[tuple[int, int]]:
    """(offset, limit) of each list GET the simulator answered (not the reads of one id)."""
    return [
        (int(q.get("offset", ["0"])[0]), int(q.get("limit", ["100"])[0]))
        for q in get_requests(simulator)
        if "id" not in q
    ]


@pytest.fixture(params=ORDERS)
def ordered(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    with Simulator(run_seconds=0.4, seed=7, order=request.param) as sim:
        yield sim


@pytest.fixture
def on(ordered: Simulator) -> Iterator[ZequenzeClient]:
    api = connect(base_url=ordered.url, token=ordered.token)
    yield api
    api.close()


def test_recent_stops_at_the_first_older_operation_in_either_order(
    ordered: Simulator, on: ZequenzeClient
) -> None:
    seeded = ordered.seed(250, created_at=T0)  # one a second: the last 50 are from T0+200 s
    recent = on.recent_operations(since=at(200))
    assert [item["id"] for item in recent.items] == ids_newest_first(seeded[200:])
    assert recent.complete and recent.total == 250
    if ordered.order == "newest_first":
        assert list_gets(ordered) == [(0, 100)]  # the item older than T0+200 s is on page one
    else:  # the oldest 100 first (that tells the order), then the newest 100
        assert list_gets(ordered) == [(0, 100), (150, 100)]
    assert recent.requests == len(list_gets(ordered))


def test_recent_reads_back_as_far_as_needed_and_stops_at_max_pages(
    ordered: Simulator, on: ZequenzeClient
) -> None:
    seeded = ordered.seed(250, created_at=T0)
    deep = on.recent_operations(since=at(30), page_size=50)
    assert [item["id"] for item in deep.items] == ids_newest_first(seeded[30:])
    assert deep.complete
    everything = on.recent_operations(since=at(-1), page_size=50)
    assert [item["id"] for item in everything.items] == ids_newest_first(seeded)
    assert everything.complete  # the oldest end reached: nothing older exists
    cut = on.recent_operations(since=at(30), page_size=50, max_pages=3)
    assert not cut.complete and cut.requests == 3
    assert {item["id"] for item in cut.items} < set(seeded[30:])


def test_recent_minds_the_servers_cap_on_limit(ordered: Simulator) -> None:
    ordered.max_limit = 30  # DRF's max_limit: a larger `limit` is cut without a word
    seeded = ordered.seed(250, created_at=T0)
    api = connect(base_url=ordered.url, token=ordered.token)
    try:
        recent = api.recent_operations(since=at(150), page_size=100)
    finally:
        api.close()
    assert [item["id"] for item in recent.items] == ids_newest_first(seeded[150:])
    assert recent.complete
    offsets = [offset for offset, _ in list_gets(ordered)]
    if ordered.order == "newest_first":
        assert offsets == [0, 30, 60, 90]
    else:  # 30 came back for 100: the pages back from the end are 30 long
        assert offsets == [0, 220, 190, 160, 130]


def test_recent_tells_the_order_from_the_other_end_when_one_page_cannot(
    ordered: Simulator, on: ZequenzeClient
) -> None:
    older = ordered.seed(150, created_at=T0)
    burst = ordered.seed(100, created_at=at(1000), spacing=timedelta(0))  # one second, 100 ops
    recent = on.recent_operations(since=at(149))
    assert {item["id"] for item in recent.items} == {*burst, older[-1]}
    assert len(recent.items) == 101 and recent.complete
    if ordered.order == "newest_first":  # page one is all one moment: ask the oldest end
        assert list_gets(ordered) == [(0, 100), (249, 1), (100, 100)]
    else:
        assert list_gets(ordered) == [(0, 100), (150, 100), (50, 100)]


def test_recent_counts_operations_created_between_its_pages(ordered: Simulator) -> None:
    """New operations shift every offset of a newest-first list; they must be read, and the
    ones they push down must be neither skipped nor counted twice."""
    seeded = ordered.seed(250, created_at=T0)
    writer = connect(base_url=ordered.url, token=ordered.token)
    created: list[str] = []

    class CreateAfterGets(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.method == "GET" and len(created) < 6:
                for _ in range(3):
                    created.append(writer.create_operation(spec())["id"])
            return response

    reader = connect(base_url=ordered.url, token=ordered.token, transport=CreateAfterGets())
    try:
        recent = reader.recent_operations(since=at(60), page_size=50)
    finally:
        reader.close()
        writer.close()
    got = [item["id"] for item in recent.items]
    assert len(created) == 6
    assert got == ids_newest_first([*seeded[60:], *created])  # all, once, newest first
    assert recent.complete and recent.total == 256


def test_an_operation_without_a_readable_created_at_is_kept_and_read_past(
    listing_server: Any,
) -> None:
    dated = [listed_item(n, at(n)) for n in range(300)]
    undated = [{**listed_item(n, None), "created_at": "soon"} for n in range(300, 303)]
    # Newest first, with items that cannot say when they were made among the newest ones.
    listing_server.items = [*reversed(dated[250:]), *undated, *reversed(dated[:250])]
    recent = read_listing(listing_server, since=at(240))
    assert [item["id"] for item in recent.items] == [
        *(f"op{n}" for n in range(299, 249, -1)),
        "op300",
        "op301",
        "op302",
        *(f"op{n}" for n in range(249, 239, -1)),
    ]
    assert recent.complete


def test_a_list_in_no_order_of_creation_is_filtered_whole_never_cut_short(
    listing_server: Any,
) -> None:
    moments = [(n * 37) % 120 for n in range(120)]  # every second once, shuffled
    listing_server.items = [listed_item(n, at(m)) for n, m in enumerate(moments)]
    recent = read_listing(listing_server, since=at(100), page_size=50)
    assert sorted(item["id"] for item in recent.items) == sorted(
        f"op{n}" for n, m in enumerate(moments) if m >= 100
    )
    assert recent.complete  # the whole list was read
    assert [q["offset"] for q in listing_server.queries] == [["0"], ["50"], ["100"]]
    listing_server.queries.clear()
    cut = read_listing(listing_server, since=at(100), page_size=50, max_pages=2)
    assert not cut.complete


def test_a_list_without_created_at_is_read_whole_when_small(listing_server: Any) -> None:
    listing_server.items = [listed_item(n, None) for n in range(7)]
    recent = read_listing(listing_server, since=at(0), page_size=3)
    assert [item["id"] for item in recent.items] == [f"op{n}" for n in range(7)]
    assert recent.complete and recent.requests == 3


def test_a_list_without_count_is_refused(listing_server: Any) -> None:
    listing_server.items = [listed_item(n, at(n)) for n in range(3)]
    listing_server.without_count = True
    api = connect(base_url=listing_server.url, token="tok-abc")
    try:
        error = api_error(lambda: api.recent_operations(since=at(0)), "tok-abc")
    finally:
        api.close()
    assert "did not say how many operations it holds (no `count`)" in error.message


@pytest.mark.parametrize(("offset", "first"), [(0, 249), (20, 229), (240, 9)])
def test_newest_operations_is_one_or_two_gets_in_either_order(
    ordered: Simulator, on: ZequenzeClient, offset: int, first: int
) -> None:
    seeded = ordered.seed(250, created_at=T0)
    newest = on.newest_operations(limit=20, offset=offset)
    expected = list(reversed(seeded[max(0, first - 19) : first + 1]))
    assert [item["id"] for item in newest.items] == expected
    assert newest.total == 250
    assert (
        newest.requests == len(list_gets(ordered)) == (1 if ordered.order == "newest_first" else 2)
    )


def test_newest_operations_of_a_short_list_or_past_its_end(
    ordered: Simulator, on: ZequenzeClient
) -> None:
    seeded = ordered.seed(7, created_at=T0)
    short = on.newest_operations(limit=20)
    assert [item["id"] for item in short.items] == ids_newest_first(seeded)
    assert short.requests == 1  # the whole list came at once, whatever its order
    past = on.newest_operations(limit=20, offset=20)
    assert past.items == [] and past.total == 7 and past.requests == 1
    empty = Simulator(order=ordered.order).start()
    api = connect(base_url=empty.url, token=empty.token)
    try:
        nothing = api.newest_operations(limit=20)
    finally:
        api.close()
        empty.stop()
    assert nothing.items == [] and nothing.total == 0


def test_newest_operations_asks_the_other_end_when_a_page_is_one_moment(
    ordered: Simulator, on: ZequenzeClient
) -> None:
    older = ordered.seed(30, created_at=T0)
    burst = ordered.seed(30, created_at=at(1000), spacing=timedelta(0))
    newest = on.newest_operations(limit=20)
    assert {item["id"] for item in newest.items} <= set(burst)
    if ordered.order == "newest_first":
        assert [item["id"] for item in newest.items] == ids_newest_first(burst)[:20]
    assert newest.requests <= 3
    second = on.newest_operations(limit=20, offset=40)
    assert [item["id"] for item in second.items] == ids_newest_first(older)[10:30]


def test_find_newest_searches_no_further_than_asked(ordered: Simulator, on: ZequenzeClient) -> None:
    seeded = ordered.seed(
        500, created_at=T0, device_names=["server-01", "server-02"] * 2 + ["db-01"]
    )
    is_db = lambda item: item["device_name"] == "db-01"  # noqa: E731 - one line
    found = on.find_newest(is_db, want=20, within=300)
    every_fifth = ids_newest_first(seeded)[::5]  # db-01 is the newest, then one in five
    assert [item["id"] for item in found.items] == every_fifth[:20]
    assert found.searched == 96 and not found.whole and found.total == 500
    assert found.requests == (1 if ordered.order == "newest_first" else 2)
    few = on.find_newest(is_db, want=100, within=120, page_size=50)
    assert [item["id"] for item in few.items] == every_fifth[:24]
    assert few.searched == 120 and not few.whole
    everything = on.find_newest(is_db, want=1000, within=1000)
    assert len(everything.items) == 100 and everything.whole and everything.searched == 500


def listed_item(n: int, created: datetime | None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": f"op{n}", "device_name": "server-01", "status": "completed"}
    if created is not None:
        item["created_at"] = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    return item


def read_listing(server: Any, **options: Any) -> Any:
    api = connect(base_url=server.url, token="tok-abc")
    try:
        return api.recent_operations(**options)
    finally:
        api.close()


class _Listing(BaseHTTPRequestHandler):
    """A list endpoint serving `server.items` by limit and offset, in the order given."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server: Any = self.server
        query = parse_qs(urlsplit(self.path).query)
        server.queries.append(query)
        limit, offset = int(query["limit"][0]), int(query["offset"][0])
        payload: dict[str, Any] = {
            "count": len(server.items),
            "next": None,
            "previous": None,
            "results": server.items[offset : offset + limit],
        }
        if server.without_count:
            del payload["count"]
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def listing_server() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Listing)
    server.daemon_threads = True
    server.items = []
    server.queries = []
    server.without_count = False
    server.url = f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
