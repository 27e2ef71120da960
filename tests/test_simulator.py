"""The Zequenze API simulator, exercised over real HTTP with httpx."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.model import OperationSpec
from bot.zequenze.api import ApiError, ZequenzeClient
from bot.zequenze.simulator.endpoint import DEFAULT_INVENTORY, Simulator, format_time
from bot.zequenze.simulator.faults import Fault

PATH = "/inventory_device_name_headless_operation/"
TOKEN = "sim-token"
T0 = datetime(2024, 1, 15, 13, 45, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]
# Loopback HTTP only; sharing one context saves the ~35 ms each httpx.Client spends loading CAs.
TLS = ssl.create_default_context()


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def operation(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "device_name": "server-02",
        "operation_type": "restart_service",
        "scheduled_at": "2024-01-15T14:00:00Z",
        "parameters": {"service_name": "nginx", "verify_status": True},
    }
    body.update(overrides)
    return body


def create(client: httpx.Client, **overrides: Any) -> dict[str, Any]:
    response = client.post(PATH, json=operation(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def get_one(client: httpx.Client, op_id: str, *, update: bool) -> dict[str, Any]:
    params = {"id": op_id, "update_status": "true"} if update else {"id": op_id}
    page = client.get(PATH, params=params).json()
    assert page["count"] == 1
    return page["results"][0]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(run_seconds=30, seed=7, clock=clock) as simulator:
        yield simulator


def connect(simulator: Simulator, *, timeout: float = 5.0) -> httpx.Client:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    return httpx.Client(base_url=simulator.url, headers=headers, timeout=timeout, verify=TLS)


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    with connect(sim) as http:
        yield http


# --------------------------------------------------------------------------- auth, paths


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "Authentication credentials were not provided."),
        ("Basic c2ltOnRva2Vu", "Authentication credentials were not provided."),
        ("Bearer wrong-token", "Invalid token."),
        ("Bearer", "Invalid token header. No credentials provided."),
    ],
)
def test_auth_failures_are_401(
    sim: Simulator, method: str, authorization: str | None, detail: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with httpx.Client(verify=TLS) as anonymous:
        response = anonymous.request(method, sim.url + PATH, headers=headers, json=operation())
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert sim.post_count == 0


def test_unknown_path_is_404_and_trailing_slash_is_optional(
    sim: Simulator, client: httpx.Client
) -> None:
    assert client.get("/devices/").status_code == 404
    assert client.get("/devices/").json() == {
        "detail": "Not found.",
        "endpoint": "/api/v1/inventory_device_name_headless_operation/",
        "auth": "Authorization: Bearer <token> (opsbot simulator --token; default sim-token)",
        "docs": "README.md (The two commands) and docs/running.md (opsbot simulator)",
    }
    assert client.get(PATH.rstrip("/")).status_code == 200
    assert client.post(PATH.rstrip("/"), json=operation()).status_code == 201
    assert sim.requests[0] == ("GET", "/api/v1/devices/")


def test_the_root_points_at_the_endpoint(sim: Simulator) -> None:
    """A person trying the simulator's address (`curl http://127.0.0.1:8000/`) is told where
    the API is, with no token needed to be told."""
    root = sim.url.removesuffix("/api/v1") + "/"
    with httpx.Client(verify=TLS) as anonymous:
        for url in (root, sim.url):
            answer = anonymous.get(url)
            assert answer.status_code == (200 if url == root else 404)
            assert answer.json()["endpoint"] == "/api/v1" + PATH
            assert "README.md" in answer.json()["docs"]


def test_other_methods_are_405(client: httpx.Client) -> None:
    response = client.delete(PATH)
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "DELETE" not allowed.'}


def test_default_inventory() -> None:
    assert len(DEFAULT_INVENTORY) == 34
    assert {"server-01", "server-20", "workstation-10", "db-03", "router-01"} <= set(
        DEFAULT_INVENTORY
    )


# --------------------------------------------------------------------------------- POST


def test_post_creates_a_scheduled_operation(sim: Simulator, client: httpx.Client) -> None:
    response = client.post(PATH, json=operation())
    assert response.status_code == 201
    assert response.json() == {
        "id": "txn_1001",
        "device_name": "server-02",
        "operation_type": "restart_service",
        "status": "scheduled",
        "scheduled_at": "2024-01-15T14:00:00Z",
        "created_at": "2024-01-15T13:45:00Z",
        "parameters": {"service_name": "nginx", "verify_status": True},
        "estimated_duration": 30,  # the simulator's run_seconds
    }
    assert create(client)["id"] == "txn_1002"
    assert sim.post_count == 2
    assert [op["id"] for op in sim.operations()] == ["txn_1001", "txn_1002"]


def test_scheduled_at_with_offset_is_stored_in_utc(client: httpx.Client) -> None:
    created = create(client, scheduled_at="2024-01-15T15:00:00+01:00")
    assert created["scheduled_at"] == "2024-01-15T14:00:00Z"


@pytest.mark.parametrize(("run_seconds", "expected"), [(0, 1), (0.3, 1), (2.5, 3), (600, 600)])
@pytest.mark.parametrize(
    ("operation_type", "parameters"),
    [("reboot", {"timeout": 90}), ("update", {"package_list": ["security-updates"]})],
)
def test_estimated_duration_is_how_long_the_simulated_run_takes(
    clock: FakeClock,
    operation_type: str,
    parameters: dict[str, Any],
    run_seconds: float,
    expected: int,
) -> None:
    simulator = Simulator(run_seconds=run_seconds, clock=clock)
    with simulator, connect(simulator) as http:
        created = create(
            http,
            operation_type=operation_type,
            parameters=parameters,
            scheduled_at=format_time(T0),
        )
        assert created["estimated_duration"] == expected  # whole seconds, at least 1
        clock.advance(expected + 0.001)
        assert get_one(http, created["id"], update=True)["status"] == "completed"


def test_parameters_are_optional(client: httpx.Client) -> None:
    body = operation(operation_type="reboot")  # a restart needs its service_name
    del body["parameters"]
    assert client.post(PATH, json=body).json()["parameters"] == {}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {},
            {
                "device_name": ["This field is required."],
                "operation_type": ["This field is required."],
                "scheduled_at": ["This field is required."],
            },
        ),
        (
            operation(scheduled_at="tomorrow at 3"),
            {
                "scheduled_at": [
                    "Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm:ssZ."
                ]
            },
        ),
        (
            operation(parameters=["nginx"]),
            {"parameters": ['Expected a dictionary of items but got type "list".']},
        ),
        (operation(operation_type="x"), {"operation_type": ['"x" is not a valid choice.']}),
        (operation(device_name=""), {"device_name": ["This field may not be blank."]}),
        (
            ["not", "an", "object"],
            {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]},
        ),
    ],
)
def test_post_validation_errors_are_400(
    sim: Simulator, client: httpx.Client, body: Any, expected: dict[str, list[str]]
) -> None:
    response = client.post(PATH, json=body)
    assert response.status_code == 400
    assert response.json() == expected
    assert sim.post_count == 0


@pytest.mark.parametrize(
    ("operation_type", "parameters", "refused"),
    [
        ("reboot", {"force": "yes"}, {"force": ["Must be a valid boolean."]}),
        ("reboot", {"force": 1}, {"force": ["Must be a valid boolean."]}),
        ("reboot", {"force": None}, {"force": ["This field may not be null."]}),
        (
            "reboot",
            {"timeout": 0},
            {"timeout": ["Ensure this value is greater than or equal to 1."]},
        ),
        (
            "reboot",
            {"timeout": -5},
            {"timeout": ["Ensure this value is greater than or equal to 1."]},
        ),
        ("reboot", {"timeout": "300"}, {"timeout": ["A valid integer is required."]}),
        ("reboot", {"timeout": 1.5}, {"timeout": ["A valid integer is required."]}),
        ("reboot", {"timeout": True}, {"timeout": ["A valid integer is required."]}),
        (
            "reboot",
            {"force": "no", "timeout": 0},
            {
                "force": ["Must be a valid boolean."],
                "timeout": ["Ensure this value is greater than or equal to 1."],
            },
        ),
        ("restart_service", {}, {"service_name": ["This field is required."]}),
        (
            "restart_service",
            {"service_name": "  "},
            {"service_name": ["This field may not be blank."]},
        ),
        (
            "restart_service",
            {"service_name": None},
            {"service_name": ["This field may not be null."]},
        ),
        ("restart_service", {"service_name": ["nginx"]}, {"service_name": ["Not a valid string."]}),
        (
            "restart_service",
            {"service_name": "nginx", "verify_status": "true"},
            {"verify_status": ["Must be a valid boolean."]},
        ),
        (
            "update",
            {"package_list": "curl, openssl"},
            {"package_list": ['Expected a list of items but got type "str".']},
        ),
        (
            "update",
            {"package_list": ["curl", "", 7, None]},
            {
                "package_list": {
                    "1": ["This field may not be blank."],
                    "2": ["Not a valid string."],
                    "3": ["This field may not be null."],
                }
            },
        ),
    ],
)
def test_parameters_of_the_wrong_type_are_400_by_parameter(
    sim: Simulator,
    client: httpx.Client,
    operation_type: str,
    parameters: dict[str, Any],
    refused: dict[str, Any],
) -> None:
    response = client.post(
        PATH, json=operation(operation_type=operation_type, parameters=parameters)
    )
    assert response.status_code == 400
    assert response.json() == {"parameters": refused}
    assert sim.post_count == 0


@pytest.mark.parametrize(
    ("operation_type", "parameters"),
    [
        ("reboot", {}),
        ("reboot", {"force": True, "timeout": 1}),
        ("reboot", {"force": False, "timeout": 300, "reason": "kernel", "notify": "yes"}),
        ("restart_service", {"service_name": "nginx"}),
        ("restart_service", {"service_name": "nginx", "verify_status": False, "grace": "10s"}),
        ("update", {}),
        ("update", {"package_list": []}),
        ("update", {"package_list": ["curl", "openssl"], "reboot_after": "maybe"}),
        ("get", {"path": 42, "force": "yes"}),  # a type the doc says nothing about
    ],
)
def test_what_the_doc_does_not_forbid_is_accepted(
    client: httpx.Client, operation_type: str, parameters: dict[str, Any]
) -> None:
    created = create(client, operation_type=operation_type, parameters=parameters)
    assert created["parameters"] == parameters


def test_parameters_are_checked_once_the_fields_are_valid_and_before_the_inventory(
    client: httpx.Client,
) -> None:
    # As DRF runs a serializer's validate() only after every field passed on its own.
    body = operation(operation_type="reboot", parameters={"force": "yes"}, device_name="")
    assert client.post(PATH, json=body).json() == {"device_name": ["This field may not be blank."]}
    body = operation(operation_type="reboot", parameters={"force": "yes"}, device_name="server-99")
    response = client.post(PATH, json=body)
    assert response.status_code == 400
    assert response.json() == {"parameters": {"force": ["Must be a valid boolean."]}}


@pytest.mark.parametrize(
    ("operation_type", "parameters", "sentence"),
    [
        (
            "reboot",
            {"force": "yes", "timeout": -1},
            "The API refused the request: parameters.force: Must be a valid boolean. "
            "parameters.timeout: Ensure this value is greater than or equal to 1.",
        ),
        (
            "restart_service",
            {"verify_status": True},
            "The API refused the request: parameters.service_name: This field is required.",
        ),
        (
            "update",
            {"package_list": ["curl", " "]},
            "The API refused the request: parameters.package_list.1: This field may not be blank.",
        ),
    ],
)
def test_the_client_says_a_parameter_refusal_in_one_readable_sentence(
    sim: Simulator, operation_type: str, parameters: dict[str, Any], sentence: str
) -> None:
    client = ZequenzeClient(base_url=sim.url, token=TOKEN)
    spec = OperationSpec(
        device_name="server-01",
        operation_type=operation_type,
        scheduled_at=T0,
        parameters=parameters,
    )
    try:
        with pytest.raises(ApiError) as refused:
            client.create_operation(spec)
    finally:
        client.close()
    assert refused.value.message == sentence
    assert refused.value.status == 400
    assert not refused.value.outcome_unknown and not refused.value.retryable  # never resent
    assert sim.post_count == 0


def test_body_that_is_not_json_is_400(sim: Simulator, client: httpx.Client) -> None:
    response = client.post(
        PATH, content=b"{device_name: server-02", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")
    assert sim.post_count == 0


def test_unknown_device_is_404_until_added_to_the_inventory(
    sim: Simulator, client: httpx.Client
) -> None:
    response = client.post(PATH, json=operation(device_name="server-99"))
    assert response.status_code == 404
    assert response.json() == {"detail": "Device 'server-99' not found in inventory."}
    assert sim.post_count == 0
    sim.inventory.add("server-99")
    assert create(client, device_name="server-99")["device_name"] == "server-99"


def test_doc_form_with_a_data_json_string(sim: Simulator, client: httpx.Client) -> None:
    response = client.post(PATH, json={"data": json.dumps(operation())})
    assert response.status_code == 201
    assert response.json()["device_name"] == "server-02"
    bad = client.post(PATH, json={"data": "{not json"})
    assert bad.status_code == 400
    assert bad.json() == {"data": ["Value must be valid JSON."]}
    assert sim.post_count == 1


def test_concurrent_posts_get_distinct_ids(sim: Simulator) -> None:
    ids: list[str] = []
    with connect(sim) as http:
        threads = [
            threading.Thread(target=lambda: ids.append(create(http)["id"])) for _ in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(ids) == [f"txn_{n}" for n in range(1001, 1021)]
    assert sim.post_count == 20


# ---------------------------------------------------------------------------------- GET


def test_pagination_follows_next_and_previous(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    for _ in range(7):
        create(client, device_name="server-01")
        clock.advance(1)
    create(client, device_name="server-03")  # filtered out below
    first = client.get(PATH, params={"device_name": "server-01", "limit": 3})
    page1 = first.json()
    base = f"{sim.url}{PATH}?device_name=server-01"
    assert page1["count"] == 7
    assert page1["previous"] is None
    assert page1["next"] == f"{base}&limit=3&offset=3"
    page2 = client.get(page1["next"]).json()
    assert page2["previous"] == f"{base}&limit=3"
    assert page2["next"] == f"{base}&limit=3&offset=6"
    page3 = client.get(page2["next"]).json()
    assert page3["previous"] == f"{base}&limit=3&offset=3"
    assert page3["next"] is None
    ids = [op["id"] for page in (page1, page2, page3) for op in page["results"]]
    assert ids == [f"txn_{n}" for n in range(1007, 1000, -1)]  # newest first
    assert [len(page["results"]) for page in (page1, page2, page3)] == [3, 3, 1]


def test_oldest_first_like_a_default_drf_queryset(clock: FakeClock) -> None:
    with Simulator(clock=clock, order="oldest_first") as simulator, connect(simulator) as http:
        for _ in range(5):
            create(http)
            clock.advance(1)
        first = http.get(PATH, params={"limit": 2}).json()
        assert [op["id"] for op in first["results"]] == ["txn_1001", "txn_1002"]
        assert first["count"] == 5
        last = http.get(PATH, params={"limit": 2, "offset": 4}).json()
        assert [op["id"] for op in last["results"]] == ["txn_1005"]
        assert last["next"] is None
        simulator.order = "newest_first"  # settable while serving
        again = http.get(PATH, params={"limit": 2}).json()
        assert [op["id"] for op in again["results"]] == ["txn_1005", "txn_1004"]
    with pytest.raises(ValueError, match="order must be one of"):
        Simulator(order="sideways")  # type: ignore[arg-type]


def test_seed_makes_a_long_history_in_order(clock: FakeClock) -> None:
    with Simulator(clock=clock) as simulator, connect(simulator) as http:
        live = create(http)["id"]  # at T0
        ids = simulator.seed(100_000)  # one a second, the newest one second before now
        assert len(ids) == len(set(ids)) == 100_000
        newest = http.get(PATH, params={"limit": 3}).json()
        assert newest["count"] == 100_001
        assert [op["id"] for op in newest["results"]] == [live, ids[-1], ids[-2]]
        assert newest["results"][1]["created_at"] == format_time(T0 - timedelta(seconds=1))
        assert newest["results"][1]["status"] == "completed"
        oldest = http.get(PATH, params={"limit": 1, "offset": 100_000}).json()["results"][0]
        assert oldest["id"] == ids[0]
        assert oldest["created_at"] == format_time(T0 - timedelta(seconds=100_000))
        names = [
            op["device_name"]
            for op in http.get(PATH, params={"limit": 35, "offset": 1}).json()["results"]
        ]
        assert sorted(names[:34]) == sorted(DEFAULT_INVENTORY) and names[34] == names[0]
        by_id = http.get(PATH, params={"id": ids[500], "update_status": "true"}).json()
        assert [op["id"] for op in by_id["results"]] == [ids[500]]
        later = simulator.seed(2, created_at=T0 + timedelta(hours=1), device_names=["db-01"])
        top = http.get(PATH, params={"limit": 3}).json()["results"]
        assert [op["id"] for op in top] == [later[1], later[0], live]
        assert {op["device_name"] for op in top[:2]} == {"db-01"}


def test_a_clock_that_goes_back_keeps_the_list_in_order_of_creation(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    first = create(client)["id"]
    clock.advance(-10)
    earlier = create(client)["id"]
    listed = client.get(PATH).json()["results"]
    assert [op["id"] for op in listed] == [first, earlier]  # newest created_at first
    assert [op["id"] for op in sim.operations()] == [earlier, first]


def test_limit_is_capped_silently_and_defaults_to_100(clock: FakeClock) -> None:
    with Simulator(max_limit=5, clock=clock) as simulator, connect(simulator) as http:
        for _ in range(7):
            create(http)
        capped = http.get(PATH, params={"limit": 1000}).json()
        assert len(capped["results"]) == 5
        assert capped["next"] == f"{simulator.url}{PATH}?limit=5&offset=5"
    with Simulator(clock=clock) as simulator, connect(simulator) as http:
        for _ in range(101):
            create(http)
        default = http.get(PATH).json()
        assert (default["count"], len(default["results"])) == (101, 100)
        assert default["next"] == f"{simulator.url}{PATH}?limit=100&offset=100"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"limit": "abc"}, {"limit": ["A valid integer is required."]}),
        ({"limit": "2.5"}, {"limit": ["A valid integer is required."]}),
        ({"limit": "-1"}, {"limit": ["Ensure this value is greater than or equal to 1."]}),
        ({"offset": "x"}, {"offset": ["A valid integer is required."]}),
        ({"offset": "-3"}, {"offset": ["Ensure this value is greater than or equal to 0."]}),
    ],
)
def test_bad_limit_or_offset_is_400(
    client: httpx.Client, params: dict[str, str], expected: dict[str, list[str]]
) -> None:
    response = client.get(PATH, params=params)
    assert response.status_code == 400
    assert response.json() == expected


def test_filters(client: httpx.Client) -> None:
    create(client)
    create(client, device_name="db-01")
    create(client)
    by_id = client.get(PATH, params={"id": "txn_1002"}).json()
    assert by_id["count"] == 1
    assert by_id["results"][0]["device_name"] == "db-01"
    assert client.get(PATH, params={"id": "txn_9999"}).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
    assert client.get(PATH, params={"device_name": "server-02"}).json()["count"] == 2
    assert client.get(PATH, params={"status": "scheduled"}).json()["count"] == 3
    assert client.get(PATH, params={"status": "running"}).json()["count"] == 0


# ----------------------------------------------------------------------- status clock


def test_status_is_stale_without_update_status(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    op_id = create(client, scheduled_at=format_time(T0 + timedelta(seconds=10)))["id"]
    clock.advance(9)
    assert get_one(client, op_id, update=True)["status"] == "scheduled"
    clock.advance(1)  # exactly scheduled_at
    assert get_one(client, op_id, update=False)["status"] == "scheduled"  # stale
    assert get_one(client, op_id, update=True)["status"] == "running"
    clock.advance(30)  # exactly scheduled_at + run_seconds: still running
    assert get_one(client, op_id, update=True)["status"] == "running"
    clock.advance(1)
    assert get_one(client, op_id, update=False)["status"] == "running"  # stale
    assert sim.operations()[0]["status"] == "running"
    for word in ("1", "YES", "True"):
        page = client.get(PATH, params={"id": op_id, "update_status": word}).json()
        assert page["results"][0]["status"] == "completed"
    assert "error" not in get_one(client, op_id, update=False)
    assert sim.operations()[0]["status"] == "completed"


def test_status_advances_in_real_time() -> None:
    with Simulator(run_seconds=0.3) as simulator, connect(simulator) as http:
        start = datetime.now(UTC) + timedelta(seconds=0.2)
        created = create(http, scheduled_at=format_time(start))
        seen = [created["status"]]
        deadline = time.monotonic() + 3
        while seen[-1] != "completed":
            assert time.monotonic() < deadline, f"stuck after {seen}"
            status = get_one(http, created["id"], update=True)["status"]
            if status != seen[-1]:
                seen.append(status)
            time.sleep(0.02)
        assert seen == ["scheduled", "running", "completed"]


def test_failure_rate_one_fails_with_an_error(clock: FakeClock) -> None:
    simulator = Simulator(failure_rate=1.0, run_seconds=1, clock=clock)
    with simulator, connect(simulator) as http:
        op_id = create(http, scheduled_at=format_time(T0))["id"]
        assert "error" not in get_one(http, op_id, update=True)  # running
        clock.advance(2)
        failed = get_one(http, op_id, update=True)
    assert failed["status"] == "failed"
    assert failed["error"] == "Service 'nginx' failed to restart: exit status 1"


def test_run_seconds_and_failure_rate_apply_to_new_operations(
    sim: Simulator, client: httpx.Client, clock: FakeClock
) -> None:
    slow = create(client, scheduled_at=format_time(T0))["id"]
    sim.run_seconds, sim.failure_rate = 0, 1.0
    fast = create(client, scheduled_at=format_time(T0))["id"]
    clock.advance(1)
    assert get_one(client, slow, update=True)["status"] == "running"
    assert get_one(client, fast, update=True)["status"] == "failed"


# ------------------------------------------------------------------------------ faults


def test_fault_latency(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.add(Fault(kind="latency", seconds=0.2))
    began = time.monotonic()
    assert client.get(PATH).status_code == 200
    assert time.monotonic() - began >= 0.2
    assert sim.faults.pending() == []


def test_fault_status_does_no_work(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.add(Fault(kind="status", status=503, method="POST"))
    sim.faults.add(Fault(kind="status", status=429, headers={"Retry-After": "1"}))
    unavailable = client.post(PATH, json=operation())
    assert unavailable.status_code == 503
    assert unavailable.json() == {"detail": "Service Unavailable"}
    throttled = client.post(PATH, json=operation())
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert sim.post_count == 0
    assert client.post(PATH, json=operation()).status_code == 201


def test_fault_status_after_work_creates_the_operation(
    sim: Simulator, client: httpx.Client
) -> None:
    sim.faults.add(Fault(kind="status_after_work", status=502, method="POST"))
    response = client.post(PATH, json=operation())
    assert response.status_code == 502
    assert sim.post_count == 1
    assert client.get(PATH).json()["results"][0]["id"] == "txn_1001"


def test_fault_hang_times_the_client_out(sim: Simulator) -> None:
    sim.faults.add(Fault(kind="hang", seconds=5))
    with connect(sim, timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.post(PATH, json=operation())
        assert sim.post_count == 0
        assert http.get(PATH).status_code == 200


def test_fault_hang_after_work_leaves_the_outcome_unknown(sim: Simulator) -> None:
    sim.faults.add(Fault(kind="hang_after_work", seconds=5, method="POST"))
    with connect(sim, timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.post(PATH, json=operation())
        assert sim.post_count == 1
        assert http.get(PATH).json()["count"] == 1


def test_fault_hang_shorter_than_the_timeout_closes_without_answer(sim: Simulator) -> None:
    sim.faults.add(Fault(kind="hang", seconds=0.05))
    with connect(sim) as http, pytest.raises(httpx.RemoteProtocolError):
        http.get(PATH)


def test_fault_reset(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.add(Fault(kind="reset"))
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get(PATH)
    assert client.get(PATH).status_code == 200


def test_fault_html(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.add(Fault(kind="html"))
    sim.faults.add(Fault(kind="html", status=502))
    for status in (200, 502):
        response = client.get(PATH)
        assert response.status_code == status
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.text.startswith("<html>")
        with pytest.raises(json.JSONDecodeError):
            response.json()


def test_fault_missing_results(sim: Simulator, client: httpx.Client) -> None:
    create(client)
    sim.faults.add(Fault(kind="missing_results"))
    assert client.post(PATH, json=operation()).status_code == 201  # GET-only fault
    page = client.get(PATH).json()
    assert page == {"count": 2, "next": None, "previous": None}


def test_fault_unknown_status(sim: Simulator, client: httpx.Client) -> None:
    create(client)
    sim.faults.add(Fault(kind="unknown_status", status_value="pending", method="GET"))
    assert client.get(PATH).json()["results"][0]["status"] == "pending"
    assert client.get(PATH).json()["results"][0]["status"] == "scheduled"
    assert sim.operations()[0]["status"] == "scheduled"


def test_fault_plan_matching_times_and_clear(sim: Simulator, client: httpx.Client) -> None:
    sim.faults.add(Fault(kind="status", status=500, method="post", times=2))
    assert client.get(PATH).status_code == 200
    assert [client.post(PATH, json=operation()).status_code for _ in range(3)] == [500, 500, 201]
    sim.faults.add(Fault(kind="status", status=503, times=None))
    assert [client.get(PATH).status_code for _ in range(3)] == [503, 503, 503]
    sim.faults.clear()
    assert client.get(PATH).status_code == 200


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault(kind="status")  # no status
    with pytest.raises(ValueError):
        Fault(kind="missing_results", method="POST")
    with pytest.raises(ValueError):
        Fault(kind="bogus")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- lifecycle


def test_stop_closes_idle_connections_and_refuses_new_ones() -> None:
    simulator = Simulator().start()
    http = connect(simulator, timeout=1)
    assert http.get(PATH).status_code == 200  # leaves a pooled keep-alive connection
    began = time.monotonic()
    simulator.stop()
    assert time.monotonic() - began < 1
    with pytest.raises(httpx.TransportError):
        http.get(PATH)
    http.close()
    simulator.stop()  # idempotent


def test_serve_prints_its_url_and_stops_on_sigterm() -> None:
    code = (
        "from bot.zequenze.simulator.endpoint import serve; serve(host='127.0.0.1', port=0,"
        " token='t0k', inventory=None, failure_rate=0.0, run_seconds=1.0)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        prefix = "Zequenze API simulator on http://127.0.0.1:"
        assert line.startswith(prefix) and line.endswith("/api/v1 (token: t0k)"), line
        url = line.split()[4]
        response = httpx.get(url + PATH, headers={"Authorization": "Bearer t0k"}, verify=TLS)
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=3) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
