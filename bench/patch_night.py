"""Benchmark 3: patch night, one request for 2,000 devices, the live summary against the
per-operation replies of before, in one run.

    python bench/patch_night.py [--devices 2000] [--failure-rate 0.002] [--run-seconds 10]
                                [--interval 15] [--waves N]

The simulator runs in a child process with the devices `server-0001…` in its inventory, failing
--failure-rate of the operations (1 in 500); each runs --run-seconds once started. The fake
Slack enforces Slack's own limit: one chat.postMessage per second per channel with a burst of 3,
answering 429 beyond it; the bot paces itself as in production (OPSBOT_CHANNEL_GAP 1 s, the
summary edited at most every 3 s). `update server-0001..server-2000 with security-updates now`
is proposed and confirmed through the service (as a click does), under a policy file with
`[limits] max_devices` raised to --devices. It prints the time from Confirm to the last POST,
POSTs per second, Slack calls in all by method, thread replies, 429s, the most chat.update calls
in any 60 s, and when the end was in the thread and on the public message.

The baseline runs the same request right after, with the previous behaviour (a thread reply per
status change of every operation, the public message edited after every change): it is given
as long as the summary run took to say everything (and until its operations have all ended),
and what it has posted by then and what still waits are printed, with the time Slack's one
message a second needs for the rest.

--waves N adds `in waves of N` to the request, once the grammar takes it; until then the
request is refused and the script says so.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._summary import (  # noqa: E402
    ChildSimulator,
    pending,
    previous_behaviour,
    slack_figures,
    start_runtime,
)
from bot.answers import Proposed  # noqa: E402
from tests.fakes import FakeSlack  # noqa: E402

CHANNEL = "C0PATCH"
USER = "U123"


def run(name: str, args: argparse.Namespace, tmp: Path, deadline: float | None) -> float:
    """One run; returns the seconds from Confirm until everything was said."""
    names = [f"server-{n:04d}" for n in range(1, args.devices + 1)]
    sim = ChildSimulator(
        inventory=names, failure_rate=args.failure_rate, runs=[args.run_seconds] * len(names)
    )
    typed = f"update {names[0]}..{names[-1]} with security-updates now"
    if args.waves:
        typed += f" in waves of {args.waves}"
    config = f"[limits]\nmax_devices = {args.devices}\n"
    with FakeSlack(users={USER: {"name": "alice", "tz": "UTC"}}) as slack:
        runtime = start_runtime(
            slack=slack,
            sim=sim,
            db_path=str(tmp / f"{name}.db"),
            channel_gap=1.0,
            poll_interval=args.interval,
            summary_gap=0.0 if name == "baseline" else 3.0,
            config=config,
        )
        try:
            with previous_behaviour(name == "baseline"):
                return _measure(name, args, typed, runtime, sim, slack, deadline)
        finally:
            runtime.stop(timeout=30)
            sim.stop()


def _measure(name, args, typed, runtime, sim, slack, deadline) -> float:  # noqa: ANN001
    answer = runtime.service.handle_text(
        typed, requester=USER, tz="UTC", surface="command", channel=CHANNEL
    )
    if not isinstance(answer, Proposed):
        print(f"{name}: the request was refused: {getattr(answer, 'reason', answer)}")
        if args.waves:
            print("waves: not available yet (the grammar does not take `in waves of`)")
        sys.exit(2)
    request_id = answer.request.id
    began = time.monotonic()
    runtime.service.confirm(request_id, user=USER)
    while sim.stats()[0] < args.devices:
        time.sleep(0.05)
    posts, _first, last = sim.stats()
    to_last = last - began
    print(f"{name} Confirm to last POST s: {to_last:.2f}")
    print(f"{name} POSTs/s: {posts / to_last:.0f}")
    store = runtime.store
    limit = began + (deadline if deadline is not None else 600.0)
    end_told = end_shown = None
    while True:
        request = store.get_request(request_id)
        ended = request is not None and all(op.settled for op in request.operations)
        if time.monotonic() > limit and (ended or deadline is None):
            break  # the baseline is stopped once its operations ended too
        if ended and end_told is None and pending(store)[0] == 0:
            end_told = time.monotonic() - began
        if end_told is not None and not store.stale_roots():
            end_shown = time.monotonic() - began
            break
        time.sleep(0.2)
    took = time.monotonic() - began
    request = store.get_request(request_id)
    assert request is not None
    failed = sum(1 for op in request.operations if op.settled and op.status != "completed")
    print(f"{name} operations failed: {failed}")
    if end_told is not None:
        print(f"{name} Confirm to everything said in the thread s: {end_told:.1f}")
    if end_shown is not None:
        print(f"{name} Confirm to the end on the public message s: {end_shown:.1f}")
    slack_figures(slack, name, since=began)
    waiting, given_up = pending(store)
    if waiting or end_shown is None:
        print(f"{name} stopped after s: {took:.1f} (the summary run's time, all ended)")
        print(f"{name} messages still waiting: {waiting} (given up: {given_up})")
        print(f"{name} needed for them at one a second, s: {waiting:.0f}")
    else:
        print(f"{name} messages given up: {given_up}")
    return took


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--failure-rate", type=float, default=0.002)
    parser.add_argument("--run-seconds", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--waves", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    print(
        f"devices: {args.devices}, failing {args.failure_rate:g}, runs {args.run_seconds:g} s, "
        f"poll interval {args.interval:g} s, waves: {args.waves or 'none'}"
    )
    with tempfile.TemporaryDirectory(prefix="opsbot-patch-night-") as tmp_name:
        took = run("summary", args, Path(tmp_name), deadline=None)
        run("baseline", args, Path(tmp_name), deadline=took)


if __name__ == "__main__":
    main()
