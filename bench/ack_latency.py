"""How fast HTTP mode acknowledges slash commands when many arrive at once and the API is slow.

    python bench/ack_latency.py [--concurrency 40] [--api-latency 2.0] [--rounds 3]
    python bench/ack_latency.py --clicks [100] [--devices 20]
    python bench/ack_latency.py --compare-dev-server
    python bench/ack_latency.py --baseline

Everything runs on 127.0.0.1: the bot as the tests assemble it (Bolt on waitress, the fake Slack
Web API, the Zequenze API simulator, a SQLite file in a temporary directory). The simulator
answers every request after --api-latency seconds. Each round fires --concurrency signed slash
commands at once (one thread and one httpx client each), times each HTTP acknowledgement and
waits until every command has had its answer through its response_url.

--clicks N: each round first proposes N requests of --devices devices each (`reboot
server-01..server-20 now`, one requester each), untimed and with the API answering at once; then
the API is slowed, N signed Confirm clicks are fired at once and each click's HTTP
acknowledgement is timed, then the moment every click was answered through its response_url.

--baseline: the same rounds first on the pool sizes this bench was written against (Bolt's
listener pool 16, the work pool 32, the API client with httpx's default limits), then on
today's; the ratios are printed last.

--compare-dev-server also runs the same rounds against Bolt's own `app.start()` development
server (stdlib `http.server.HTTPServer`), run in a daemon thread and stopped with its
`shutdown()`. It is bound to 127.0.0.1 rather than its hard-coded 0.0.0.0, so nothing listens
beyond loopback; nothing else about it is changed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import HTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import slack_bolt.app.app as bolt_app_module  # noqa: E402

import bot.api  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.simulator.endpoint import Simulator  # noqa: E402
from bot.simulator.faults import Fault  # noqa: E402
from bot.slack.app import Workers, build_app  # noqa: E402
from bot.slack.notifier import SlackNotifier, web_client  # noqa: E402
from tests.conftest import SECRET, Bot, start_bot, stop_bot  # noqa: E402
from tests.fakes import (  # noqa: E402
    BOT_TOKEN,
    FakeSlack,
    block_actions_body,
    signed_headers,
    slash_command_body,
)

SLACK_ACK_LIMIT = 3.0  # seconds Slack waits for the HTTP answer before showing an error
ANSWER_DEADLINE = 30.0  # seconds a round waits for every response_url answer
REQUEST_TIMEOUT = 10.0
DEFAULT_COMMANDS = ("list", "reboot server-01 now")
USERS = {"U123": {"name": "alice", "tz": "America/Los_Angeles"}}
CLICKERS = 1000  # users U1000…: one requester (and clicker) per proposed request
PROPOSE_AT_ONCE = 10  # proposals sent together before a click round (untimed)


@dataclass(frozen=True)
class Pools:
    """The bot's pool sizes for a run. None: the app's own defaults."""

    name: str
    listeners: int | None = None
    work: int | None = None
    api_limits: httpx.Limits | None = None  # the API client's connection pool

    def workers(self) -> Workers | None:
        if self.listeners is None and self.work is None:
            return None
        defaults = Workers.__init__.__kwdefaults__
        return Workers(
            listeners=self.listeners or defaults["listeners"], work=self.work or defaults["work"]
        )


# What this benchmark's figures in issue 10 were taken on: Bolt's listener pool 16, the work
# pool 32, the API client on httpx's default limits (100 connections, 20 kept alive).
BASELINE = Pools(
    name="baseline",
    listeners=16,
    work=32,
    api_limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
)
CURRENT = Pools(name="current")


@dataclass
class Target:
    """A running bot reachable at `url`."""

    name: str
    url: str
    slack: FakeSlack


class QueueDepth(logging.Filter):
    """Waitress warns "Task queue depth is N" when every one of its threads is busy: keep the
    deepest N instead of printing each warning."""

    def __init__(self) -> None:
        super().__init__()
        self.deepest = 0

    def filter(self, record: logging.LogRecord) -> bool:
        match = re.search(r"depth is (\d+)", record.getMessage())
        if match:
            self.deepest = max(self.deepest, int(match.group(1)))
            return False
        return True


QUEUE_DEPTH = QueueDepth()


@dataclass
class RoundResult:
    acks: list[float]  # seconds, successful acknowledgements only
    requests: int
    failures: list[str]  # what went wrong with each request that was not acknowledged
    answered: int  # commands that got their answer through the response_url
    all_answered: float | None  # seconds from the round's start until every acknowledged
    # command had its answer; None if some never came within ANSWER_DEADLINE


# ----------------------------------------------------------------------------- targets


@contextlib.contextmanager
def api_limits(limits: httpx.Limits | None) -> Iterator[None]:
    """The API clients built meanwhile use `limits` instead of bot.api's own."""
    if limits is None:
        yield
        return
    original = bot.api.API_LIMITS
    bot.api.API_LIMITS = limits
    try:
        yield
    finally:
        bot.api.API_LIMITS = original


@contextlib.contextmanager
def waitress_target(
    slack: FakeSlack, simulator: Simulator, db: Path, pools: Pools = CURRENT
) -> Iterator[Target]:
    with api_limits(pools.api_limits):
        bot: Bot = start_bot(slack=slack, simulator=simulator, db_path=db, workers=pools.workers())
    try:
        yield Target(name="waitress (bot.slack.app.HttpServer)", url=bot.url, slack=slack)
    finally:
        stop_bot(bot)


class _LoopbackHTTPServer(HTTPServer):
    """The dev server's own class, bound to 127.0.0.1 instead of 0.0.0.0."""

    def __init__(self, address: tuple[str, int], handler: Any) -> None:
        super().__init__(("127.0.0.1", address[1]), handler)


@contextlib.contextmanager
def dev_server_target(
    slack: FakeSlack, simulator: Simulator, db: Path, pools: Pools = CURRENT
) -> Iterator[Target]:
    # Assembled exactly as tests.conftest.start_bot does, but served by Bolt's app.start().
    client = web_client(token=BOT_TOKEN, base_url=slack.api_url)
    runtime = Runtime(
        db_path=str(db),
        api_url=simulator.url,
        api_token=simulator.token,
        poll_interval=0.1,
        notifier=SlackNotifier(client=client),
    )
    app = build_app(
        client=client,
        signing_secret=SECRET,
        service=runtime.service,
        pacer=runtime.pacer,
        workers=pools.workers(),
    )
    runtime.start()
    original = bolt_app_module.HTTPServer
    bolt_app_module.HTTPServer = _LoopbackHTTPServer  # type: ignore[misc]
    try:
        thread = threading.Thread(
            target=app.start,
            kwargs={"port": 0, "http_server_logger_enabled": False},
            name="bolt-dev-server",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + 5
        while getattr(app, "_development_server", None) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("Bolt's development server did not start")
            time.sleep(0.01)
    finally:
        bolt_app_module.HTTPServer = original  # type: ignore[misc]
    server = app._development_server._server  # the stdlib HTTPServer inside
    port = server.server_address[1]
    try:
        yield Target(
            name="Bolt app.start() development server",
            url=f"http://127.0.0.1:{port}/slack/events",
            slack=slack,
        )
    finally:
        server.shutdown()  # serve_forever returns; app.start() then closes the socket
        thread.join(timeout=5)
        if thread.is_alive():
            print("note: the development server thread did not stop; left as a daemon thread")
        runtime.stop()


# ------------------------------------------------------------------------------ rounds


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of `values` (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return ordered[int(rank) - 1]


def fire(target: Target, bodies: dict[str, str]) -> RoundResult:
    """POST every signed body at the same moment (one thread and one client each), time each
    HTTP acknowledgement, then wait for every acknowledged one's answer on its response_url
    (`bodies` is keyed by that response_url's key)."""
    keys = list(bodies)
    concurrency = len(keys)
    barrier = threading.Barrier(concurrency + 1)
    acks: list[float | None] = [None] * concurrency
    failures: list[str] = []
    lock = threading.Lock()

    # One client per request, as separate Slack deliveries; built before the clock starts
    # (an httpx.Client costs ~20 ms of CPU to create, which is not the bot's time).
    clients = [httpx.Client(trust_env=False, timeout=REQUEST_TIMEOUT) for _ in range(concurrency)]

    def send(n: int) -> None:
        body = bodies[keys[n]]
        barrier.wait()
        began = time.monotonic()
        try:
            headers = signed_headers(body, secret=SECRET)
            response = clients[n].post(target.url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            with lock:
                failures.append(f"{type(exc).__name__} ({exc or 'no detail'})")
            return
        finally:
            # A delivery's connection is not kept open for the rest of the round: idle, it
            # would count against waitress's connection limit until the clients close.
            clients[n].close()
        if response.status_code != 200:
            with lock:
                failures.append(f"HTTP {response.status_code}")
            return
        acks[n] = time.monotonic() - began

    threads = [threading.Thread(target=send, args=(n,), daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT + 5)

    # A request that was not acknowledged may never be answered: wait for the others only.
    acknowledged = {key for key, ack in zip(keys, acks, strict=True) if ack is not None}
    arrivals = wait_answers(target, keys, acknowledged, deadline=started + ANSWER_DEADLINE)
    complete = acknowledged <= arrivals.keys()
    return RoundResult(
        acks=[a for a in acks if a is not None],
        requests=concurrency,
        failures=failures,
        answered=len(arrivals),
        all_answered=(max(arrivals.values(), default=started) - started) if complete else None,
    )


def wait_answers(
    target: Target, keys: list[str], awaited: set[str], *, deadline: float
) -> dict[str, float]:
    """When the first answer to each of `keys` arrived, once every one of `awaited` has one
    (or at `deadline`)."""
    wanted = set(keys)
    while True:
        arrivals: dict[str, float] = {}
        for call in target.slack.calls_to("response_url"):
            key = call.args.get("_key")
            if key in wanted and key not in arrivals:
                arrivals[key] = call.at
        if awaited <= arrivals.keys() or time.monotonic() > deadline:
            return arrivals
        time.sleep(0.02)


def run_round(target: Target, *, concurrency: int, commands: tuple[str, ...], tag: str):
    bodies = {}
    for n in range(concurrency):
        key = f"{tag}-{n:03d}"
        bodies[key] = slash_command_body(
            text=commands[n % len(commands)],
            user_id="U123",
            channel_id="C123",
            response_url=target.slack.response_url(key),
        )
    return fire(target, bodies)


def propose(target: Target, *, count: int, devices: int, tag: str) -> list[tuple[str, str]]:
    """`count` requests of `reboot server-01..server-NN now`, each by its own user, sent
    PROPOSE_AT_ONCE at a time: (user, request id) for each, from its Confirm button."""
    typed = f"reboot server-01..server-{devices:02d} now"
    users = [f"U{CLICKERS + n}" for n in range(count)]
    keys = [f"{tag}-propose-{n:03d}" for n in range(count)]
    with httpx.Client(trust_env=False, timeout=REQUEST_TIMEOUT) as client:
        for first in range(0, count, PROPOSE_AT_ONCE):
            batch = range(first, min(first + PROPOSE_AT_ONCE, count))
            for n in batch:
                body = slash_command_body(
                    text=typed,
                    user_id=users[n],
                    channel_id="C123",
                    response_url=target.slack.response_url(keys[n]),
                )
                response = client.post(
                    target.url, content=body.encode(), headers=signed_headers(body, secret=SECRET)
                )
                response.raise_for_status()
            wait_answers(
                target,
                [keys[n] for n in batch],
                {keys[n] for n in batch},
                deadline=time.monotonic() + ANSWER_DEADLINE,
            )
    answers = {
        c.args["_key"]: c.args for c in target.slack.calls_to("response_url") if c.args.get("_key")
    }
    proposed = []
    for user, key in zip(users, keys, strict=True):
        buttons = [
            element
            for block in answers.get(key, {}).get("blocks") or ()
            if block.get("type") == "actions"
            for element in block["elements"]
        ]
        value = next((b["value"] for b in buttons if b["action_id"] == "ops_confirm"), None)
        if value is None:
            raise RuntimeError(f"no Confirm button for {typed!r}: {answers.get(key)}")
        proposed.append((user, value))
    return proposed


def run_clicks(target: Target, proposed: list[tuple[str, str]], *, tag: str) -> RoundResult:
    bodies = {}
    for n, (user, request_id) in enumerate(proposed):
        key = f"{tag}-click-{n:03d}"
        bodies[key] = block_actions_body(
            action_id="ops_confirm",
            value=request_id,
            user_id=user,
            response_url=target.slack.response_url(key),
        )
    result = fire(target, bodies)
    confirmed = sum(
        1
        for c in target.slack.calls_to("response_url")
        if c.args.get("_key") in bodies and "Confirmed" in str(c.args.get("text", ""))
    )
    if confirmed != len(bodies):
        missing = len(bodies) - confirmed
        print(f"note: {missing} of {len(bodies)} clicks were not answered Confirmed")
    return result


@dataclass
class Summary:
    ack_p99: float | None
    all_answered: float | None


def report(prefix: str, results: list[RoundResult], api_latency: float) -> Summary:
    acks = [a for r in results for a in r.acks]
    failures = Counter(f for r in results for f in r.failures)
    requests = sum(r.requests for r in results)
    print(f"{prefix}requests: {requests}")
    if acks:
        print(f"{prefix}ack p50 ms: {percentile(acks, 50) * 1000:.0f}")
        print(f"{prefix}ack p95 ms: {percentile(acks, 95) * 1000:.0f}")
        print(f"{prefix}ack p99 ms: {percentile(acks, 99) * 1000:.0f}")
        print(f"{prefix}ack max ms: {max(acks) * 1000:.0f}")
    print(f"{prefix}acks over {SLACK_ACK_LIMIT:.0f} s: {sum(a > SLACK_ACK_LIMIT for a in acks)}")
    print(f"{prefix}failed: {failures.total()}")
    for failure, count in failures.most_common():
        print(f"{prefix}failed with {failure}: {count}")
    print(f"{prefix}answered: {sum(r.answered for r in results)} of {requests}")
    times = [r.all_answered for r in results]
    worst = None
    if all(t is not None for t in times):
        worst = max(t for t in times if t is not None)
        print(f"{prefix}all acknowledged answered after s: {worst:.2f}")
        late = worst - api_latency
        print(f"{prefix}last answer after the API's ({api_latency:g} s) s: {late:.2f}")
    else:
        print(
            f"{prefix}all acknowledged answered after s: never (some missing after "
            f"{ANSWER_DEADLINE:.0f} s)"
        )
    return Summary(ack_p99=percentile(acks, 99) if acks else None, all_answered=worst)


def bench(target_factory: Callable[..., Any], args: argparse.Namespace, pools: Pools) -> Summary:
    commands = tuple(args.commands)
    users = dict(USERS)
    users.update(
        {f"U{CLICKERS + n}": {"name": f"user{n}", "tz": "UTC"} for n in range(args.clicks or 0)}
    )
    with (
        tempfile.TemporaryDirectory(prefix="opsbot-bench-") as tmp,
        FakeSlack(users=users) as slack,
        Simulator(run_seconds=0.4, seed=7) as simulator,
        target_factory(slack, simulator, Path(tmp) / "opsbot.db", pools) as target,
    ):
        slow = Fault(kind="latency", seconds=args.api_latency, times=None)
        print(f"server: {target.name}")
        print(f"pools: {describe(pools)}")
        if args.clicks:
            print(f"clicks: {args.clicks} on Confirm, {args.devices} devices each")
        else:
            print(f"concurrency: {args.concurrency}")
            print(f"commands: {' | '.join(commands)}")
        print(f"api latency s: {args.api_latency}")
        print(f"rounds: {args.rounds}")
        results = []
        for n in range(1, args.rounds + 1):
            if args.clicks:
                simulator.faults.clear()  # proposing is not what is timed
                proposed = propose(target, count=args.clicks, devices=args.devices, tag=f"r{n}")
                simulator.faults.add(slow)
                result = run_clicks(target, proposed, tag=f"r{n}")
            else:
                simulator.faults.add(slow)
                result = run_round(
                    target, concurrency=args.concurrency, commands=commands, tag=f"r{n}"
                )
            report(f"round {n} ", [result], args.api_latency)
            results.append(result)
        summary = report("total ", results, args.api_latency)
        if target.name.startswith("waitress"):
            print(f"waitress deepest task queue (all threads busy): {QUEUE_DEPTH.deepest}")
        simulator.faults.clear()  # stopping must not wait on a slow answer
    return summary


def describe(pools: Pools) -> str:
    workers = pools.workers() or Workers()
    try:
        with api_limits(pools.api_limits):
            limits = bot.api.API_LIMITS
        return (
            f"{pools.name}: listeners {workers.listeners._max_workers}, "
            f"work {workers.work._max_workers}, API connections {limits.max_connections} "
            f"({limits.max_keepalive_connections} kept alive)"
        )
    finally:
        workers.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--api-latency", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--commands",
        nargs="+",
        default=list(DEFAULT_COMMANDS),
        help="what is typed after /ops, used in turn (default: %(default)s)",
    )
    parser.add_argument(
        "--clicks",
        type=int,
        nargs="?",
        const=100,
        default=0,
        metavar="N",
        help="fire N Confirm clicks at once instead of slash commands (N: %(const)s)",
    )
    parser.add_argument("--devices", type=int, default=20, help="devices in each clicked request")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="first run on the pool sizes of issue 10's figures, then on today's; print ratios",
    )
    parser.add_argument(
        "--compare-dev-server",
        action="store_true",
        help="also run against Bolt's app.start() development server",
    )
    args = parser.parse_args(argv)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)  # slack_sdk would send loopback traffic to a proxy
    os.environ.pop("all_proxy", None)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("waitress.queue").addFilter(QUEUE_DEPTH)

    summaries = {}
    for pools in (BASELINE, CURRENT) if args.baseline else (CURRENT,):
        QUEUE_DEPTH.deepest = 0
        summaries[pools.name] = bench(waitress_target, args, pools)
        print()
    if args.baseline:
        before, after = summaries[BASELINE.name], summaries[CURRENT.name]
        if before.ack_p99 and after.ack_p99:
            print(f"ack p99 baseline/current: {before.ack_p99 / after.ack_p99:.2f}")
        if before.all_answered and after.all_answered:
            print(f"all answered baseline/current: {before.all_answered / after.all_answered:.2f}")
    if args.compare_dev_server:
        print()
        bench(dev_server_target, args, CURRENT)


if __name__ == "__main__":
    main()
