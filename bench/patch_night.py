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

By default the request goes `in waves of 100` (--waves 0: at once). A failed wave halts the
request; the script continues it as the requester would: once the halt is in the thread (a
person cannot click before), after --think seconds, it calls the service's Continue (as the
button does). It prints how many halts there were, the time spent halted (halt to Continue) and
the rest of Confirm to last POST (waves going). With waves, a run without them follows (the
same request at once; --no-waves-too 0 skips it and the baseline), and the baseline is measured
against that run, as before.
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

from bench._reading import reading  # noqa: E402
from bench._summary import (  # noqa: E402
    ChildSimulator,
    pending,
    previous_behaviour,
    slack_figures,
    start_runtime,
)
from bot.answers import Proposed  # noqa: E402
from bot.run.runtime import Runtime  # noqa: E402
from store import WAVE_HALTED  # noqa: E402
from tests.fakes import FakeSlack  # noqa: E402

CHANNEL = "C0PATCH"
USER = "U123"


def run(
    name: str, args: argparse.Namespace, tmp: Path, deadline: float | None, waves: int
) -> float:
    """One run; returns the seconds from Confirm until everything was said."""
    names = [f"server-{n:04d}" for n in range(1, args.devices + 1)]
    sim = ChildSimulator(
        inventory=names, failure_rate=args.failure_rate, runs=[args.run_seconds] * len(names)
    )
    typed = f"update {names[0]}..{names[-1]} with security-updates now"
    if waves:
        typed += f" in waves of {waves}"
    config = f"[limits]\nmax_devices = {args.devices}\n"
    with FakeSlack(users={USER: {"name": "alice", "tz": "UTC"}}) as slack:
        runtime = start_runtime(
            slack=slack,
            sim=sim,
            database=str(tmp / f"{name}.db"),
            channel_gap=1.0,
            poll_interval=args.interval,
            summary_gap=0.0 if name == "baseline" else 3.0,
            config=config,
        )
        try:
            with previous_behaviour(name == "baseline"):
                return _measure(name, args, typed, runtime, sim, slack, deadline, waves)
        finally:
            runtime.stop(timeout=30)
            sim.stop()


class Requester:
    """The person behind the request: a halt is continued once its message is in the thread
    (Slack took it), `think` seconds later, through the service as the Continue button does."""

    def __init__(self, runtime: Runtime, request_id: str, think: float) -> None:
        self._runtime, self._request_id, self._think = runtime, request_id, think
        self.halts: list[tuple[int, float, float, float]] = []  # wave, halted, said, continued
        self._halted: tuple[int, float] | None = None
        self._said: float | None = None

    def look(self) -> None:
        store = self._runtime.store
        with reading(store) as tx:
            row = tx.row("SELECT wave, wave_state FROM requests WHERE id = ?", [self._request_id])
        wave, state = row["wave"], row["wave_state"]
        now = time.monotonic()
        if state != "halted":
            return
        if self._halted is None or self._halted[0] != wave:
            self._halted, self._said = (wave, now), None
        if self._said is None:
            with reading(store) as tx:
                told = tx.value(
                    "SELECT count(*) FROM outbox WHERE request_id = ? AND kind = ? "
                    "AND delivered_at IS NOT NULL AND data LIKE ?",
                    [self._request_id, WAVE_HALTED, f'%"wave": {wave},%'],
                )
            if not told:
                return
            self._said = now
        if now - self._said < self._think:
            return
        outcome = self._runtime.service.halts.go_on(f"{self._request_id}:{wave}", user=USER)
        assert outcome.reason == "ok", outcome
        self.halts.append((wave, self._halted[1], self._said, time.monotonic()))
        self._halted = self._said = None

    def report(self, name: str, to_last: float, began: float) -> None:
        halted = sum(c - h for _, h, _, c in self.halts if c <= began + to_last)
        unsaid = sum(s - h for _, h, s, c in self.halts if c <= began + to_last)
        waves = ", ".join(f"{w} at {h - began:.1f} s" for w, h, _, _ in self.halts)
        print(f"{name} halts continued: {len(self.halts)} ({waves or 'none'})")
        print(
            f"{name} halted s: {halted:.1f} (of which the halt reaching the thread: "
            f"{unsaid:.1f}, the person's --think: {len(self.halts) * self._think:.1f})"
        )
        print(f"{name} sending (Confirm to last POST, less halted) s: {to_last - halted:.1f}")


def _measure(name, args, typed, runtime, sim, slack, deadline, waves) -> float:  # noqa: ANN001
    answer = runtime.service.handle_text(
        typed, requester=USER, tz="UTC", surface="command", channel=CHANNEL
    )
    if not isinstance(answer, Proposed):
        print(f"{name}: the request was refused: {getattr(answer, 'reason', answer)}")
        sys.exit(2)
    request_id = answer.request.id
    requester = Requester(runtime, request_id, args.think)
    began = time.monotonic()
    runtime.service.confirm(request_id, user=USER)
    while sim.stats()[0] < args.devices:
        if waves:
            requester.look()
        time.sleep(0.05)
    posts, _first, last = sim.stats()
    to_last = last - began
    print(f"{name} Confirm to last POST s: {to_last:.2f}")
    print(f"{name} POSTs/s: {posts / to_last:.0f}")
    if waves:
        requester.report(name, to_last, began)
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
    parser.add_argument("--waves", type=int, default=100, help="0: no waves")
    parser.add_argument("--think", type=float, default=0.0, help="s before Continue")
    parser.add_argument("--no-waves-too", type=int, default=1, help="0: waves only")
    args = parser.parse_args(argv)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    print(
        f"devices: {args.devices}, failing {args.failure_rate:g}, runs {args.run_seconds:g} s, "
        f"poll interval {args.interval:g} s, waves: {args.waves or 'none'}"
        + (f", Continue {args.think:g} s after a halt is in the thread" if args.waves else "")
    )
    with tempfile.TemporaryDirectory(prefix="opsbot-patch-night-") as tmp_name:
        tmp = Path(tmp_name)
        took = run("waves" if args.waves else "summary", args, tmp, None, waves=args.waves)
        if args.waves and not args.no_waves_too:
            return  # the baseline is measured against the request at once
        if args.waves:
            took = run("at-once", args, tmp, deadline=None, waves=0)
        run("baseline", args, tmp, deadline=took, waves=0)


if __name__ == "__main__":
    main()
