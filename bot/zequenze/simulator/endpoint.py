"""Zequenze API simulator: the headless-operation endpoint over real HTTP on loopback.

It behaves like the seed API, a Django REST Framework service: bearer-token auth,
LimitOffsetPagination (newest first, as the doc's example, or oldest first, as a default DRF
queryset), DRF-style error bodies, and operations that move from
"scheduled" to "running" to "completed"/"failed" on their own clock but are only
seen to move when a GET asks for `update_status=true`. A `FaultPlan` injects the
failures a real network and a real API produce. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from bot.zequenze.simulator.faults import Fault, FaultPlan

API_PREFIX = "/api/v1"
RESOURCE_PATH = f"{API_PREFIX}/inventory_device_name_headless_operation/"

# What the root and an unknown path answer beside their status: where the API is.
POINTER_ROOT = "The Zequenze headless-operation API simulator: the one endpoint is below."
POINTER_AUTH = "Authorization: Bearer <token> (opsbot simulator --token; default sim-token)"
POINTER_DOCS = "README.md (The two commands) and docs/running.md (opsbot simulator)"
DEFAULT_INVENTORY: tuple[str, ...] = (
    *(f"server-{n:02d}" for n in range(1, 21)),
    *(f"workstation-{n:02d}" for n in range(1, 11)),
    *(f"db-{n:02d}" for n in range(1, 4)),
    "router-01",
)
OPERATION_TYPES: tuple[str, ...] = (
    "restart_service",
    "reboot",
    "update",
    "get",
    "set",
    "add.obj",
    "del.obj",
)
# What a reboot waits for its device when `timeout` does not say (the API doc's example).
DEFAULT_REBOOT_TIMEOUT = 300
DEFAULT_LIMIT = 100
FIRST_ID = 1001
ListOrder = Literal["newest_first", "oldest_first"]

_STATUS_RANK = {"scheduled": 0, "running": 1, "completed": 2, "failed": 2}
_TRUE_WORDS = frozenset({"true", "1", "yes"})
_WRONG_DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm:ssZ."
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """DRF's rendering: ISO 8601 in UTC with `Z`, fractions only when there are any."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ----------------------------------------------------------------------- operations


@dataclass
class _Operation:
    seq: int
    device_name: str
    operation_type: str
    scheduled_at: datetime
    created_at: datetime
    parameters: dict[str, Any]
    estimated_duration: int
    run_seconds: float
    outcome: str  # "completed" or "failed", decided at creation
    error: str | None
    status: str = "scheduled"

    @property
    def id(self) -> str:
        return f"txn_{self.seq}"

    def advance(self, now: datetime) -> None:
        if now > self.scheduled_at + timedelta(seconds=self.run_seconds):
            target = self.outcome
        elif now >= self.scheduled_at:
            target = "running"
        else:
            target = "scheduled"
        # Never backwards, even if an injected clock is.
        if _STATUS_RANK[target] > _STATUS_RANK[self.status]:
            self.status = target

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "device_name": self.device_name,
            "operation_type": self.operation_type,
            "status": self.status,
            "scheduled_at": format_time(self.scheduled_at),
            "created_at": format_time(self.created_at),
            "parameters": json.loads(json.dumps(self.parameters)),  # a copy callers may mutate
            "estimated_duration": self.estimated_duration,
        }
        if self.status == "failed":
            out["error"] = self.error
        return out


def _order_key(op: _Operation) -> tuple[datetime, int]:
    return op.created_at, op.seq


def _estimated_duration(run_seconds: float) -> int:
    """How long the simulated run takes, so that what a person is told matches what happens:
    whole seconds, at least 1 (the API's field is an integer, and 0 would read as "no time")."""
    return max(1, math.ceil(run_seconds))


def _failure_text(operation_type: str, parameters: dict[str, Any]) -> str:
    if operation_type == "restart_service":
        service = parameters.get("service_name", "unknown")
        return f"Service '{service}' failed to restart: exit status 1"
    if operation_type == "reboot":
        timeout = parameters.get("timeout", DEFAULT_REBOOT_TIMEOUT)
        return f"Device did not come back online within {timeout} seconds"
    if operation_type == "update":
        return "Package installation failed: dpkg returned error code 1"
    return f"Device rejected {operation_type}: 9002 Internal error"


# ------------------------------------------------------------------- request parsing


@dataclass
class _Response:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)


def _last(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    return values[-1].strip() if values else ""


def _parse_int(raw: str, *, default: int, minimum: int) -> int | str:
    """The integer, or the DRF message explaining why not."""
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        return "A valid integer is required."
    if value < minimum:
        return f"Ensure this value is greater than or equal to {minimum}."
    return value


def _with_query(url: str, **params: int) -> str:
    """DRF's replace_query_param: same URL, those params set, the query sorted."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    values = parse_qs(query, keep_blank_values=True)
    for key, value in params.items():
        values[key] = [str(value)]
    return urlunsplit(
        (scheme, netloc, path, urlencode(sorted(values.items()), doseq=True), fragment)
    )


def _without_query(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    values = parse_qs(query, keep_blank_values=True)
    values.pop(key, None)
    return urlunsplit(
        (scheme, netloc, path, urlencode(sorted(values.items()), doseq=True), fragment)
    )


def _next_link(url: str, limit: int, offset: int, count: int) -> str | None:
    if offset + limit >= count:
        return None
    return _with_query(url, limit=limit, offset=offset + limit)


def _previous_link(url: str, limit: int, offset: int) -> str | None:
    if offset <= 0:
        return None
    url = _with_query(url, limit=limit)
    if offset - limit <= 0:
        return _without_query(url, "offset")
    return _with_query(url, offset=offset - limit)


def _required_string(data: dict[str, Any], name: str, errors: dict[str, Any]) -> str:
    if name not in data:
        errors[name] = ["This field is required."]
    elif data[name] is None:
        errors[name] = ["This field may not be null."]
    elif not isinstance(data[name], str):
        errors[name] = ["Not a valid string."]
    elif not data[name].strip():
        errors[name] = ["This field may not be blank."]
    else:
        return data[name].strip()
    return ""


# DRF's own words for these refusals, as its fields say them.
_NOT_BOOLEAN = "Must be a valid boolean."
_NOT_INTEGER = "A valid integer is required."
_NOT_STRING = "Not a valid string."
_REQUIRED = "This field is required."
_NULL = "This field may not be null."
_BLANK = "This field may not be blank."


def _parameter_errors(operation_type: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """What the API would refuse in `parameters`, by parameter name; {} when it is fine.

    `parameters` is a JSONField: it stores the JSON as sent, so a serializer cannot coerce
    "yes" into True the way a BooleanField would (the stored value would still be "yes").
    The plausible validation is the serializer's `validate()` checking the JSON types for the
    operation type and raising `ValidationError({"parameters": {name: [message]}})`, which
    DRF returns as that nested dict, with its fields' usual messages. Parameters the doc does
    not mention are accepted, as are operation types it says nothing about.
    """
    errors: dict[str, Any] = {}

    def check(name: str, problem: Callable[[Any], str | dict[str, list[str]] | None]) -> None:
        if name in parameters:
            value = parameters[name]
            found = _NULL if value is None else problem(value)
            if found:
                errors[name] = found if isinstance(found, dict) else [found]

    if operation_type == "reboot":
        check("force", _boolean_problem)
        check("timeout", _timeout_problem)
    elif operation_type == "restart_service":
        if "service_name" not in parameters:
            errors["service_name"] = [_REQUIRED]
        check("service_name", _name_problem)
        check("verify_status", _boolean_problem)
    elif operation_type == "update":
        check("package_list", _package_list_problem)
    return errors


def _boolean_problem(value: Any) -> str | None:
    return None if isinstance(value, bool) else _NOT_BOOLEAN


def _timeout_problem(value: Any) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return _NOT_INTEGER
    return None if value >= 1 else "Ensure this value is greater than or equal to 1."


def _name_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return _NOT_STRING
    return None if value.strip() else _BLANK


def _package_list_problem(value: Any) -> str | dict[str, list[str]] | None:
    if not isinstance(value, list):
        return f'Expected a list of items but got type "{type(value).__name__}".'
    # As a ListField(child=CharField()) says it: by the index of each item refused.
    refused: dict[str, list[str]] = {}
    for index, item in enumerate(value):
        problem = _NULL if item is None else _name_problem(item)
        if problem:
            refused[str(index)] = [problem]
    return refused or None


def _parse_datetime(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# ------------------------------------------------------------------------ simulator


class Simulator:
    """The API on `url`. Settable while serving: `inventory`, `failure_rate`, `failing` (devices
    whose operations fail), `run_seconds`
    (the last two are read when an operation is created) and `order`, the list's order."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "sim-token",
        inventory: Iterable[str] = DEFAULT_INVENTORY,
        failure_rate: float = 0.0,
        run_seconds: float = 3.0,
        seed: int | None = None,
        max_limit: int = 1000,
        clock: Callable[[], datetime] = _utc_now,
        order: ListOrder = "newest_first",
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.inventory: set[str] = set(inventory)
        self.failure_rate = failure_rate
        # Devices whose operations always fail when run (a bad package on one machine).
        self.failing: set[str] = set()
        self.run_seconds = run_seconds
        if order not in get_args(ListOrder):
            raise ValueError(f"order must be one of {get_args(ListOrder)}, not {order!r}")
        self.max_limit = max_limit
        self.order: ListOrder = order
        self.faults = FaultPlan()
        self.requests: list[tuple[str, str]] = []
        self.post_count = 0
        self._clock = clock
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        # Kept oldest first by (created_at, seq), so a GET slices it instead of sorting it;
        # `_checked` of them are known to be in that order and indexed by id.
        self._operations: list[_Operation] = []
        self._checked = 0
        self._by_id: dict[str, _Operation] = {}
        self._next_seq = FIRST_ID
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return f"http://{self.host}:{self._server.server_address[1]}{API_PREFIX}"

    def start(self) -> Simulator:
        if self._server is not None:
            raise RuntimeError("the simulator is already started")
        self._server = _Server((self.host, self.port), self)
        # shutdown() waits for the poll: a short one lets stop() return in ~10 ms, not 0.5 s.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="zequenze-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None or self._stopping.is_set():
            return
        self._stopping.set()  # wakes handlers sleeping in latency/hang faults
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # assertions

    def operations(self) -> list[dict[str, Any]]:
        """Every operation created, oldest first, with its stored (possibly stale) status."""
        with self._lock:
            self._catch_up()
            return [op.to_api() for op in self._operations]

    # a long history

    def seed(
        self,
        count: int,
        *,
        created_at: datetime | None = None,
        spacing: timedelta = timedelta(seconds=1),
        device_names: Sequence[str] | None = None,
    ) -> list[str]:
        """`count` finished reboots of the past, `spacing` apart, the oldest created at
        `created_at` (by default so that the newest is `spacing` before now); devices taken in
        turn from `device_names` (by default the inventory, sorted). Returns their ids, oldest
        first. No HTTP and no checks: 100,000 take a fraction of a second."""
        if count < 0:
            raise ValueError("count must not be negative")
        names = sorted(self.inventory) if device_names is None else list(device_names)
        if not names:
            raise ValueError("seeding needs at least one device name")
        first = created_at or self._clock() - spacing * count
        first = first.astimezone(UTC)
        parameters = {"force": False, "timeout": 300}  # shared: to_api hands out copies
        with self._lock:
            start = self._next_seq
            for n in range(count):
                moment = first + spacing * n
                self._operations.append(
                    _Operation(
                        seq=start + n,
                        device_name=names[n % len(names)],
                        operation_type="reboot",
                        scheduled_at=moment,
                        created_at=moment,
                        parameters=parameters,
                        estimated_duration=_estimated_duration(0.0),
                        run_seconds=0.0,
                        outcome="completed",
                        error=None,
                        status="completed",
                    )
                )
            self._next_seq = start + count
            self._catch_up()
        return [f"txn_{seq}" for seq in range(start, start + count)]

    def remember(self, operations: Iterable[Mapping[str, Any]]) -> None:
        """Operations this API held before it started (the demo's kept database), each an
        API operation's fields with `scheduled_at` a datetime: kept under their ids, as they
        were; those not ended go on by the clock, to an outcome chosen now. New ids follow
        the highest, so that none is given twice. An id of another shape is left out."""
        now = self._clock().astimezone(UTC)
        with self._lock:
            for given in operations:
                digits = str(given["id"]).removeprefix("txn_")
                if not digits.isdigit() or given["id"] in self._by_id:
                    continue
                device, kind = str(given["device_name"]), str(given["operation_type"])
                parameters = dict(given.get("parameters") or {})
                status = str(given.get("status") or "scheduled")
                if status not in _STATUS_RANK:  # the simulator gives only those it ranks
                    status = "scheduled"
                failed = status == "failed" or (
                    status != "completed"
                    and (self._rng.random() < self.failure_rate or device in self.failing)
                )
                scheduled_at = given["scheduled_at"].astimezone(UTC)
                self._operations.append(
                    _Operation(
                        seq=int(digits),
                        device_name=device,
                        operation_type=kind,
                        scheduled_at=scheduled_at,
                        created_at=min(scheduled_at, now).replace(microsecond=0),
                        parameters=parameters,
                        estimated_duration=_estimated_duration(self.run_seconds),
                        run_seconds=self.run_seconds,
                        outcome="failed" if failed else "completed",
                        error=(given.get("error") or _failure_text(kind, parameters))
                        if failed
                        else None,
                        status=status,
                    )
                )
                self._next_seq = max(self._next_seq, int(digits) + 1)
            self._catch_up()

    def _catch_up(self) -> None:
        """Index the operations added since the last call, and put them in order if they came
        out of it (a clock that went back, a seeded past); under the lock."""
        ops = self._operations
        if self._checked == len(ops):
            return
        for op in ops[self._checked :]:
            self._by_id[op.id] = op
        for i in range(max(1, self._checked), len(ops)):
            if _order_key(ops[i]) < _order_key(ops[i - 1]):
                ops.sort(key=_order_key)  # two sorted runs: linear time
                break
        self._checked = len(ops)

    # the API

    def _handle(
        self, method: str, target: str, authorization: str | None, body: bytes, base: str
    ) -> _Response:
        split = urlsplit(target)
        if split.path not in (RESOURCE_PATH, RESOURCE_PATH.rstrip("/")):
            # A person trying the address in a browser or with curl learns where to go.
            pointer = {"endpoint": RESOURCE_PATH, "auth": POINTER_AUTH, "docs": POINTER_DOCS}
            if split.path == "/":
                return _Response(200, {"detail": POINTER_ROOT, **pointer})
            return _Response(404, {"detail": "Not found.", **pointer})
        denied = self._authenticate(authorization)
        if denied is not None:
            return denied
        if method == "GET":
            return self._list(parse_qs(split.query, keep_blank_values=True), base + target)
        if method == "POST":
            return self._create(body)
        return _Response(
            405,
            {"detail": f'Method "{method}" not allowed.'},
            {"Allow": "GET, POST, HEAD, OPTIONS"},
        )

    def _authenticate(self, authorization: str | None) -> _Response | None:
        parts = (authorization or "").split()
        if not parts or parts[0].lower() != "bearer":
            detail = "Authentication credentials were not provided."
        elif len(parts) == 1:
            detail = "Invalid token header. No credentials provided."
        elif len(parts) > 2:
            detail = "Invalid token header. Token string should not contain spaces."
        elif parts[1] != self.token:
            detail = "Invalid token."
        else:
            return None
        return _Response(401, {"detail": detail}, {"WWW-Authenticate": 'Bearer realm="api"'})

    def _list(self, query: dict[str, list[str]], url: str) -> _Response:
        limit = _parse_int(_last(query, "limit"), default=DEFAULT_LIMIT, minimum=1)
        offset = _parse_int(_last(query, "offset"), default=0, minimum=0)
        if isinstance(limit, str) or isinstance(offset, str):
            errors = {
                name: [v]
                for name, v in (("limit", limit), ("offset", offset))
                if isinstance(v, str)
            }
            return _Response(400, errors)
        limit = min(limit, self.max_limit)
        wanted_id, device, status = (_last(query, k) for k in ("id", "device_name", "status"))
        update = _last(query, "update_status").lower() in _TRUE_WORDS
        with self._lock:
            self._catch_up()
            matching = self._operations  # oldest first
            if wanted_id:
                found = self._by_id.get(wanted_id)
                matching = [found] if found is not None else []
            if device:
                matching = [op for op in matching if op.device_name == device]
            if status:
                if update:
                    now = self._clock()
                    for op in matching:
                        op.advance(now)
                matching = [op for op in matching if op.status == status]
            count = len(matching)
            if self.order == "oldest_first":
                page = matching[offset : offset + limit]
            else:
                page = matching[max(0, count - offset - limit) : max(0, count - offset)][::-1]
            if update:
                now = self._clock()
                for op in page:
                    op.advance(now)
            results = [op.to_api() for op in page]
        return _Response(
            200,
            {
                "count": count,
                "next": _next_link(url, limit, offset, count),
                "previous": _previous_link(url, limit, offset),
                "results": results,
            },
        )

    def _create(self, body: bytes) -> _Response:
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            return _Response(400, {"detail": f"JSON parse error - {exc}"})
        # The doc describes the body as one `data` field holding a JSON string; accept that too.
        if isinstance(data, dict) and "data" in data and "device_name" not in data:
            inner = data["data"]
            if isinstance(inner, str):
                try:
                    inner = json.loads(inner)
                except ValueError:
                    return _Response(400, {"data": ["Value must be valid JSON."]})
            data = inner
        if not isinstance(data, dict):
            kind = type(data).__name__
            return _Response(
                400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
            )

        errors: dict[str, Any] = {}
        device_name = _required_string(data, "device_name", errors)
        operation_type = ""
        if "operation_type" not in data:
            errors["operation_type"] = ["This field is required."]
        elif data["operation_type"] is None:
            errors["operation_type"] = ["This field may not be null."]
        elif str(data["operation_type"]) not in OPERATION_TYPES:
            errors["operation_type"] = [f'"{data["operation_type"]}" is not a valid choice.']
        else:
            operation_type = str(data["operation_type"])
        scheduled_at = None
        if "scheduled_at" not in data:
            errors["scheduled_at"] = ["This field is required."]
        elif data["scheduled_at"] is None:
            errors["scheduled_at"] = ["This field may not be null."]
        else:
            raw = data["scheduled_at"]
            scheduled_at = _parse_datetime(raw) if isinstance(raw, str) else None
            if scheduled_at is None:
                errors["scheduled_at"] = [_WRONG_DATETIME]
        parameters = data.get("parameters", {})
        if parameters is None:
            errors["parameters"] = ["This field may not be null."]
        elif not isinstance(parameters, dict):
            kind = type(parameters).__name__
            errors["parameters"] = [f'Expected a dictionary of items but got type "{kind}".']
        elif not errors:
            # Only once every field is valid on its own, as DRF runs a serializer's validate().
            wrong = _parameter_errors(operation_type, parameters)
            if wrong:
                errors["parameters"] = wrong
        if errors or scheduled_at is None:
            return _Response(400, errors)
        if device_name not in self.inventory:
            return _Response(404, {"detail": f"Device '{device_name}' not found in inventory."})

        with self._lock:
            failed = self._rng.random() < self.failure_rate or device_name in self.failing
            op = _Operation(
                seq=self._next_seq,
                device_name=device_name,
                operation_type=operation_type,
                scheduled_at=scheduled_at,
                created_at=self._clock().astimezone(UTC).replace(microsecond=0),
                parameters=parameters,
                estimated_duration=_estimated_duration(self.run_seconds),
                run_seconds=self.run_seconds,
                outcome="failed" if failed else "completed",
                error=_failure_text(operation_type, parameters) if failed else None,
            )
            self._next_seq += 1
            self._operations.append(op)
            self.post_count += 1
            return _Response(201, op.to_api())


# ----------------------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must never wait on a client that keeps its connection open
    # socketserver's listen backlog is 5: a burst of new connections (40 `/ops list` at once)
    # overflowed it and the kernel's SYN retry added a second to some, which no real API does.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut idle keep-alive connections, so a stopped simulator answers nothing at all."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _default_error_body(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return json.dumps({"detail": phrase})


def _html_page(status: int) -> str:
    """What a proxy in front of the API sends when the API is not there to answer."""
    try:
        title = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        title = f"{status} Error"
    if status == 200:
        title = "Service temporarily unavailable"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


def _distort(fault: Fault, payload: Any) -> None:
    if not isinstance(payload, dict):
        return
    if fault.kind == "missing_results":
        payload.pop("results", None)
    elif fault.kind == "unknown_status":
        for op in payload.get("results", [payload]):
            op["status"] = fault.status_value


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the bot's pooled httpx client expects
    # Headers and body go out in two writes: with Nagle on, a keep-alive client waits
    # ~40 ms for each answer (delayed ACK).
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the `requests` list is the log; stderr noise hides test output

    def _serve(self, method: str) -> None:
        sim = self.server.simulator
        body = self._read_body()
        with sim._lock:
            sim.requests.append((method, self.path))
        base = f"http://{self.headers.get('Host') or f'{sim.host}:{self.server.server_port}'}"
        fault = sim.faults.take(method)
        if fault is not None and fault.kind == "commit_late":
            authorization = self.headers.get("Authorization")
            self._hang(fault.seconds)
            if not sim._stopping.is_set():
                sim._handle(method, self.path, authorization, body, base)
            return
        if fault is not None and self._fault_before_work(fault):
            return
        path = self.path
        if fault is not None and fault.kind == "ignore_id_filter":
            parts = urlsplit(path)
            kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "id"]
            path = urlunsplit(parts._replace(query=urlencode(kept)))
        response = sim._handle(method, path, self.headers.get("Authorization"), body, base)
        if fault is not None:
            if fault.kind == "status_after_work":
                self._send_error(fault)
                return
            if fault.kind == "hang_after_work":
                self._hang(fault.seconds)
                return
            if response.status in (200, 201):
                _distort(fault, response.payload)
        self._send_text(response.status, json.dumps(response.payload), response.headers)

    def _fault_before_work(self, fault: Fault) -> bool:
        """Apply a fault that acts before the API does; True if the request is finished."""
        if fault.kind == "latency":
            stopping = self.server.simulator._stopping
            if fault.until is None:
                stopping.wait(fault.seconds)
                return False
            deadline = time.monotonic() + fault.seconds
            while not (fault.until.is_set() or stopping.is_set()) and time.monotonic() < deadline:
                fault.until.wait(min(0.05, max(0.0, deadline - time.monotonic())))
            return False
        if fault.kind == "status":
            self._send_error(fault)
        elif fault.kind == "hang":
            self._hang(fault.seconds)
        elif fault.kind == "reset":
            self._reset()
        elif fault.kind == "html":
            status = fault.status or 200
            headers = {"Content-Type": "text/html; charset=utf-8", **fault.headers}
            self._send_text(status, fault.body or _html_page(status), headers)
        else:
            return False
        return True

    def _send_error(self, fault: Fault) -> None:
        status = fault.status or 500
        self._send_text(status, fault.body or _default_error_body(status), fault.headers)

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _send_text(self, status: int, body: str, headers: dict[str, str]) -> None:
        encoded = body.encode()
        names = {name.lower() for name in headers}
        self.send_response(status)
        if "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(encoded)))
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(encoded)

    def _hang(self, seconds: float) -> None:
        self.server.simulator._stopping.wait(seconds)
        self.close_connection = True

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


# ---------------------------------------------------------------------------- serve


def serve(
    *,
    host: str,
    port: int,
    token: str,
    inventory: Iterable[str] | None,
    failure_rate: float,
    run_seconds: float,
) -> None:
    """Run the simulator in the foreground until Ctrl-C or SIGTERM."""
    simulator = Simulator(
        host=host,
        port=port,
        token=token,
        inventory=DEFAULT_INVENTORY if inventory is None else inventory,
        failure_rate=failure_rate,
        run_seconds=run_seconds,
    )
    stopped = threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopped.set()) if in_main_thread else None
    try:
        with simulator:
            print(f"Zequenze API simulator on {simulator.url} (token: {token})", flush=True)
            endpoint = simulator.url.removesuffix(API_PREFIX) + RESOURCE_PATH
            print(f"Its one endpoint (GET to list, POST to create): {endpoint}", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                stopped.wait()
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
