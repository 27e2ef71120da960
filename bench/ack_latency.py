"""How fast HTTP mode acknowledges slash commands when many arrive at once and the API is slow.

    python bench/ack_latency.py [--concurrency 40] [--api-latency 2.0] [--rounds 3]
    python bench/ack_latency.py --compare-dev-server

Everything runs on 127.0.0.1: the bot as the tests assemble it (Bolt on waitress, the fake Slack
Web API, the Zequenze API simulator, a SQLite file in a temporary directory). The simulator
answers every request after --api-latency seconds. Each round fires --concurrency signed slash
commands at once (one thread and one httpx client each), times each HTTP acknowledgement and
waits until every command has had its answer through its response_url.

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

from bot.runtime import Runtime  # noqa: E402
from bot.simulator.endpoint import Simulator  # noqa: E402
from bot.simulator.faults import Fault  # noqa: E402
from bot.slack.app import build_app  # noqa: E402
from bot.slack.notifier import SlackNotifier, web_client  # noqa: E402
from tests.conftest import SECRET, start_bot, stop_bot  # noqa: E402
from tests.fakes import BOT_TOKEN, FakeSlack, signed_headers, slash_command_body  # noqa: E402

SLACK_ACK_LIMIT = 3.0  # seconds Slack waits for the HTTP answer before showing an error
ANSWER_DEADLINE = 30.0  # seconds a round waits for every response_url answer
REQUEST_TIMEOUT = 10.0
DEFAULT_COMMANDS = ("list", "reboot server-01 now")
USERS = {"U123": {"name": "alice", "tz": "America/Los_Angeles"}}


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
    failures: list[str]  # what went wrong with each request that was not acknowledged
    answered: int  # commands that got their answer through the response_url
    all_answered: float | None  # seconds from the round's start until every acknowledged
    # command had its answer; None if some never came within ANSWER_DEADLINE


# ----------------------------------------------------------------------------- targets


@contextlib.contextmanager
def waitress_target(slack: FakeSlack, simulator: Simulator, db: Path) -> Iterator[Target]:
    bot = start_bot(slack=slack, simulator=simulator, db_path=db)
    try:
        yield Target(name="waitress (bot.slack.app.HttpServer)", url=bot.url, slack=slack)
    finally:
        stop_bot(bot)


class _LoopbackHTTPServer(HTTPServer):
    """The dev server's own class, bound to 127.0.0.1 instead of 0.0.0.0."""

    def __init__(self, address: tuple[str, int], handler: Any) -> None:
        super().__init__(("127.0.0.1", address[1]), handler)


@contextlib.contextmanager
def dev_server_target(slack: FakeSlack, simulator: Simulator, db: Path) -> Iterator[Target]:
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
        client=client, signing_secret=SECRET, service=runtime.service, pacer=runtime.pacer
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


def run_round(target: Target, *, concurrency: int, commands: tuple[str, ...], tag: str):
    keys = [f"{tag}-{n:03d}" for n in range(concurrency)]
    bodies = [
        slash_command_body(
            text=commands[n % len(commands)],
            user_id="U123",
            channel_id="C123",
            response_url=target.slack.response_url(key),
        )
        for n, key in enumerate(keys)
    ]
    barrier = threading.Barrier(concurrency + 1)
    acks: list[float | None] = [None] * concurrency
    failures: list[str] = []
    lock = threading.Lock()

    # One client per request, as separate Slack deliveries; built before the clock starts
    # (an httpx.Client costs ~20 ms of CPU to create, which is not the bot's time).
    clients = [httpx.Client(trust_env=False, timeout=REQUEST_TIMEOUT) for _ in range(concurrency)]

    def send(n: int) -> None:
        barrier.wait()
        began = time.monotonic()
        try:
            headers = signed_headers(bodies[n], secret=SECRET)
            response = clients[n].post(target.url, content=bodies[n].encode(), headers=headers)
        except httpx.HTTPError as exc:
            with lock:
                failures.append(f"{type(exc).__name__} ({exc or 'no detail'})")
            return
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
    for client in clients:
        client.close()

    # A request that was not acknowledged may never be answered: wait for the others only.
    acknowledged = {key for key, ack in zip(keys, acks, strict=True) if ack is not None}
    deadline = started + ANSWER_DEADLINE
    while True:
        arrivals = {
            c.args["_key"]: c.at
            for c in target.slack.calls_to("response_url")
            if c.args.get("_key") in set(keys)
        }
        if acknowledged <= arrivals.keys() or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    complete = acknowledged <= arrivals.keys()
    return RoundResult(
        acks=[a for a in acks if a is not None],
        failures=failures,
        answered=len(arrivals),
        all_answered=(max(arrivals.values(), default=started) - started) if complete else None,
    )


def report(prefix: str, results: list[RoundResult], concurrency: int) -> None:
    acks = [a for r in results for a in r.acks]
    failures = Counter(f for r in results for f in r.failures)
    requests = concurrency * len(results)
    print(f"{prefix}requests: {requests}")
    if acks:
        print(f"{prefix}ack p50 ms: {percentile(acks, 50) * 1000:.0f}")
        print(f"{prefix}ack p95 ms: {percentile(acks, 95) * 1000:.0f}")
        print(f"{prefix}ack max ms: {max(acks) * 1000:.0f}")
    print(f"{prefix}acks over {SLACK_ACK_LIMIT:.0f} s: {sum(a > SLACK_ACK_LIMIT for a in acks)}")
    print(f"{prefix}failed: {failures.total()}")
    for failure, count in failures.most_common():
        print(f"{prefix}failed with {failure}: {count}")
    print(f"{prefix}answered: {sum(r.answered for r in results)} of {requests}")
    times = [r.all_answered for r in results]
    if all(t is not None for t in times):
        worst = max(t for t in times if t is not None)
        print(f"{prefix}all acknowledged answered after s: {worst:.2f}")
    else:
        print(
            f"{prefix}all acknowledged answered after s: never (some missing after "
            f"{ANSWER_DEADLINE:.0f} s)"
        )


def bench(target_factory: Callable[..., Any], args: argparse.Namespace) -> None:
    commands = tuple(args.commands)
    with (
        tempfile.TemporaryDirectory(prefix="opsbot-bench-") as tmp,
        FakeSlack(users=USERS) as slack,
        Simulator(run_seconds=0.4, seed=7) as simulator,
        target_factory(slack, simulator, Path(tmp) / "opsbot.db") as target,
    ):
        simulator.faults.add(Fault(kind="latency", seconds=args.api_latency, times=None))
        print(f"server: {target.name}")
        print(f"concurrency: {args.concurrency}")
        print(f"api latency s: {args.api_latency}")
        print(f"commands: {' | '.join(commands)}")
        print(f"rounds: {args.rounds}")
        results = []
        for n in range(1, args.rounds + 1):
            result = run_round(target, concurrency=args.concurrency, commands=commands, tag=f"r{n}")
            report(f"round {n} ", [result], args.concurrency)
            results.append(result)
        report("total ", results, args.concurrency)
        if target.name.startswith("waitress"):
            print(f"waitress deepest task queue (all threads busy): {QUEUE_DEPTH.deepest}")
        simulator.faults.clear()  # stopping must not wait on a slow answer


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

    bench(waitress_target, args)
    if args.compare_dev_server:
        print()
        bench(dev_server_target, args)


if __name__ == "__main__":
    main()
