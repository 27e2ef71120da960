"""Benchmark 2: creation throughput, polling by need against the naive poller in one run.

    python bench/creation.py [--operations 1000] [--per-request 20] [--interval 15]
                             [--databases sqlite postgresql]

The simulator runs in a child process on the second core and answers at once; the bot's
process is pinned to the first core (one core, as the goal says). --operations are confirmed
as requests of --per-request, one after another as fast as the store takes them (clicks on
Confirm), each waking the sender as the runtime does; each sending round wakes the poller.
Measured from the first confirmation to the last operation recorded as submitted: POSTs per
second and the GETs the poller made meanwhile, first with the naive poller (a full round over
every operation not final on each wake, as before), then with polling by need; with
`--databases ... postgresql`, polling by need on a throwaway PostgreSQL too (started from the
machine's own binaries), as replicas run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._fleet import ChildSimulator, Counted, NaivePoller, make_requests  # noqa: E402
from bot.policy.desk import PolicyDesk  # noqa: E402
from bot.policy.gate import SendGate  # noqa: E402
from bot.policy.rules import Policy  # noqa: E402
from bot.service import precise_utcnow, utcnow  # noqa: E402
from bot.track.poller import Poller  # noqa: E402
from bot.track.sending import Sender  # noqa: E402
from bot.track.ticker import Ticker  # noqa: E402
from bot.track.tuning import DEFAULT_TUNING  # noqa: E402
from bot.zequenze.api import ZequenzeClient  # noqa: E402
from bot.zequenze.devices import DeviceBook  # noqa: E402
from store import Store  # noqa: E402
from tests.postgres import throwaway_server  # noqa: E402

DATABASES = ("sqlite", "postgresql")


def run(
    name: str, args: argparse.Namespace, sim: ChildSimulator, tmp: Path, url: str | None
) -> None:
    store = Store(url=url) if url else Store(path=tmp / f"{name}.db")
    api = ZequenzeClient(base_url=sim.url, token=sim.token)
    counted = Counted(api)
    if name.startswith("naive"):
        naive = NaivePoller(store=store, api=api, clock=utcnow, interval=args.interval)
        wake, start, stop = naive.wake, naive.start, naive.stop
    else:
        poller = Poller(
            store=store,
            api=api,
            devices=DeviceBook(store=store, clock=utcnow),
            clock=precise_utcnow,
            interval=args.interval,
        )
        ticker = Ticker(
            name="poller", interval=args.interval, job=poller.poll_once, pause=poller.pause
        )
        wake, start = ticker.wake, ticker.start

        def stop() -> None:
            ticker.stop()
            ticker.join(60)
            poller.close()

    # The open policy's gate, as a bot without a policy file has: every send is judged.
    policy = Policy()
    desk = PolicyDesk(store=store, policy=policy, look=api, clock=utcnow)
    sender = Sender(
        store=store,
        api=api,
        devices=DeviceBook(store=store, clock=utcnow),
        clock=utcnow,
        tuning=DEFAULT_TUNING,
        gate=SendGate(store=store, policy=policy, desk=desk, clock=utcnow),
        on_submitted=wake,
    )
    sending = Ticker(name="sending", interval=1.0, job=sender.submit_pending)
    start()
    sending.start()
    time.sleep(0.2)
    counted.reset()
    began = time.monotonic()
    at = utcnow() + timedelta(minutes=5)
    for _ in range(0, args.operations, args.per_request):
        make_requests(store, [at] * args.per_request, now=utcnow(), sendable=True)
        sending.wake()
    while counted.total("POST") < args.operations or store.operations_in_state("sending"):
        time.sleep(0.01)
    seconds = time.monotonic() - began
    posts, gets = counted.total("POST"), counted.total("GET")
    sending.stop()
    sending.join(30)
    stop()
    sender.close()
    api.close()
    store.close()
    print(f"{name} seconds: {seconds:.2f}")
    print(f"{name} POSTs/s: {posts / seconds:.0f}")
    print(f"{name} GETs meanwhile: {gets}")
    print(f"{name} GETs per POST: {gets / posts:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=1000)
    parser.add_argument("--per-request", type=int, default=20)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--databases", nargs="+", default=["sqlite"], choices=DATABASES)
    args = parser.parse_args(argv)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    sim = ChildSimulator()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:
        os.sched_setaffinity(sim.pid, {cores[1]})
    os.sched_setaffinity(0, {cores[0]})
    print(f"operations: {args.operations} in requests of {args.per_request}")
    print(f"bot process on core {cores[0]}, simulator on {cores[-1]}")
    try:
        with contextlib.ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="opsbot-creation-")))
            if "sqlite" in args.databases:
                run("naive", args, sim, tmp, None)
                run("by need", args, sim, tmp, None)
            if "postgresql" in args.databases:
                server = stack.enter_context(throwaway_server())
                with server.database() as url:
                    run("by need on postgresql", args, sim, tmp, url)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
