"""How fast HTTP mode acknowledges clicks and slash commands when many arrive at once.

    python bench/ack_latency.py [--baseline PATH] [--runs 3] [--scenarios ...]
                                [--devices 20] [--api-latency 2.0] [--set KEY=VALUE ...]

Three processes, as in production: the bot is `opsbot run` (HTTP mode, its settings from the
environment) in its own process; the fake Slack Web API and the Zequenze API simulator in a
second; the load generator, this script, in the third. The generator sends every request of a
burst at the same moment from one thread (tests/fakes/burst.py: a non-blocking socket each),
so the figures are the bot's time, not the sender's.

Scenarios (each on a freshly started bot with its own database):

- idle: proposes 10 requests of --devices devices, waits until the bot is idle, then clicks
  Confirm on each, one at a time, the bot idle before each click.
- clicks-N: proposes N requests of --devices devices, each by its own person in its own
  channel (untimed, the API answering at once), waits until the bot is idle, slows the API to
  --api-latency, fires the N Confirm clicks at once; times each HTTP acknowledgement and the
  moment every click was answered "Confirmed" through its response_url.
- commands-N: slows the API, fires N `/ops` commands at once (half `list`, half `reboot
  server-01 now`); times each acknowledgement and the moment every command was answered.

--deployments runs every scenario on each way of running the bot, side by side: `sqlite` (one
process on its SQLite file, the default), `postgresql` (one process on a throwaway PostgreSQL
started from the machine's own binaries), `postgresql-2` (two replicas on one database, the
generator sending each request to them in turn, as a load balancer does).

--baseline PATH runs every scenario against the checkout at PATH too (its `bot/`, `handlers/`
and `store/`; e.g. `git archive <commit> | tar -x -C /tmp/before`), alternating with this
checkout run by run, so that both see the same machine. Each figure is then printed as
min / median / max over --runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._fakes import Fakes  # noqa: E402
from tests.fakes import (  # noqa: E402
    block_actions_body,
    slash_command_body,
)
from tests.fakes.burst import Answer, burst, signed_request  # noqa: E402
from tests.postgres import PostgresServer, throwaway_server  # noqa: E402
from tests.processes import BotProcess  # noqa: E402

SECRET = "bench-signing-secret"
SLACK_ACK_LIMIT = 3.0  # seconds Slack waits for the HTTP answer before showing an error
ANSWER_DEADLINE = 60.0  # seconds a burst waits for every response_url answer
REQUEST_TIMEOUT = 10.0
COMMANDS = ("list", "reboot server-01 now")
CLICKERS = 1000  # people U1000…, one per proposed request, each in their own channel C1000…
PROPOSE_AT_ONCE = 10  # proposals sent together before a click burst (untimed)
IDLE_CLICKS = 10
DEFAULT_SCENARIOS = ("idle", "clicks-100", "clicks-200", "commands-100", "commands-200")
# The bot is idle once its process uses less than this much CPU over QUIET_WINDOW seconds.
QUIET_CPU = 0.015
QUIET_WINDOW = 0.5
QUIET_DEADLINE = 30.0
QUEUE_DEPTH = re.compile(r"Task queue depth is (\d+)")
CONNECTION_LIMIT = "reached the connection limit"


# ----------------------------------------------------------------------------- the fakes


def clickers_fakes(people: int) -> Fakes:
    """The fakes for `people` clickers: Slack without rate limits (the acknowledgements are
    measured, not the outbox), the simulator's operations running 0.4 s."""
    users = {"U123": {"name": "alice", "tz": "America/Los_Angeles"}}
    users |= {f"U{CLICKERS + n}": {"name": f"user{n}", "tz": "UTC"} for n in range(people)}
    return Fakes(users=users)


# ------------------------------------------------------------------------------- the bot


def wait_idle(bot: BotProcess) -> bool:
    deadline = time.monotonic() + QUIET_DEADLINE
    quiet = 0
    while time.monotonic() < deadline:
        before = bot.cpu()
        time.sleep(QUIET_WINDOW)
        quiet = quiet + 1 if bot.cpu() - before < QUIET_CPU else 0
        if quiet >= 2:
            return True
    return False


class Deployment:
    """The bot as deployed: one process, or several replicas on one database. The generator
    sends each request of a burst to the replicas in turn, as a load balancer would."""

    def __init__(self, replicas: list[BotProcess]) -> None:
        self.replicas = replicas
        self.urls = [r.url for r in replicas]
        self.url = self.urls[0]  # what a request is signed for (every replica's path)

    def cpu(self) -> float:
        return sum(r.cpu() for r in self.replicas)

    def wait_idle(self) -> bool:
        return all(wait_idle(r) for r in self.replicas)

    def log_text(self) -> str:
        return "".join(r.output() for r in self.replicas)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL: a bot with thousands of operations still to send may take
        a minute to stop, and its database is thrown away."""
        for replica in self.replicas:
            replica.close(grace=5.0)


@dataclass(frozen=True)
class Setup:
    """What a scenario runs on: a checkout, its database, and how many replicas."""

    repo: Path
    database: str = "sqlite"  # or "postgresql"
    replicas: int = 1


# ----------------------------------------------------------------------------- scenarios


@dataclass
class Result:
    """One scenario on one bot: each figure by name."""

    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of `values` (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return ordered[int(rank) - 1]


def ack_figures(result: Result, answers: list[Answer]) -> list[int]:
    """Acknowledgement figures of a burst; the indexes of the requests answered 200."""
    acks = [a.seconds for a in answers if a.status == 200]
    if acks:
        result.figures["ack p50 ms"] = percentile(acks, 50) * 1000
        result.figures["ack p99 ms"] = percentile(acks, 99) * 1000
        result.figures["ack max ms"] = max(acks) * 1000
    result.figures[f"acks over {SLACK_ACK_LIMIT:g} s"] = sum(a > SLACK_ACK_LIMIT for a in acks)
    failed = Counter(a.failure or f"HTTP {a.status}" for a in answers if a.status != 200)
    result.figures["failed"] = failed.total()
    for why, count in failed.most_common():
        result.notes.append(f"{count} failed: {why}")
    return [n for n, a in enumerate(answers) if a.status == 200]


def propose(
    bot: Deployment, fakes: Fakes, *, count: int, devices: int, tag: str
) -> list[tuple[str, str, str]]:
    """`count` requests of `reboot server-01..server-NN now`, each by its own person in their
    own channel, PROPOSE_AT_ONCE at a time: (person, channel, request id) for each."""
    typed = f"reboot server-01..server-{devices:02d} now"
    people = [(f"U{CLICKERS + n}", f"C{CLICKERS + n}") for n in range(count)]
    keys = [f"{tag}-propose-{n:03d}" for n in range(count)]
    for first in range(0, count, PROPOSE_AT_ONCE):
        batch = range(first, min(first + PROPOSE_AT_ONCE, count))
        requests = [
            signed_request(
                bot.url,
                slash_command_body(
                    text=typed,
                    user_id=people[n][0],
                    channel_id=people[n][1],
                    response_url=fakes.response_url(keys[n]),
                ),
                secret=SECRET,
            )
            for n in batch
        ]
        refused = [a for a in burst(bot.urls, requests, timeout=REQUEST_TIMEOUT) if a.status != 200]
        if refused:
            raise RuntimeError(f"a proposal was not acknowledged: {refused[0]}")
        fakes.wait_answers([keys[n] for n in batch], deadline=time.monotonic() + ANSWER_DEADLINE)
    answers = fakes.answers(keys)
    proposed = []
    for (person, channel), key in zip(people, keys, strict=True):
        blocks = answers.get(key, (0.0, {}))[1].get("blocks") or ()
        buttons = [e for b in blocks if b.get("type") == "actions" for e in b["elements"]]
        value = next((b["value"] for b in buttons if b["action_id"] == "ops_confirm"), None)
        if value is None:
            raise RuntimeError(f"no Confirm button for {typed!r}: {answers.get(key)}")
        proposed.append((person, channel, value))
    return proposed


def click_request(bot: Deployment, fakes: Fakes, proposal: tuple[str, str, str], key: str):
    person, channel, request_id = proposal
    body = block_actions_body(
        action_id="ops_confirm",
        value=request_id,
        user_id=person,
        channel_id=channel,
        response_url=fakes.response_url(key),
    )
    return signed_request(bot.url, body, secret=SECRET)


def idle(bot: Deployment, fakes: Fakes, args: argparse.Namespace) -> Result:
    result = Result()
    proposed = propose(bot, fakes, count=IDLE_CLICKS, devices=args.devices, tag="idle")
    acks = []
    for n, proposal in enumerate(proposed):
        if not bot.wait_idle():
            result.notes.append("the bot was not idle before a click")
        key = f"idle-click-{n:03d}"
        (answer,) = burst(bot.urls[n % len(bot.urls)], [click_request(bot, fakes, proposal, key)])
        if answer.status != 200:
            result.notes.append(f"an idle click failed: {answer.failure or answer.status}")
            continue
        acks.append(answer.seconds)
        fakes.wait_answers([key], deadline=time.monotonic() + ANSWER_DEADLINE)
    if acks:
        result.figures["idle click ack median ms"] = statistics.median(acks) * 1000
        result.figures["idle click ack max ms"] = max(acks) * 1000
    return result


def clicks(bot: Deployment, fakes: Fakes, args: argparse.Namespace, count: int) -> Result:
    result = Result()
    proposed = propose(bot, fakes, count=count, devices=args.devices, tag=f"clicks{count}")
    if not bot.wait_idle():
        result.notes.append("the bot was not idle before the burst")
    fakes.api_latency(args.api_latency)
    keys = [f"clicks{count}-click-{n:03d}" for n in range(count)]
    requests = [click_request(bot, fakes, p, k) for p, k in zip(proposed, keys, strict=True)]
    return _fire(bot, fakes, result, requests, keys, said="Confirmed")


def commands(bot: Deployment, fakes: Fakes, args: argparse.Namespace, count: int) -> Result:
    result = Result()
    if not bot.wait_idle():
        result.notes.append("the bot was not idle before the burst")
    fakes.api_latency(args.api_latency)
    keys = [f"commands{count}-{n:03d}" for n in range(count)]
    requests = [
        signed_request(
            bot.url,
            slash_command_body(
                text=COMMANDS[n % len(COMMANDS)],
                user_id="U123",
                channel_id="C123",
                response_url=fakes.response_url(key),
            ),
            secret=SECRET,
        )
        for n, key in enumerate(keys)
    ]
    return _fire(bot, fakes, result, requests, keys, said=None)


def _fire(
    bot: Deployment,
    fakes: Fakes,
    result: Result,
    requests: list[bytes],
    keys: list[str],
    *,
    said: str | None,
) -> Result:
    cpu = bot.cpu()
    started = time.monotonic()
    answers = burst(bot.urls, requests, timeout=REQUEST_TIMEOUT)
    # The bot's CPU until its last acknowledgement (to the clock's tick, 10 ms): what the
    # acks waited for, whatever else the machine was doing meanwhile.
    result.figures["bot CPU until the last ack ms"] = (bot.cpu() - cpu) * 1000
    acked = [keys[n] for n in ack_figures(result, answers)]
    arrivals = fakes.wait_answers(acked, deadline=started + ANSWER_DEADLINE)
    result.figures["bot CPU until every answer s"] = bot.cpu() - cpu
    if len(arrivals) == len(acked):
        last = max((at for at, _ in arrivals.values()), default=started)
        result.figures["every one answered s"] = last - started
    else:
        result.notes.append(f"{len(acked) - len(arrivals)} acknowledged but never answered")
    if said is not None:
        wrong = sum(said not in str(args.get("text", "")) for _, args in arrivals.values())
        if wrong:
            result.notes.append(f"{wrong} answered otherwise than {said!r}")
    fakes.api_latency(0)  # stopping must not wait on a slow answer
    return result


def run_scenario(
    name: str,
    setup: Setup,
    args: argparse.Namespace,
    extra: dict[str, str],
    postgres: PostgresServer | None,
) -> Result:
    kind, _, size = name.partition("-")
    count = int(size or 0)
    people = max(count, IDLE_CLICKS)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="opsbot-ack-")))
        url = None
        if setup.database == "postgresql":
            assert postgres is not None
            url = stack.enter_context(postgres.database())
        fakes = clickers_fakes(people)
        bot = None
        try:
            replicas = []
            for n in range(setup.replicas):
                folder = tmp / f"replica-{n}"
                folder.mkdir()
                replicas.append(
                    BotProcess(
                        folder=folder,
                        slack_url=fakes.slack_url,
                        api_url=fakes.api_url,
                        api_token=fakes.api_token,
                        secret=SECRET,
                        database=url or folder / "opsbot.db",
                        env=extra,
                        repo=setup.repo,
                    )
                )
                bot = Deployment(replicas)
                replicas[-1].start()
                bot = Deployment(replicas)
            assert bot is not None
            if kind == "idle":
                result = idle(bot, fakes, args)
            elif kind == "clicks":
                result = clicks(bot, fakes, args, count)
            else:
                result = commands(bot, fakes, args, count)
            log = bot.log_text()
            depths = [int(d) for d in QUEUE_DEPTH.findall(log)]
            result.figures["waitress deepest task queue"] = max(depths, default=0)
            result.figures["connection limit reached"] = log.count(CONNECTION_LIMIT)
            if "Traceback" in log:
                result.notes.append("a traceback in the bot's log")
            return result
        finally:
            if bot is not None:
                bot.stop()
            fakes.stop()


# ------------------------------------------------------------------------------- report


@contextlib.contextmanager
def section(title: str) -> Iterator[None]:
    print(f"# {title}", flush=True)
    yield
    print(flush=True)


def spread(values: list[float]) -> str:
    """min / median / max, or the one value."""

    def shown(value: float) -> str:
        return f"{value:.2f}" if max(values) < 10 else f"{value:.0f}"

    if len(values) == 1:
        return shown(values[0])
    return f"{shown(min(values))} / {shown(statistics.median(values))} / {shown(max(values))}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="a checkout to run beside this one")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=list(DEFAULT_SCENARIOS),
        help="idle, clicks-N, commands-N (default: %(default)s)",
    )
    parser.add_argument(
        "--deployments",
        nargs="+",
        default=["sqlite"],
        help="sqlite, postgresql, postgresql-N (N replicas); default: %(default)s",
    )
    parser.add_argument("--devices", type=int, default=20, help="devices in each clicked request")
    parser.add_argument("--api-latency", type=float, default=2.0)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the bots (both), e.g. OPSBOT_HTTP_THREADS=8",
    )
    args = parser.parse_args(argv)
    for name in args.scenarios:
        if not re.fullmatch(r"idle|(clicks|commands)-[1-9]\d*", name):
            parser.error(f"not a scenario: {name}")
    for deployment in args.deployments:
        if not re.fullmatch(r"sqlite|postgresql(-[1-9]\d*)?", deployment):
            parser.error(f"not a deployment: {deployment}")
    extra = dict(item.split("=", 1) for item in args.set)
    versions: dict[str, Setup] = {}
    if args.baseline is not None:
        versions["baseline"] = Setup(repo=args.baseline.resolve())
    for deployment in args.deployments:
        database, _, replicas = deployment.partition("-")
        name = "current" if args.deployments == ["sqlite"] else deployment
        versions[name] = Setup(repo=ROOT, database=database, replicas=int(replicas or 1))
    postgres = None
    with contextlib.ExitStack() as stack:
        if any(setup.database == "postgresql" for setup in versions.values()):
            postgres = stack.enter_context(throwaway_server())
        report(args, extra, versions, postgres)


def report(
    args: argparse.Namespace,
    extra: dict[str, str],
    versions: dict[str, Setup],
    postgres: PostgresServer | None,
) -> None:

    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")
    print(f"cores: {os.cpu_count()}")
    print(f"devices per request: {args.devices}")
    print(f"api latency during a burst s: {args.api_latency}")
    print(f"settings: {extra or 'defaults'}")
    for version, setup in versions.items():
        print(f"{version}: {setup.repo} on {setup.database}, {setup.replicas} replica(s)")
    print(flush=True)
    results: dict[tuple[str, str], list[Result]] = {}
    for run in range(1, args.runs + 1):
        with section(f"run {run}"):
            for name in args.scenarios:
                for version, setup in versions.items():
                    result = run_scenario(name, setup, args, extra, postgres)
                    results.setdefault((name, version), []).append(result)
                    shown = ", ".join(
                        f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in result.figures.items()
                    )
                    print(f"run {run} {name} {version}: {shown}", flush=True)
                    for note in result.notes:
                        print(f"note: run {run} {name} {version}: {note}", flush=True)

    with section(f"min / median / max of {args.runs} runs"):
        for name in args.scenarios:
            for version in versions:
                runs = results[(name, version)]
                for figure in runs[0].figures:
                    values = [r.figures[figure] for r in runs if figure in r.figures]
                    print(f"{name} {version} {figure}: {spread(values)}")
    if "baseline" in versions:
        with section("baseline / current (medians)"):
            for name in args.scenarios:
                base, now = results[(name, "baseline")], results[(name, "current")]
                for figure in ("ack p99 ms", "idle click ack median ms", "every one answered s"):
                    b = [r.figures[figure] for r in base if figure in r.figures]
                    c = [r.figures[figure] for r in now if figure in r.figures]
                    if b and c and statistics.median(c) > 0:
                        ratio = statistics.median(b) / statistics.median(c)
                        print(f"{name} {figure} baseline/current: {ratio:.2f}")
    print(f"load average: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
