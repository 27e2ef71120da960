"""Health, readiness and the metrics' page: what a liveness probe and a scrape ask.

`GET /healthz`: the database answers and each background loop has gone round lately.
`GET /readyz`: that, and Slack accepted the token at start and the control API is answering
(or has been failing only a short while, being retried). `GET /metrics`: prometheus-client's
exposition of the runtime's own registry (bot/run/metrics.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot.run.metrics import Metrics

if TYPE_CHECKING:
    from bot.run.runtime import Runtime
    from bot.slack.notifier import BotClient

HEALTH_PATHS = ("/healthz", "/readyz", "/metrics")
# A loop is stalled when its last round ended more than this many of its intervals ago, and
# never sooner than STALE_FLOOR: one round may wait on Slack or the API for their timeouts.
STALE_ROUNDS = 5
STALE_FLOOR = 60.0
# How long the control API may fail (every call since the last answer) and the bot still be
# ready: its calls are retried with backoff meanwhile.
API_GRACE = 120.0


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
