"""Benchmark 4: fan-out across channels, 1,000 single-device requests in 10 channels that all
finish within a minute; today's delivery against the previous behaviour, in one run.

    python bench/fanout.py [--requests 1000] [--channels 10] [--speed 10] [--interval 15]
                           [--longest 55]

The simulator runs in a child process; each operation runs a random time between 2 s and
--longest s, so that all finish within a minute of their confirmation. The requests
(`reboot server-0001 now`, …) are proposed and confirmed through the service, as clicks do, in
channels taken in turn. The fake Slack enforces Slack's limits --speed times faster than Slack:
chat.postMessage per channel (--speed 10: ten a second, a burst of 3) and chat.update for the
workspace (50 a minute × --speed, a burst of 10), and the bot's own pacing is scaled by the same
factor (OPSBOT_CHANNEL_GAP 1 s / speed, the edit gap 60/45 s / speed), so that the run is Slack's
limits on a faster clock; the operations' own times are not scaled. --speed 1 is Slack's own
pace: about 380 posts per channel and over 1,000 edits at 45 a minute, over 20 minutes.

It prints how long the confirmations took, when every operation had ended (as the bot recorded
it), when every message had been delivered and every public message showed its last state, the
time to drain (from the last operation ended, as recorded, to the last thread reply and the
last edit Slack took, and what those messages would need at Slack's own pace), whether every
change was delivered (the thread replies Slack took against the changes the bot recorded;
nothing left waiting or given up), Slack calls by method, chat.update calls, 429s (the fake's,
posts and edits) and the most chat.update calls in any 60 s. The baseline is the previous
behaviour (the public message edited after every change, the first right after it is posted); a
request of one device is told every step in its thread in both.
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
    runs,
    slack_figures,
    start_runtime,
)
from bot.answers import Proposed  # noqa: E402
from bot.run.runtime import EDIT_GAP  # noqa: E402
from tests.fakes import FakeSlack  # noqa: E402
from tests.fakes.slack import SLACK_UPDATE_BURST, SLACK_UPDATE_RATE  # noqa: E402

USER = "U123"


def run(name: str, args: argparse.Namespace, tmp: Path) -> None:
    names = [f"server-{n:04d}" for n in range(1, args.requests + 1)]
    channels = [f"C{n:04d}" for n in range(1, args.channels + 1)]
    sim = ChildSimulator(
        inventory=names, failure_rate=0.0, runs=runs(len(names), 2.0, args.longest)
    )
    users = {USER: {"name": "alice", "tz": "UTC"}}
    with FakeSlack(
        users=users,
        post_rate=args.speed,
        update_rate=SLACK_UPDATE_RATE * args.speed,
        update_burst=SLACK_UPDATE_BURST,
    ) as slack:
        runtime = start_runtime(
            slack=slack,
            sim=sim,
            database=str(tmp / f"{name}.db"),
            channel_gap=1.0 / args.speed,
            edit_gap=EDIT_GAP / args.speed,
            poll_interval=args.interval,
            summary_gap=0.0 if name == "baseline" else 3.0,
        )
        try:
            with previous_behaviour(name == "baseline"):
                _measure(name, args, names, channels, runtime, slack)
        finally:
            runtime.stop(timeout=30)
            sim.stop()


def _measure(name, args, names, channels, runtime, slack) -> None:  # noqa: ANN001
    began = time.monotonic()
    for n, device in enumerate(names):
        answer = runtime.service.handle_text(
            f"reboot {device} now",
            requester=USER,
            tz="UTC",
            surface="command",
            channel=channels[n % len(channels)],
        )
        assert isinstance(answer, Proposed), answer
        runtime.service.confirm(answer.request.id, user=USER)
    confirmed = time.monotonic() - began
    print(f"{name} {len(names)} confirmations took s: {confirmed:.1f}")
    store = runtime.store
    ended = drained = None
    deadline = began + 900
    while time.monotonic() < deadline:
        with reading(store) as tx:
            finals = tx.value("SELECT count(*) FROM operations WHERE final = 1")
        if ended is None and finals == len(names):
            ended = time.monotonic() - began
        if ended is not None and pending(store)[0] == 0 and not store.stale_roots():
            drained = time.monotonic() - began
            break
        time.sleep(0.1)
    print(f"{name} every operation ended (recorded) after s: {ended:.1f}")
    print(f"{name} everything delivered and shown after s: {drained:.1f}")
    figures = slack_figures(slack, name, since=began)
    to_reply = figures["last_reply"] - began - ended
    to_edit = figures["last_edit"] - began - ended
    drain = max(to_reply, to_edit, 0.0)
    print(
        f"{name} time to drain s: {drain:.1f} (last thread reply {to_reply:+.1f}, last edit "
        f"{to_edit:+.1f} after the last operation ended)"
    )
    print(f"{name} chat.update calls: {figures['updates']}")
    # The operations' times are not scaled: at Slack's own pace the messages need at least
    # the busiest channel's posts at one a second and the edits at the bot's 45 a minute.
    busiest = max(figures["posts_by_channel"].values(), default=0)
    print(
        f"{name} at Slack's own pace, at least s: {busiest:.0f} for the busiest channel's "
        f"posts, {figures['updates'] * EDIT_GAP:.0f} for the edits (the run: x{args.speed:g})"
    )
    waiting, given_up = pending(store)
    with reading(store) as tx:
        changes = tx.value("SELECT count(*) FROM status_changes")
        told = tx.value(
            "SELECT count(*) FROM outbox WHERE kind IN ('submitted', 'status') "
            "AND delivered_at IS NOT NULL"
        )
    every = figures["replies"] == told == changes and not waiting and not given_up
    print(
        f"{name} every change delivered: {'yes' if every else 'NO'} ({changes} changes "
        f"recorded, {told} told, {figures['replies']} replies taken by Slack, "
        f"{waiting} waiting, {given_up} given up)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=15.0)
    parser.add_argument("--longest", type=float, default=55.0)
    args = parser.parse_args(argv)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    print(
        f"requests: {args.requests} in {args.channels} channels, Slack's pace x{args.speed:g}, "
        f"runs 2..{args.longest:g} s, poll interval {args.interval:g} s"
    )
    with tempfile.TemporaryDirectory(prefix="opsbot-fanout-") as tmp_name:
        for name in ("summary", "baseline"):
            run(name, args, Path(tmp_name))


if __name__ == "__main__":
    main()
