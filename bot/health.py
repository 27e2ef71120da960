"""Health, readiness and Prometheus metrics: what a liveness probe and a scrape ask.

`GET /healthz`: the database answers and each background loop has gone round lately.
`GET /readyz`: that, and Slack accepted the token at start and the control API is answering
(or has been failing only a short while, being retried). `GET /metrics`: prometheus-client's
exposition of the runtime's own registry (never the process-wide default one).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from store import Store, StoreUnavailable
from store.records import FINAL_STATUSES, RUNNING_STATUSES, SUCCEEDED_STATUSES, WAITING_STATUSES

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from bot.slack.notifier import BotClient

log = logging.getLogger(__name__)

HEALTH_PATHS = ("/healthz", "/readyz", "/metrics")
# A loop is stalled when its last round ended more than this many of its intervals ago, and
# never sooner than STALE_FLOOR: one round may wait on Slack or the API for their timeouts.
STALE_ROUNDS = 5
STALE_FLOOR = 60.0
# How long the control API may fail (every call since the last answer) and the bot still be
# ready: its calls are retried with backoff meanwhile.
API_GRACE = 120.0

# The outcomes of requests, and the audit events that record each (see store.db).
REQUEST_OUTCOMES = {
    "confirmed": "confirmed",
    "cancelled": "cancelled",
    "expired": "expired",
    "approval_expired": "expired",
    "refused": "refused",
    "approved": "approved",
    "rejected": "rejected",
    "policy_refused": "rejected",  # refused later by the policy file in force
}
API_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def status_bucket(word: str) -> str:
    """The API's status word, in one of a few buckets (the words themselves are the API's)."""
    word = word.strip().lower()
    if word in WAITING_STATUSES:
        return "waiting"
    if word in RUNNING_STATUSES:
        return "running"
    if word in SUCCEEDED_STATUSES:
        return "succeeded"
    if word in FINAL_STATUSES:
        return "failed"
    return "other"


class Metrics:
    """The runtime's registry: counters moved where things happen (API and Slack calls), and
    the rest read from the store at each scrape."""

    def __init__(
        self,
        *,
        store: Store,
        next_check_due: Callable[[], datetime | None],
        clock: Callable[[], datetime],
    ) -> None:
        self.registry = CollectorRegistry()
        self.api_calls = Counter(
            "opsbot_api_calls",
            "Calls to the control API, by HTTP method and result.",
            ["method", "result"],
            registry=self.registry,
        )
        self.api_seconds = Histogram(
            "opsbot_api_call_seconds",
            "How long one call to the control API took (each attempt), by HTTP method.",
            ["method"],
            buckets=API_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.slack_calls = Counter(
            "opsbot_slack_calls",
            "Calls to Slack's Web API by the bot's client, by API method.",
            ["method"],
            registry=self.registry,
        )
        self.slack_rate_limited = Counter(
            "opsbot_slack_rate_limited",
            "Slack Web API calls refused with 429 (ratelimited), by API method.",
            ["method"],
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(store, next_check_due=next_check_due, clock=clock))

    def leading(self, leads: Callable[[], bool]) -> None:
        """Whether this replica does the background work, read at each scrape."""
        Gauge(
            "opsbot_leading",
            "1 on the replica that does the background work (sending, polling, the outbox), "
            "0 on the others; always 1 on a SQLite database (one process).",
            registry=self.registry,
        ).set_function(lambda: float(leads()))

    def api_call(self, method: str, result: str, seconds: float) -> None:
        self.api_calls.labels(method=method, result=result).inc()
        self.api_seconds.labels(method=method).observe(seconds)

    def slack_call(self, method: str, rate_limited: bool) -> None:
        self.slack_calls.labels(method=method).inc()
        if rate_limited:
            self.slack_rate_limited.labels(method=method).inc()

    def watch_slack(self, client: BotClient) -> None:
        client.on_call = self.slack_call

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StoreCollector(Collector):
    def __init__(
        self,
        store: Store,
        *,
        next_check_due: Callable[[], datetime | None],
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._next_check_due = next_check_due
        self._clock = clock

    def describe(self) -> Iterable[Metric]:
        return []  # read at scrape time: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        try:
            gauges = self._store.gauges()
            due = self._next_check_due()
            outcomes = self._count_outcomes()
        except (sqlite3.Error, StoreUnavailable) as error:
            log.warning("metrics: the database did not answer: %r", error)
            return
        now = self._clock()
        operations = GaugeMetricFamily(
            "opsbot_operations",
            "Operations sent to the API, by their last status word's bucket.",
            labels=["status"],
        )
        buckets = dict.fromkeys(("waiting", "running", "succeeded", "failed", "other"), 0)
        for word, count in gauges["statuses"].items():
            buckets[status_bucket(word)] += count
        for bucket, count in buckets.items():
            operations.add_metric([bucket], count)
        yield operations
        requests = CounterMetricFamily(
            "opsbot_requests",
            "Requests by outcome, counted from the audit trail (so across restarts).",
            labels=["outcome"],
        )
        for outcome, count in outcomes.items():
            requests.add_metric([outcome], count)
        yield requests
        yield GaugeMetricFamily(
            "opsbot_outbox_backlog",
            "Messages waiting to be delivered to Slack.",
            value=gauges["outbox_backlog"],
        )
        oldest = gauges["outbox_oldest"]
        yield GaugeMetricFamily(
            "opsbot_outbox_oldest_seconds",
            "Age of the oldest message waiting to be delivered (0: none waits).",
            value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        )
        # The epoch stands for an operation not yet placed: the poller's next round places it.
        late = due is not None and due.timestamp() > 0
        yield GaugeMetricFamily(
            "opsbot_poller_lag_seconds",
            "How late the poller's next due look is (0: on time or nothing due).",
            value=max(0.0, (now - due).total_seconds()) if late and due else 0.0,
        )
        yield GaugeMetricFamily(
            "opsbot_unknown_outcomes",
            "Operations whose creation has an unknown outcome, waiting to be settled.",
            value=gauges["unknown_outcomes"],
        )
        yield GaugeMetricFamily(
            "opsbot_approvals_waiting",
            "Requests waiting for approval.",
            value=gauges["approvals_waiting"],
        )

    def _count_outcomes(self) -> dict[str, int]:
        """The audit trail's lines of each outcome's events (the store keeps them counted)."""
        outcomes = dict.fromkeys(sorted(set(REQUEST_OUTCOMES.values())), 0)
        for event, count in self._store.audit_counts(list(REQUEST_OUTCOMES)).items():
            outcomes[REQUEST_OUTCOMES[event]] += count
        return outcomes


class Health:
    """Liveness and readiness of one runtime. `slack_accepted`: whether Slack accepted the bot
    token (its auth.test at start)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        slack_accepted: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
        stale_floor: float = STALE_FLOOR,
        api_grace: float = API_GRACE,
    ) -> None:
        self._runtime = runtime
        self._slack_accepted = slack_accepted
        self._clock = clock
        self._stale_floor = stale_floor
        self._api_grace = api_grace

    def live(self) -> tuple[bool, dict[str, Any]]:
        problems: list[str] = []
        try:
            self._runtime.store.ping()
            database = "ok"
        except Exception as error:  # closed, locked beyond its timeout, unreadable
            database = f"not answering: {type(error).__name__}"
            problems.append(f"database: {database}")
        now = self._clock()
        loops: dict[str, Any] = {}
        for loop in self._runtime.loops:
            stale_after = max(STALE_ROUNDS * loop.interval, self._stale_floor)
            last = loop.last_round_at
            ago = None if last is None else round(now - last, 3)
            if not loop.running:
                state = "stopped"
            elif ago is not None and ago > stale_after:
                state = f"no round for {ago:.0f} s (expected within {stale_after:g} s)"
            else:
                state = "ok"
            loops[loop.name] = {"status": state, "last_round_seconds_ago": ago}
            if state != "ok":
                problems.append(f"{loop.name}: {state}")
        return self._body(problems, database=database, loops=loops)

    def ready(self) -> tuple[bool, dict[str, Any]]:
        _, body = self.live()
        problems = list(body.get("problems", []))
        if not (self._runtime.started and self._slack_accepted()):
            body["slack"] = "not started"
            problems.append("slack: the token was not accepted at start (or not started yet)")
        else:
            body["slack"] = "ok"
        calls = self._runtime.api_calls
        failing_since = calls.failing_since
        if failing_since is None:
            body["api"] = "ok"
        else:
            failing = self._clock() - failing_since
            body["api"] = f"failing for {failing:.0f} s"
            if failing > self._api_grace:
                problems.append(f"api: failing for {failing:.0f} s (grace {self._api_grace:.0f} s)")
        del body["status"]
        body.pop("problems", None)
        return self._body(problems, **body)

    @staticmethod
    def _body(problems: list[str], **parts: Any) -> tuple[bool, dict[str, Any]]:
        body: dict[str, Any] = {"status": "failing" if problems else "ok", **parts}
        if problems:
            body["problems"] = problems
        return not problems, body


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def health_routes(health: Health, metrics: Metrics) -> dict[str, WsgiApp]:
    """The three paths, each a WSGI app answering GET (and HEAD) only."""

    def respond(start_response: Callable[..., Any], status: str, body: bytes, kind: str):
        start_response(status, [("Content-Type", kind), ("Cache-Control", "no-store")])
        return [body]

    def get_only(start_response: Callable[..., Any]) -> list[bytes]:
        return respond(start_response, "405 Method Not Allowed", b"GET only\n", "text/plain")

    def checked(check: Callable[[], tuple[bool, dict[str, Any]]]) -> WsgiApp:
        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
                return get_only(start_response)
            ok, body = check()
            status = "200 OK" if ok else "503 Service Unavailable"
            data = json.dumps(body, sort_keys=True).encode() + b"\n"
            return respond(start_response, status, data, "application/json")

        return wsgi

    def exposition(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return get_only(start_response)
        return respond(start_response, "200 OK", metrics.exposition(), CONTENT_TYPE_LATEST)

    return {
        "/healthz": checked(health.live),
        "/readyz": checked(health.ready),
        "/metrics": exposition,
    }


def observe(runtime: Runtime, client: BotClient) -> dict[str, WsgiApp]:
    """The routes for a runtime served beside `client`'s app, whose Slack calls are counted."""
    runtime.metrics.watch_slack(client)
    health = Health(runtime, slack_accepted=lambda: client.token_accepted)
    return health_routes(health, runtime.metrics)
