"""Prometheus metrics: the runtime's own registry (never the process-wide default one), its
counters moved where things happen (API and Slack calls) and the rest read from the store at
each scrape. The runtime builds it; bot/run/health.py serves it beside the health checks."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from store import Store, StoreUnavailable
from store.records import FINAL_STATUSES, RUNNING_STATUSES, SUCCEEDED_STATUSES, WAITING_STATUSES

if TYPE_CHECKING:
    from bot.slack.notifier import BotClient

log = logging.getLogger(__name__)

# The outcomes of requests, and the audit events that record each (see store.db).
REQUEST_OUTCOMES = {
    "confirmed": "confirmed",
    "cancelled": "cancelled",
    "expired": "expired",
    "approval_expired": "expired",
    "window_closed": "expired",  # moved into a window that closed before it could go
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
