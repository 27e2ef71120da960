"""The outbox's CPU with messages waiting in one paced channel (issue 16): 10, 100 and 1,000.

    python bench/outbox.py [--waiting 10 100 1000] [--seconds 20] [--speed 1] [--devices 1]
                           [--baseline COMMIT | --no-baseline] [--repo PATH]

Each figure runs in its own process. It fills a store with `--waiting` public messages waiting
in one channel: half of them replies in the threads of requests already in public (their status
messages wait to be edited too), half the public messages of requests just confirmed, each a
request of `--devices` devices. It then runs the outbox as the bot runs it (its loop every
0.25 s or at the channel's next turn; the channel's pace and the workspace's edit budget) on
the fake Slack at Slack's own limits, `--speed` times faster (the fake's and the bot's pace
alike), and keeps the backlog where it was: each message posted is replaced by another of its
kind. After 2 s of warm-up it measures `--seconds`: the CPU the outbox's thread used
(`time.thread_time` around each pass and each pause question, which is all it does), per second
and per pass, and what it sent.

The baseline is the code before the outbox read by channel (`--baseline`, by default the commit
this work started from): `git archive` of it is unpacked into a temporary directory and run the
same way (its `bot/`, `store/` and `tests/fakes`). `--repo` measures another checkout instead of
this one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _moved import old_names_too  # bench/, beside this script
from _reading import reading  # bench/, beside this script: the baseline has none

HERE = Path(__file__).resolve().parent.parent
BEFORE = "359633497be2962c5e89726d03cc3b88fd06dc88"  # before the outbox read by channel
BUSY = "CBUSY"
WARM_UP = 2.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--repo", type=Path, default=HERE)
    parser.add_argument("--baseline", default=BEFORE, help="commit to compare with")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        repos = [("current", args.repo.resolve())]
        if not args.no_baseline:
            before = Path(tmp) / "before"
            before.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(HERE), "archive", args.baseline],
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
            repos.insert(0, ("baseline", before))
            print(f"baseline: {args.baseline}")
        print(f"current: {args.repo.resolve()}")
        print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}")
        figures: dict[tuple[str, int], float] = {}
        for waiting in args.waiting:
            for name, repo in repos:
                line = _run_child(args, repo, waiting)
                figures[(name, waiting)] = float(line["cpu ms/s"])
                print(
                    f"{name} {waiting} waiting: outbox cpu ms/s: {line['cpu ms/s']}, "
                    f"passes/s {line['passes/s']}, cpu ms/pass {line['cpu ms/pass']}, "
                    f"posted {line['posted']}, edited {line['edited']}, "
                    f"waiting at the end {line['waiting at the end']}"
                )
        for name, _ in repos:
            values = [figures[(name, w)] for w in args.waiting]
            print(f"{name} cpu ms/s largest/smallest backlog: {max(values) / min(values):.1f}x")
        print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}")


def _run_child(args: argparse.Namespace, repo: Path, waiting: int) -> dict[str, str]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--repo",
        str(repo),
        "--waiting",
        str(waiting),
        "--seconds",
        str(args.seconds),
        "--speed",
        str(args.speed),
        "--devices",
        str(args.devices),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=repo)
    if done.returncode:
        sys.exit(f"{repo} with {waiting} waiting failed:\n{done.stderr}")
    found = {}
    for line in done.stdout.splitlines():
        name, _, value = line.partition(": ")
        found[name] = value
    return found


def _child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(args.repo))
    old_names_too()  # a checkout from before issue 18's moves, too
    from datetime import UTC, datetime, timedelta

    from bot.model import OperationSpec
    from bot.run.runtime import EDIT_BURST, EDIT_GAP, OUTBOX_INTERVAL
    from bot.slack.notifier import SlackNotifier, web_client
    from bot.track.outbox import OutboxSender
    from bot.track.pacing import ChannelPacer
    from bot.track.ticker import Ticker
    from store import Store
    from tests.fakes import BOT_TOKEN, FakeSlack
    from tests.fakes.slack import SLACK_UPDATE_BURST, SLACK_UPDATE_RATE

    now = datetime.now(UTC)
    numbers = iter(range(10**9))

    def confirmed() -> str:
        n = next(numbers)
        devices = [f"web-{n:06d}-{d:02d}" for d in range(args.devices)]
        request = store.create_request(
            specs=[
                OperationSpec(
                    device_name=d, operation_type="reboot", scheduled_at=now, parameters={}
                )
                for d in devices
            ],
            requester="U123",
            surface="command",
            text=f"reboot {' '.join(devices)} now",
            tz="UTC",
            immediate=True,
            notes=(),
            channel=BUSY,
            thread_ts=None,
            response_url=None,
            now=now,
            expires_at=now + timedelta(minutes=10),
        )
        assert store.confirm(request.id, user="U123", now=now, run_at=None)
        return request.id

    def in_public() -> None:
        request_id = confirmed()
        (root,) = store.db.execute(
            "SELECT id FROM outbox WHERE request_id = ? AND kind = 'root'", [request_id]
        ).fetchone()
        assert store.root_posted(root, status_ts=f"{time.time():.6f}", now=now)
        (operation,) = store.db.execute(
            "SELECT id FROM operations WHERE request_id = ? ORDER BY seq LIMIT 1", [request_id]
        ).fetchone()
        # A failure is told in the thread whatever the request's size.
        announce = {"request_id": request_id, "kind": "status", "operation_id": operation}
        store.enqueue({**announce, "old": "running", "new": "failed"}, now=now)

    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeSlack(
            users={"U123": {"name": "alice", "tz": "UTC"}},
            post_rate=args.speed,
            update_rate=SLACK_UPDATE_RATE * args.speed,
            update_burst=SLACK_UPDATE_BURST,
        ) as slack,
    ):
        store = Store(path=Path(tmp) / "outbox.db")
        for n in range(args.waiting[0]):
            (in_public if n % 2 == 0 else confirmed)()
        outbox = OutboxSender(
            store=store,
            notifier=SlackNotifier(client=web_client(token=BOT_TOKEN, base_url=slack.api_url)),
            clock=lambda: datetime.now(UTC),
            pacer=ChannelPacer(gap=1.0 / args.speed),
            summary_gap=3.0 / args.speed,
            edits=ChannelPacer(gap=EDIT_GAP / args.speed, burst=EDIT_BURST),
        )
        used = {"cpu": 0.0, "passes": 0}

        def job() -> None:
            started = time.thread_time()
            try:
                outbox.deliver_pending()
            finally:
                used["cpu"] += time.thread_time() - started
                used["passes"] += 1

        def pause() -> float:
            started = time.thread_time()
            try:
                return outbox.next_turn()
            finally:
                used["cpu"] += time.thread_time() - started

        # The backlog stays as it was: each message posted is replaced by one of its kind.
        stop = threading.Event()

        def feed() -> None:
            seen = 0
            while not stop.wait(0.05):
                posts = slack.calls_to("chat.postMessage")
                for call in posts[seen:]:
                    if call.status == 200 and call.response.get("ok"):
                        (in_public if call.args.get("thread_ts") else confirmed)()
                seen = len(posts)

        feeder = threading.Thread(target=feed, daemon=True)
        ticker = Ticker(name="outbox", interval=OUTBOX_INTERVAL, job=job, pause=pause)
        feeder.start()
        ticker.start()
        time.sleep(WARM_UP)
        cpu, passes = used["cpu"], used["passes"]
        posts, edits = len(slack.calls_to("chat.postMessage")), len(slack.calls_to("chat.update"))
        time.sleep(args.seconds)
        cpu, passes = used["cpu"] - cpu, used["passes"] - passes
        posted = len(slack.calls_to("chat.postMessage")) - posts
        edited = len(slack.calls_to("chat.update")) - edits
        ticker.stop()
        ticker.join(30)
        stop.set()
        feeder.join(10)
        with reading(store) as tx:  # counted once the loops stopped
            left = tx.value(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND given_up_at IS NULL"
            )
        store.close()
    print(f"cpu ms/s: {cpu * 1000 / args.seconds:.1f}")
    print(f"passes/s: {passes / args.seconds:.1f}")
    print(f"cpu ms/pass: {cpu * 1000 / max(passes, 1):.2f}")
    print(f"posted: {posted}")
    print(f"edited: {edited}")
    print(f"waiting at the end: {left}")
    print(f"429s: {slack.rate_limited}")


if __name__ == "__main__":
    main()
