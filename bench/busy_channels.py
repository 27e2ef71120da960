"""Single-device requests in busy channels: how fast they reach the API, end to end (issue 16).

    python bench/busy_channels.py [--requests 300] [--channels 30] [--refusing 3]
                                  [--baseline COMMIT] [--no-baseline] [--repo PATH]

A request's operations wait until Slack has answered whether the bot may post in its channel,
so that a definite refusal (not_in_channel, ...) stops it before anything is sent. Public
messages in one channel go at most one a second. This runs --requests one-device requests
(`reboot server-0001 now`, ...) in --channels channels taken in turn, beside --refusing more
channels (as many requests each) where the fake Slack answers every post `not_in_channel`.

The fake Slack has Slack's own limits (chat.postMessage one a second per channel, a burst of
3; chat.update 50 a minute) and the bot paces itself as in production (channel gap 1 s, a
burst of 2). The simulator answers at once, in a child process. Every request is proposed
first, through the service (not timed); then the clock starts and all are confirmed through
the service, one after another as clicks do. It prints how long the confirmations took, when
the last operation reached the API, POSTs per second from the first confirmation to the last
POST, each request's wait from its confirmation to its POST (p50/p95/max), how many public
messages Slack had taken by the last POST, 429s, and for the refusing channels the requests
stopped and the operations sent (0 is the goal).

Each configuration runs in its own process: the code at --baseline (default: the commit this
change started from; `git archive` into a temporary directory) first, then this checkout (or
--repo), then this checkout with no wait at all (the root wait 0: what the wait costs, and
what it is for, as the refusing channels' operations then go too). --no-baseline leaves out
the first.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from _moved import old_names_too  # bench/, beside this script
from _reading import reading  # bench/, beside this script: the baseline has none

HERE = Path(__file__).resolve().parent.parent
BASELINE = "3596334"  # before a post in the channel answered for the requests confirmed there
USER = "U123"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--channels", type=int, default=30)
    parser.add_argument("--refusing", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--repo", type=Path, default=HERE)
    parser.add_argument("--name", default="")
    parser.add_argument("--root-wait", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    print(
        f"requests: {args.requests} in {args.channels} channels, and "
        f"{args.refusing * (args.requests // args.channels)} more in {args.refusing} channels "
        "that refuse the bot"
    )
    common = [
        f"--requests={args.requests}",
        f"--channels={args.channels}",
        f"--refusing={args.refusing}",
    ]
    with tempfile.TemporaryDirectory(prefix="opsbot-busy-") as tmp:
        runs: list[tuple[str, Path]] = []
        if not args.no_baseline:
            before = Path(tmp) / "baseline"
            before.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(HERE), "archive", args.baseline],
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
            runs.append((f"baseline ({args.baseline})", before))
        runs.append(("now", args.repo.resolve()))
        for name, repo in runs:
            subprocess.run(
                [sys.executable, __file__, "--child", f"--repo={repo}", f"--name={name}", *common],
                check=True,
                cwd=HERE,
            )
        # What the wait costs, and what it is for: nothing waits for Slack's answer (the root
        # wait 0), so the refusing channels' operations go too.
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                f"--repo={args.repo.resolve()}",
                "--name=no wait",
                "--root-wait=0",
                *common,
            ],
            check=True,
            cwd=HERE,
        )


# --- one configuration, in its own process ---------------------------------------------------


def _serve(conn: Any, repo: str, inventory: list[str]) -> None:
    sys.path.insert(0, repo)
    old_names_too()  # a checkout from before issue 18's moves, too
    from bot.zequenze.simulator.endpoint import Simulator

    class Timed(Simulator):
        """Keeps the moment each device's operation was created (time.monotonic is one
        clock for every process on Linux)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.created: dict[str, float] = {}

        def _create(self, body: bytes) -> Any:
            answer = super()._create(body)
            if answer.status == 201:
                self.created[answer.payload["device_name"]] = time.monotonic()
            return answer

    # Each operation runs a minute: the bench is about sending, not the thread's story.
    with Timed(inventory=inventory, run_seconds=60.0, seed=7) as sim:
        conn.send((sim.url, sim.token))
        while conn.recv() == "created":
            conn.send(dict(sim.created))


def child(args: argparse.Namespace) -> None:
    # The refusals are logged as warnings, one a channel and stop: not the figures.
    logging.getLogger("bot").setLevel(logging.ERROR)
    repo = str(args.repo)
    sys.path.insert(0, repo)
    old_names_too()  # a checkout from before issue 18's moves, too
    from bot.answers import Proposed
    from bot.policy.config import OPEN_POLICY
    from bot.run.runtime import Runtime
    from bot.slack.notifier import SlackNotifier, web_client
    from bot.track.poller import PollTuning
    from bot.track.tuning import Tuning
    from tests.fakes import BOT_TOKEN, FakeSlack

    name = args.name
    per_channel = args.requests // args.channels
    accepting = [f"C{n:03d}" for n in range(1, args.channels + 1)]
    refusing = [f"CNOT{n:02d}" for n in range(1, args.refusing + 1)]
    channels = accepting + refusing
    plan = [
        (f"server-{len(channels) * i + c + 1:04d}", channel)
        for i in range(per_channel)
        for c, channel in enumerate(channels)
    ]
    ctx = multiprocessing.get_context("fork")
    conn, child_end = ctx.Pipe()
    sim = ctx.Process(target=_serve, args=(child_end, repo, [d for d, _ in plan]))
    sim.start()
    url, token = conn.recv()
    tmp = tempfile.TemporaryDirectory(prefix="opsbot-busy-child-")
    with FakeSlack(users={USER: {"name": "alice", "tz": "UTC"}}) as slack:
        for channel in refusing:
            slack.fail("chat.postMessage", error="not_in_channel", times=None, channel=channel)
        # A --baseline checkout from before Runtime took `database` names it `db_path`.
        named = "database" if "database" in inspect.signature(Runtime).parameters else "db_path"
        runtime = Runtime(
            **{named: str(Path(tmp.name) / "opsbot.db")},
            api_url=url,
            api_token=token,
            poll_interval=15.0,
            notifier=SlackNotifier(client=web_client(token=BOT_TOKEN, base_url=slack.api_url)),
            channel_gap=1.0,
            tuning=Tuning()
            if args.root_wait is None
            else Tuning(root_wait=timedelta(seconds=args.root_wait)),
            poll_tuning=PollTuning(),
            config=OPEN_POLICY,
        ).start()
        try:
            ids = []
            for device, channel in plan:
                answer = runtime.service.handle_text(
                    f"reboot {device} now",
                    requester=USER,
                    tz="UTC",
                    surface="command",
                    channel=channel,
                )
                assert isinstance(answer, Proposed), answer
                ids.append(answer.request.id)
            wanted = {d for d, c in plan if c in accepting}
            began = time.monotonic()
            confirmed_at: dict[str, float] = {}
            for (device, _), request_id in zip(plan, ids, strict=True):
                runtime.service.confirm(request_id, user=USER)
                confirmed_at[device] = time.monotonic()
            confirming = time.monotonic() - began
            stopped = _wait(runtime, conn, wanted, refusing, began)
            created: dict[str, float] = _created(conn)
        finally:
            runtime.stop(timeout=30)
        conn.send("stop")
        sim.join(10)
    tmp.cleanup()
    sent = [d for d in created if d in wanted]
    last = max((created[d] for d in sent), default=began) - began
    waits = sorted(created[d] - confirmed_at[d] for d in sent)
    roots = [
        c
        for c in slack.calls_to("chat.postMessage")
        if not c.args.get("thread_ts") and c.status == 200 and c.response.get("ok")
    ]
    roots_by_last = sum(1 for c in roots if c.at <= began + last)
    wrong = [d for d, c in plan if c in refusing and d in created]
    print(f"{name} confirmations took s: {confirming:.2f}")
    print(f"{name} operations at the API: {len(sent)} of {len(wanted)}")
    print(f"{name} last POST after s: {last:.2f}")
    print(f"{name} POSTs/s end to end: {len(sent) / last:.0f}")
    if waits:
        p95 = waits[min(len(waits) - 1, int(len(waits) * 0.95))]
        print(
            f"{name} confirmation to POST p50/p95/max s: {statistics.median(waits):.2f} / "
            f"{p95:.2f} / {waits[-1]:.2f}"
        )
    print(f"{name} public messages Slack took by the last POST: {roots_by_last}")
    print(f"{name} 429s: {slack.rate_limited}")
    print(
        f"{name} refusing channels: {stopped} of {len(plan) - len(wanted)} requests stopped, "
        f"{len(wrong)} operations sent"
    )


def _wait(runtime: Any, conn: Any, wanted: set[str], refusing: list[str], began: float) -> int:
    """Until every operation of the accepting channels reached the API and every one of the
    refusing channels was stopped or sent (or 300 s); returns how many were stopped."""
    marks = ",".join("?" * len(refusing))
    store = runtime.store
    count = (
        "SELECT count(*), sum(o.state = 'rejected') FROM operations o "
        f"JOIN requests r ON r.id = o.request_id WHERE r.channel IN ({marks})"
    )
    with reading(store) as tx:
        total = tx.value(count, refusing)
    stopped = 0
    while time.monotonic() - began < 300:
        with reading(store) as tx:
            settled = tx.value(f"{count} AND o.state IN ('rejected', 'submitted')", refusing)
            stopped = tx.value(f"{count} AND o.state = 'rejected'", refusing)
        if settled == total and wanted <= set(_created(conn)):
            break
        time.sleep(0.05)
    return stopped or 0


def _created(conn: Any) -> dict[str, float]:
    conn.send("created")
    return conn.recv()


if __name__ == "__main__":
    main()
