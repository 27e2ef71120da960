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

from bot.api import ApiError, ZequenzeClient
from bot.model import OperationSpec
from bot.simulator import RESOURCE_PATH, Fault, Simulator
from tests.conftest import eventually

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
    for call in (lambda: client.get_operation("txn_1001"), lambda: list(client.list_operations())):
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


def test_list_follows_next_across_pages(client: ZequenzeClient, simulator: Simulator) -> None:
    created = [client.create_operation(spec(device_name=f"server-{n:02d}")) for n in range(1, 8)]
    pages = list(client.list_operations(page_size=3))
    assert [len(page.results) for page in pages] == [3, 3, 1]
    assert [page.count for page in pages] == [7, 7, 7]
    assert pages[-1].next is None
    ids = [item["id"] for page in pages for item in page.results]
    assert len(ids) == 7
    assert sorted(ids) == sorted(op["id"] for op in created)
    offsets = [(q.get("limit"), q.get("offset")) for q in get_requests(simulator)]
    assert offsets == [(["3"], ["0"]), (["3"], ["3"]), (["3"], ["6"])]


def test_list_of_nothing_is_one_empty_page(client: ZequenzeClient) -> None:
    pages = list(client.list_operations(page_size=3))
    assert len(pages) == 1
    assert pages[0].results == [] and pages[0].count == 0 and pages[0].next is None


@pytest.mark.parametrize("times", [None, 1], ids=["always", "once"])
def test_list_stops_when_the_first_page_points_to_itself(
    client: ZequenzeClient, simulator: Simulator, times: int | None
) -> None:
    for n in range(1, 8):
        client.create_operation(spec(device_name=f"server-{n:02d}"))
    simulator.faults.add(Fault(kind="next_loop", times=times))
    seen: list[str] = []

    def read_all() -> None:
        for page in client.list_operations(page_size=3):
            seen.extend(item["id"] for item in page.results)

    error = api_error(read_all, simulator.token)
    assert "already sent" in error.message
    assert len(seen) == len(set(seen)) == 3  # the first page, once: never shown twice
    assert len(get_requests(simulator)) == 1


def test_list_stops_when_a_later_page_loops_back(
    client: ZequenzeClient, simulator: Simulator
) -> None:
    for n in range(1, 8):
        client.create_operation(spec(device_name=f"server-{n:02d}"))
    pages = client.list_operations(page_size=3)
    first = next(pages)
    assert first.next is not None
    # The second page claims to be followed by itself, forever.
    simulator.faults.add(Fault(kind="next_loop", times=None))
    second = next(pages)
    assert {i["id"] for i in second.results}.isdisjoint(i["id"] for i in first.results)
    error = api_error(lambda: next(pages), simulator.token)
    assert "already sent" in error.message
    assert len(get_requests(simulator)) == 2


def test_list_loop_is_seen_whatever_the_query_order(one_page_server: Any) -> None:
    # DRF sorts the query of its links; ours may come in another order. Same page all the same.
    port = one_page_server.server_address[1]
    one_page_server.next_url = f"http://127.0.0.1:{port}{RESOURCE_PATH}?offset=0&limit=1"
    api = connect(base_url=f"http://127.0.0.1:{port}/api/v1", token="tok-abc")
    try:
        error = api_error(lambda: list(api.list_operations(page_size=1)), "tok-abc")
    finally:
        api.close()
    assert "already sent" in error.message
    assert len(one_page_server.seen) == 1


class _OnePage(BaseHTTPRequestHandler):
    """A list endpoint whose `next` points wherever the test says."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server: Any = self.server
        server.seen.append((self.path, self.headers.get("Authorization")))
        body = json.dumps(
            {
                "count": 4,
                "next": server.next_url,
                "previous": None,
                "results": [{"id": "txn_1", "device_name": "server-01", "status": "scheduled"}],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def one_page_server() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _OnePage)
    server.daemon_threads = True
    server.seen = []
    server.next_url = None
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def elsewhere() -> Iterator[socket.socket]:
    """A listener on another loopback address, to see whether anything connects to it."""
    sock = socket.socket()
    sock.bind(("127.0.0.2", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def test_list_does_not_follow_next_to_another_host(
    one_page_server: Any, elsewhere: socket.socket
) -> None:
    token = "secret-token-not-for-elsewhere"
    other_port = elsewhere.getsockname()[1]
    one_page_server.next_url = f"http://127.0.0.2:{other_port}{RESOURCE_PATH}?limit=1&offset=1"
    base = f"http://127.0.0.1:{one_page_server.server_address[1]}/api/v1"
    api = connect(base_url=base, token=token)
    pages: list[Any] = []
    try:
        error = api_error(lambda: pages.extend(api.list_operations(page_size=1)), token)
    finally:
        api.close()
    assert "another server" in error.message
    assert len(pages) == 1  # the first page was read, the second never asked for
    assert one_page_server.seen == [(f"{RESOURCE_PATH}?limit=1&offset=0", f"Bearer {token}")]
    with pytest.raises(BlockingIOError):
        elsewhere.accept()  # no connection ever reached the other host


@pytest.mark.parametrize(
    "make_next",
    [
        lambda port: f"https://127.0.0.1:{port}/api/v1/x/?offset=1",  # another scheme
        lambda port: f"http://127.0.0.1:{port + 1}/api/v1/x/?offset=1",  # another port
        lambda port: f"http://evil@127.0.0.1:{port}/api/v1/x/?offset=1",  # credentials
        lambda port: "//127.0.0.2/api/v1/x/?offset=1",  # scheme-relative
    ],
    ids=["scheme", "port", "userinfo", "scheme-relative"],
)
def test_list_does_not_follow_next_to_another_origin(
    one_page_server: Any, make_next: Callable[[int], str]
) -> None:
    port = one_page_server.server_address[1]
    one_page_server.next_url = make_next(port)
    api = connect(base_url=f"http://127.0.0.1:{port}/api/v1", token="tok-abc")
    try:
        error = api_error(lambda: list(api.list_operations(page_size=1)), "tok-abc")
    finally:
        api.close()
    assert "another server" in error.message
    assert len(one_page_server.seen) == 1
