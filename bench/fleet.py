"""Benchmark 1: the poller at fleet scale, against the naive poller in the same run.

    python bench/fleet.py [--operations 10000] [--running 1000] [--interval 15]
                          [--window 60] [--api-latency 0.02] [--replicas 1 2]

The simulator runs in a child process (its CPU and memory are not counted), answering every
GET after --api-latency s. --operations are created through the bot's path (store, a real
POST, record_submitted), in random order: --running of them scheduled in the last minutes and
running, each finishing at a random moment of the next two windows; the rest scheduled at
random over the next 24 h. The store file is copied, then:

1. polling by need (bot.track.poller.Poller on its Ticker, as the runtime runs it) for --window s;
2. the naive poller (every operation not final, by id with update_status, every --interval;
   bench/_fleet.py) for --window s, on the copy.

With --replicas, instead: the same operations on a throwaway PostgreSQL (started from the
machine's own binaries), polled by need by 1 replica, then by N replicas sharing it (each its
own store, API client and poller, its rounds gated by the lease as the runtime gates them),
each run on a copy of the database as it was after the setup: the API is asked as often by N
replicas as by one.

For each: API requests per minute (measured over the window, scaled to a minute), the time
from a status change at the API to its record in the store (where its thread message is
queued; the Slack post follows at the channel's pace) for changes made within the window,
p50/p95, CPU seconds of the bot's process per minute, and peak RSS.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._fleet import ChildSimulator, Counted, NaivePoller, make_requests, submit  # noqa: E402
from bot.service import precise_utcnow  # noqa: E402
from bot.track.leadership import Leadership  # noqa: E402
from bot.track.poller import Poller, PollTuning  # noqa: E402
from bot.track.ticker import Ticker  # noqa: E402
from bot.zequenze.api import ZequenzeClient  # noqa: E402
from bot.zequenze.devices import DeviceBook  # noqa: E402
from store import Store  # noqa: E402
from tests.postgres import throwaway_server  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def latencies(store: Store, began: datetime, ended: datetime, run: dict[str, int]) -> list[float]:
    """Seconds from each change at the API inside the window to its record in the store."""
    with store.engine.read() as tx:
        rows = tx.rows(
            "SELECT o.api_id, o.scheduled_at, c.new_status, c.at FROM status_changes c "
            "JOIN operations o ON o.id = c.operation_id WHERE c.old_status IS NOT NULL"
        )
    out = []
    for row in rows:
        start = datetime.fromisoformat(row["scheduled_at"].replace("Z", "+00:00"))
        if row["new_status"] == "running":
            changed = start
        else:
            changed = start + timedelta(seconds=run[row["api_id"]])
        if began <= changed <= ended:
            out.append((datetime.fromisoformat(row["at"]) - changed).total_seconds())
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def measure(name: str, start, stop, store: Store, counted: Counted, args, run) -> dict:
    counted.reset()
    cpu0, began, t0 = cpu(), precise_utcnow(), time.monotonic()
    start()
    time.sleep(args.window)
    stop()
    seconds = time.monotonic() - t0
    ended = precise_utcnow()
    used = cpu() - cpu0
    lat = latencies(store, began, ended, run)
    per_min = counted.total() * 60 / seconds
    result = {
        "requests/min": per_min,
        "by id/min": counted.total("GET by id") * 60 / seconds,
        "pages/min": counted.total("GET page") * 60 / seconds,
        "changes seen": len(lat),
        "change-to-record p50 s": statistics.median(lat) if lat else float("nan"),
        "change-to-record p95 s": pct(lat, 0.95),
        "cpu s/min": used * 60 / seconds,
        "peak rss MB": rss_mb(),
    }
    for key, value in result.items():
        print(
            f"{name} {key}: {value:.2f}" if isinstance(value, float) else f"{name} {key}: {value}"
        )
    return result


def fleet_plan(args: argparse.Namespace, now: datetime) -> list[tuple[datetime, int]]:
    """(scheduled_at, run seconds) of each operation, in creation order: --running of them
    running a while already, the rest over the next 24 h."""
    rng = random.Random(1)
    plan = []
    for _ in range(args.running):
        started = rng.uniform(5, 300)  # running for a while already
        plan.append(
            (now - timedelta(seconds=started), int(started + rng.uniform(1, 2 * args.window)))
        )
    for _ in range(args.operations - args.running):
        plan.append((now + timedelta(seconds=rng.uniform(60, 86_400)), rng.randint(30, 600)))
    rng.shuffle(plan)
    return plan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--running", type=int, default=1_000)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--api-latency", type=float, default=0.02)
    parser.add_argument("--replicas", type=int, nargs="+", help="e.g. 1 2, on PostgreSQL")
    args = parser.parse_args(argv)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)

    now = precise_utcnow().replace(microsecond=0)
    plan = fleet_plan(args, now)
    if args.replicas:
        replicas_main(args, plan, now)
        return
    sim = ChildSimulator(runs=[r for _, r in plan], get_latency=args.api_latency)
    with tempfile.TemporaryDirectory(prefix="opsbot-fleet-") as tmp_name:
        tmp = Path(tmp_name)
        store = Store(path=tmp / "new.db")
        api = ZequenzeClient(base_url=sim.url, token=sim.token)
        t0 = time.monotonic()
        ids = make_requests(store, [t for t, _ in plan], now=now)
        submit(store, api, ids, now=now)
        run = {op.api_id: r for op, (_, r) in zip(store.operations_to_poll(), plan, strict=True)}
        print(f"operations: {args.operations} ({args.running} running)")
        print(f"interval s: {args.interval}")
        print(f"api latency s: {args.api_latency}")
        print(f"window s: {args.window} (figures scaled to a minute)")
        print(f"setup s: {time.monotonic() - t0:.1f}")
        print(f"rss after setup MB: {rss_mb():.0f}")
        store.backup(tmp / "naive.db")
        naive_store = Store(path=tmp / "naive.db")

        counted = Counted(api)
        poller = Poller(
            store=store,
            api=api,
            devices=DeviceBook(store=store, clock=precise_utcnow),
            clock=precise_utcnow,
            interval=args.interval,
        )
        ticker = Ticker(
            name="poller", interval=args.interval, job=poller.poll_once, pause=poller.pause
        )
        new = measure(
            "by need",
            ticker.start,
            lambda: (ticker.stop(), ticker.join(60)),
            store,
            counted,
            args,
            run,
        )
        print(f"by need listings: {poller.listings} ({poller.listing_requests} pages)")
        poller.close()

        naive = NaivePoller(
            store=naive_store, api=api, clock=precise_utcnow, interval=args.interval
        )
        base = measure("naive", naive.start, naive.stop, naive_store, counted, args, run)
        print(f"naive rounds: {naive.rounds}")
        # The rare look at each operation waiting for its time (no update_status) falls an
        # idle_look after its creation: none in a window right after creating them all, one
        # per operation per idle_look once they were created over time. Counted in here.
        waiting = args.operations - args.running
        idle = waiting * 60 / PollTuning().idle_look
        steady = new["requests/min"] + idle
        print(f"by need idle looks/min in steady state (not in the window): {idle:.0f}")
        print(f"by need requests/min in steady state: {steady:.0f}")
        theory = args.operations * 60 / args.interval
        print(f"naive requests/min in theory (every operation every interval): {theory:.0f}")
        ratio = base["requests/min"] / steady
        print(f"fewer requests than naive (measured, steady state): {ratio:.1f}x")
        print(f"fewer requests than naive (in theory, steady state): {theory / steady:.1f}x")
        api.close()
        store.close()
        naive_store.close()
    sim.stop()


def replicas_main(
    args: argparse.Namespace, plan: list[tuple[datetime, int]], now: datetime
) -> None:
    sim = ChildSimulator(runs=[r for _, r in plan], get_latency=args.api_latency)
    with throwaway_server() as server, server.database() as setup_url:
        store = Store(url=setup_url)
        api = ZequenzeClient(base_url=sim.url, token=sim.token)
        t0 = time.monotonic()
        ids = make_requests(store, [t for t, _ in plan], now=now)
        submit(store, api, ids, now=now)
        run = {op.api_id: r for op, (_, r) in zip(store.operations_to_poll(), plan, strict=True)}
        store.close()
        api.close()
        template = setup_url.rsplit("/", 1)[1]
        print(f"operations: {args.operations} ({args.running} running), on PostgreSQL")
        print(f"interval s: {args.interval}")
        print(f"window s: {args.window} (figures scaled to a minute)")
        print(f"setup s: {time.monotonic() - t0:.1f}")
        for count in args.replicas:
            with server.database(template=template) as url:
                poll_with_replicas(count, url, sim, args, run)
    sim.stop()


def poll_with_replicas(
    count: int, url: str, sim: ChildSimulator, args: argparse.Namespace, run: dict[str, int]
) -> None:
    """`count` replicas polling one database by need, as the runtime runs them (a Ticker
    whose rounds only the lease's holder runs), measured together."""
    stores = [Store(url=url) for _ in range(count)]
    apis = [ZequenzeClient(base_url=sim.url, token=sim.token) for _ in range(count)]
    counters = [Counted(api) for api in apis]
    leaderships, pollers, tickers = [], [], []
    for n, (store, api) in enumerate(zip(stores, apis, strict=True)):
        poller = Poller(
            store=store,
            api=api,
            devices=DeviceBook(store=store, clock=precise_utcnow),
            clock=precise_utcnow,
            interval=args.interval,
        )
        ticker = Ticker(
            name=f"poller-{n}", interval=args.interval, job=poller.poll_once, pause=poller.pause
        )
        leadership = Leadership(store=store, holder=f"replica-{n}", on_leading=ticker.wake)
        ticker.only_while(lambda leadership=leadership: leadership.leading)
        pollers.append(poller)
        tickers.append(ticker)
        leaderships.append(leadership)

    def start() -> None:
        for leadership, ticker in zip(leaderships, tickers, strict=True):
            leadership.start()
            ticker.start()

    def stop() -> None:
        for ticker in tickers:
            ticker.stop()
            ticker.join(60)
        for leadership in leaderships:
            leadership.stop()

    measure(f"{count} replica(s)", start, stop, stores[0], Together(counters), args, run)
    leading = sum(1 for poller in pollers if poller.listings)
    print(f"{count} replica(s) pollers that asked the API: {leading}")
    for poller, api, store in zip(pollers, apis, stores, strict=True):
        poller.close()
        api.close()
        store.close()


class Together:
    """The requests of several clients, counted as one."""

    def __init__(self, counters: list[Counted]) -> None:
        self._counters = counters

    def total(self, prefix: str = "") -> int:
        return sum(c.total(prefix) for c in self._counters)

    def reset(self) -> None:
        for counter in self._counters:
            counter.reset()


if __name__ == "__main__":
    main()
