"""How long a Confirm click takes to be answered when the API is slow.

    python bench/confirm.py [--devices 10] [--api-latency 1.0] [--rounds 3] [--repo PATH]

Everything runs on 127.0.0.1, assembled as the tests assemble it (tests.conftest.start_bot:
Bolt on waitress, the fake Slack Web API, the API simulator, a SQLite file). Each round
proposes `reboot <--devices devices> now`, makes the simulator take --api-latency seconds over
each create call, clicks Confirm and times two things: the click's answer ("✅ Confirmed", on
the click's response_url) and the moment every operation has reached the API.

--repo runs the same rounds against another checkout of opsbot (its bot/ and tests/ are
imported instead of this one's): `git worktree add /tmp/before 4644c74` then
`python bench/confirm.py --repo /tmp/before` gives the baseline beside today's figures.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _moved import old_names_too  # bench/, beside this script


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--api-latency", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.repo.resolve()))
    old_names_too()  # a checkout from before issue 18's moves, too

    from bot.zequenze.simulator.endpoint import Simulator
    from bot.zequenze.simulator.faults import Fault
    from tests.conftest import eventually, start_bot, stop_bot
    from tests.fakes import FakeSlack

    def confirm_value(answer: dict) -> str:
        return next(
            e["value"]
            for b in answer["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "ops_confirm"
        )

    devices = ", ".join(f"server-{n:02d}" for n in range(1, args.devices + 1))
    answered: list[float] = []
    sent: list[float] = []
    print(f"repo: {args.repo.resolve()}")
    for number in range(1, args.rounds + 1):
        with (
            tempfile.TemporaryDirectory() as tmp,
            Simulator(run_seconds=60) as simulator,
            FakeSlack(users={"U123": {"name": "alice", "tz": "UTC"}}) as slack,
        ):
            # A --repo checkout from before start_bot took `database` names it `db_path`.
            keywords = inspect.signature(start_bot).parameters
            named = "database" if "database" in keywords else "db_path"
            bot = start_bot(slack=slack, simulator=simulator, **{named: Path(tmp) / "b.db"})
            try:
                request_id = confirm_value(bot.wait_response(bot.command(f"reboot {devices} now")))
                simulator.faults.add(
                    Fault(method="POST", kind="latency", seconds=args.api_latency, times=None)
                )
                started = time.monotonic()
                _, key = bot.click("ops_confirm", request_id)
                patience = args.devices * args.api_latency + 30
                eventually(lambda b=bot, k=key: b.responses(k), timeout=patience, what="the answer")
                answered.append(time.monotonic() - started)
                eventually(
                    lambda s=simulator: s.post_count == args.devices,
                    timeout=patience,
                    what="every operation to reach the API",
                )
                sent.append(time.monotonic() - started)
            finally:
                stop_bot(bot)
        print(f"round {number} click answered after ms: {answered[-1] * 1000:.0f}")
        print(f"round {number} all {args.devices} at the API after s: {sent[-1]:.2f}")
    print(f"click answered p50 ms: {statistics.median(answered) * 1000:.0f}")
    print(f"click answered max ms: {max(answered) * 1000:.0f}")
    print(f"all at the API p50 s: {statistics.median(sent):.2f}")


if __name__ == "__main__":
    main()
