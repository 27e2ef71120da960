"""How long a stop (SIGTERM) takes with thousands of operations queued behind a slow API, and
whether a restart then sends each exactly once (issue 16).

    python bench/stop.py [--operations 3000] [--api-latency 2.0] [--under-way 5]
                         [--cap 90] [--baseline REV] [--repo PATH]

The bot runs as a real process (`python -m bot run`, HTTP mode, as tests/test_crash.py runs
it); the fake Slack and the API simulator run in this process, on 127.0.0.1. One request of
`--operations` devices (`reboot server-0001..server-3000 now`, under `[limits] max_devices`)
is proposed and confirmed with signed Slack requests; the simulator then takes
`--api-latency` s over every call. `--under-way` s after the first POST is answered the bot is
sent SIGTERM, and the time to its exit is taken (a process still running after `--cap` s is
killed, and said so). The bot is then started again on the same file with the API answering at
once, until every operation is sent (or adopted from the API's list), and stopped.

It prints, for each code: the stop's time, the POSTs begun after the signal, the operations'
states at the exit, whether the bot said it stopped without flushing or closing, and after the
restart how long the rest took, and how many devices the API holds twice or not at all.

`--baseline REV` runs the same first, on that commit of this repository (`git archive REV`
into a temporary folder, run with this venv): the baseline beside today's figures in one
invocation. `--repo PATH` runs another checkout instead of this one.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.zequenze.simulator.endpoint import Simulator  # noqa: E402
from bot.zequenze.simulator.faults import Fault  # noqa: E402
from tests.conftest import POST_RATE, UPDATE_RATE, eventually  # noqa: E402
from tests.fakes import FakeSlack  # noqa: E402
from tests.processes import BotProcess  # noqa: E402
from tests.test_crash import bot_process, click  # noqa: E402

FINAL_AT_RESTART = {"submitted", "rejected"}


def states(db: Path) -> Counter[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return Counter(state for (state,) in conn.execute("SELECT state FROM operations"))


def undelivered(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone()
        return count


def posts_begun(sim: Simulator) -> int:
    return sum(method == "POST" for method, _ in list(sim.requests))


def propose(bot: BotProcess, slack: FakeSlack, typed: str) -> str:
    """`/ops TYPED`; the request id from its Confirm button (a long request takes a while)."""
    bot.command(typed, key="cmd")
    calls = slack.wait_for(
        lambda cs: any(c.method == "response_url" and c.args.get("_key") == "cmd" for c in cs),
        timeout=120,
    )
    answer = next(c.args for c in calls if c.method == "response_url")
    return next(
        e["value"]
        for b in answer.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "ops_confirm"
    )


def run(name: str, code: Path, args: argparse.Namespace) -> None:
    names = [f"server-{n:04d}" for n in range(1, args.operations + 1)]
    with (
        # The simulator prints each answer a killed bot no longer reads (a broken pipe).
        open(os.devnull, "w") as quiet,
        contextlib.redirect_stderr(quiet),
        tempfile.TemporaryDirectory(prefix="opsbot-stop-") as tmp,
        Simulator(inventory=names, run_seconds=30) as sim,
        FakeSlack(
            users={"U123": {"name": "alice", "tz": "UTC"}},
            post_rate=POST_RATE,
            update_rate=UPDATE_RATE,
        ) as slack,
    ):
        config = Path(tmp) / "policy.toml"
        config.write_text(f"[limits]\nmax_devices = {args.operations}\n")
        env = {"OPSBOT_CONFIG": str(config)}
        db = Path(tmp) / "stop.db"
        bot = bot_process(slack, sim, db, repo=code)
        bot.start(env=env)
        process = bot.process
        assert process is not None
        try:
            request_id = propose(bot, slack, f"reboot {names[0]}..{names[-1]} now")
            sim.faults.add(Fault(kind="latency", seconds=args.api_latency, times=None))
            click(bot, request_id, "click")
            eventually(lambda: sim.post_count >= 1, timeout=120, what="the first POST answered")
            time.sleep(args.under_way)  # the sender under way, as it is when a stop comes

            begun = posts_begun(sim)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=args.cap)
                took = f"{time.monotonic() - started:.2f}"
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                took = f"> {args.cap:.0f} (still running: killed)"
            print(f"{name} stop s: {took}")
            output = bot.output()
            print(f"{name} POSTs begun after SIGTERM: {posts_begun(sim) - begun}")
            left = ", ".join(f"{k} {v}" for k, v in sorted(states(db).items()))
            print(f"{name} states at the exit: {left}")
            print(f"{name} messages not delivered at the exit: {undelivered(db)}")
            unflushed = "without flushing or closing" in output
            print(f"{name} said it stopped without flushing or closing: {unflushed}")

            sim.faults.clear()
            restarted = time.monotonic()
            bot.start(env=env)
            eventually(
                lambda: set(states(db)) <= FINAL_AT_RESTART,
                timeout=600,
                what="every operation sent after the restart",
            )
            print(f"{name} restart: the rest sent after s: {time.monotonic() - restarted:.2f}")
            held = Counter(op["device_name"] for op in sim.operations())
            print(f"{name} devices the API holds twice: {sum(n > 1 for n in held.values())}")
            print(f"{name} devices the API never got: {len(set(names) - set(held))}")
            print(f"{name} POSTs in all: {sim.post_count} for {args.operations} operations")
            bot.stop()
        finally:
            bot.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=3000)
    parser.add_argument("--api-latency", type=float, default=2.0)
    parser.add_argument("--under-way", type=float, default=5.0)
    parser.add_argument("--cap", type=float, default=90.0)
    parser.add_argument("--baseline", metavar="REV")
    parser.add_argument("--repo", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    with open("/proc/loadavg") as load:
        print(f"load average: {load.read().split()[:3]}")
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="opsbot-baseline-") as before:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.baseline],
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", before], input=archive, check=True)
            run(f"baseline ({args.baseline})", Path(before), args)
    run("now", args.repo.resolve(), args)


if __name__ == "__main__":
    main()
