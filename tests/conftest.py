"""The bot assembled from real parts over loopback: Bolt over HTTP (waitress) verifying real
signatures, the fake Slack Web API, the API simulator, and a real SQLite file (or a throwaway
PostgreSQL: `either_database`)."""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, settings
from psycopg_pool import PoolClosed

from bot.policy.config import OPEN_POLICY, read_config
from bot.run.health import observe
from bot.run.runtime import EDIT_BURST, Runtime
from bot.service import utcnow
from bot.slack.app import HttpServer, Workers, build_app
from bot.slack.groups import GroupMembers
from bot.slack.notifier import SlackNotifier, web_client
from bot.track.pacing import BURST
from bot.track.poller import PollTuning
from bot.track.tuning import Tuning
from bot.zequenze.simulator.endpoint import Simulator
from store import Store, is_database_url
from tests.fakes import (
    BOT_TOKEN,
    Call,
    FakeSlack,
    app_mention_body,
    block_actions_body,
    post,
    slash_command_body,
    view_submission_body,
)
from tests.history import kept_and_true_counts

# The throwaway PostgreSQL's fixtures (pg_server, pg_url, pg_migrated_url).
pytest_plugins = ["tests.postgres"]

SECRET = "test-signing-secret"
# Recovery on a test's time scale: reconcile unknown outcomes after 0.3 s and look again
# every 0.2-0.5 s, retry sends after 0.1 s, tell a thread about an outage after 1 s.
FAST_RECOVERY = Tuning(
    reconcile_delay=timedelta(seconds=0.3),
    send_backoff=0.1,
    look_every=0.2,
    look_cap=0.5,
    root_wait=timedelta(seconds=2),
    list_backoff=0.2,
    list_max_backoff=1.0,
    summary_gap=0.2,
)
# idle_look: an operation waiting for its time is still looked at twice a second (it may vanish).
FAST_POLLING = PollTuning(max_backoff=0.5, outage_notice=1.0, idle_look=0.5)
# Slack's per-channel limit on the tests' time scale: the fake takes 20 posts a second with a
# burst of 3 (as Slack's 1 a second), and the bot paces itself as in production, a little
# slower (and one post short of the burst, as bot/track/pacing.py says why).
POST_RATE = 20.0
CHANNEL_GAP = 0.06
# chat.update's workspace limit on the same scale: Slack's 50 a minute, twenty times faster;
# the bot's own budget as in production (45 a minute), on that scale too.
UPDATE_RATE = 50 / 60 * 20
EDIT_GAP = 60 / 45 / 20
T = TypeVar("T")

# Property-based tests (tests/test_properties.py) try the same examples on every run, derived
# from each test, so that a failure in CI repeats on any machine; a bounded number of them,
# with no deadline, as the machine is shared. `HYPOTHESIS_PROFILE=explore` tries many more, at
# random, keeping what fails in .hypothesis/ to try first next time.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "explore", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def eventually(check: Callable[[], T], *, timeout: float = 20.0, what: str = "condition") -> T:
    """Poll until `check()` returns something truthy; fail with `what` after the deadline
    (generous: the suite runs on two workers, and a loaded machine is slow, not wrong)."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(pause)
        # Soon at first, as most conditions come true within milliseconds of what a test did
        # (a command's answer), then every 20 ms.
        pause = min(pause * 2, 0.02)


def is_root_post(call: Call, request_id: str) -> bool:
    """The public message of this request, as the bot posted it and Slack took it."""
    metadata = call.args.get("metadata") or {}
    return (
        call.response.get("ok") is True
        and metadata.get("event_type") == "opsbot_request"
        and (metadata.get("event_payload") or {}).get("request_id") == request_id
    )


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # message and traceback, as printed


@pytest.fixture(scope="session", autouse=True)
def nothing_logged_holds_a_secret() -> Iterator[None]:
    """Everything the bot's code logs during the whole suite, down to DEBUG, is kept and
    searched for the tokens and secrets the tests use; one found fails the run."""
    everything = _Everything()
    ours = [logging.getLogger(name) for name in ("bot", "handlers", "store")]
    levels = [logger.level for logger in ours]
    logging.getLogger().addHandler(everything)
    for logger in ours:
        logger.setLevel(logging.DEBUG)
    yield
    logging.getLogger().removeHandler(everything)
    for logger, level in zip(ours, levels, strict=True):
        logger.setLevel(level)
    print(f"\nsecrets check: {len(everything.lines)} log lines searched")
    for secret in (BOT_TOKEN, SECRET, "sim-token"):
        leaked = [line for line in everything.lines if secret in line]
        assert not leaked, f"a secret reached the log: {leaked[:3]}"


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk honours HTTPS_PROXY but not NO_PROXY: a developer's proxy would swallow loopback.
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator(run_seconds=0.4, seed=7) as sim:
        yield sim


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    users = {
        "U123": {"name": "alice", "tz": "America/Los_Angeles"},
        "U456": {"name": "bob", "tz": "Europe/Madrid"},
        "U789": {"name": "carol", "tz": None},
    }
    with FakeSlack(users=users, post_rate=POST_RATE, update_rate=UPDATE_RATE) as fake:
        yield fake
    # Every post of the bot keeps to the channel's pace: Slack never had to turn one away.
    assert fake.rate_limited == 0, f"{fake.rate_limited} call(s) refused with 429"


@dataclass
class Bot:
    """A running bot and the means to talk to it as Slack would."""

    url: str
    slack: FakeSlack
    simulator: Simulator
    runtime: Runtime
    server: HttpServer

    def send(self, body: str, **kwargs: Any) -> httpx.Response:
        return post(self.url, body, secret=SECRET, **kwargs)

    def command(
        self, text: str, *, user: str = "U123", channel: str = "C123", key: str = ""
    ) -> str:
        """Run `/ops TEXT`; returns the response_url key the answers arrive under."""
        key = key or f"cmd-{time.monotonic_ns()}"
        body = slash_command_body(
            text=text, user_id=user, channel_id=channel, response_url=self.slack.response_url(key)
        )
        response = self.send(body)
        assert response.status_code == 200, response.text
        return key

    def responses(self, key: str) -> list[dict[str, Any]]:
        return [c.args for c in self.slack.calls_to("response_url") if c.args.get("_key") == key]

    def wait_response(self, key: str, *, count: int = 1) -> dict[str, Any]:
        found = eventually(
            lambda: len(self.responses(key)) >= count and self.responses(key),
            what=f"{count} response(s) to {key}",
        )
        return found[count - 1]

    def click(
        self, action_id: str, request_id: str, *, user: str = "U123", key: str = ""
    ) -> tuple[httpx.Response, str]:
        key = key or f"click-{time.monotonic_ns()}"
        body = block_actions_body(
            action_id=action_id,
            value=request_id,
            user_id=user,
            response_url=self.slack.response_url(key),
        )
        return self.send(body), key

    def mention(self, text: str, *, ts: str, thread_ts: str | None, user: str = "U123") -> None:
        body = app_mention_body(
            text=f"<@U0BOT> {text}",
            user_id=user,
            ts=ts,
            thread_ts=thread_ts,
            event_id=f"Ev{time.monotonic_ns()}",
        )
        assert self.send(body).status_code == 200

    def submit_view(self, values: dict[str, Any], metadata: str, *, user: str = "U123"):
        body = view_submission_body(
            callback_id="ops_modal", values=values, private_metadata=metadata, user_id=user
        )
        return self.send(body)


@functools.cache
def migrated_sqlite() -> Path:
    """A SQLite file with every migration applied and nothing else, made once per process
    (removed at its end): a bot started on a new file begins from a copy, as migrating from
    nothing costs some 35 ms of CPU a bot (tests/test_store.py and the CLI's tests migrate
    new files themselves)."""
    folder = Path(tempfile.mkdtemp(prefix="opsbot-migrated-"))
    atexit.register(shutil.rmtree, folder, True)
    Store(path=folder / "migrated.db").close()
    return folder / "migrated.db"


def start_bot(
    *,
    slack: FakeSlack,
    simulator: Simulator,
    database: Path | str,
    poll_interval: float = 0.1,
    channel_gap: float = CHANNEL_GAP,
    edit_gap: float = EDIT_GAP,
    tuning: Tuning = FAST_RECOVERY,
    poll_tuning: PollTuning = FAST_POLLING,
    api_timeout: float = 10.0,
    config: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    workers: Workers | None = None,
    shared: bool | None = None,
) -> Bot:
    """`database`: a SQLite file, or a PostgreSQL URL (`pg_migrated_url`). `config`: a policy
    file's text (TOML); user groups are the fake Slack's. `workers`: other pool sizes than the
    app's own (bench/ack_latency.py compares them). `shared`: a replica among others on the
    same database (only the lease's holder works in the background); by default, on
    PostgreSQL."""
    if not is_database_url(str(database)) and not Path(database).exists():
        shutil.copyfile(migrated_sqlite(), database)
    client = web_client(token=BOT_TOKEN, base_url=slack.api_url)
    runtime = Runtime(
        database=str(database),
        api_url=simulator.url,
        api_token=simulator.token,
        poll_interval=poll_interval,
        notifier=SlackNotifier(client=client),
        channel_gap=channel_gap,
        edit_gap=edit_gap,
        api_retry_base=0.01,
        api_timeout=api_timeout,
        tuning=tuning,
        poll_tuning=poll_tuning,
        config=read_config(config, source="test.toml") if config else OPEN_POLICY,
        clock=clock,
        groups=GroupMembers(client=client),
        shared=shared,
    )
    app = build_app(
        client=client,
        signing_secret=SECRET,
        service=runtime.service,
        pacer=runtime.pacer,
        workers=workers,
    )
    runtime.start()
    server = HttpServer(app=app, signing_secret=SECRET, host="127.0.0.1", port=0)
    server.open(observe(runtime, client))
    threading.Thread(target=server.serve, daemon=True).start()
    return Bot(
        url=f"http://127.0.0.1:{server.port}/slack/events",
        slack=slack,
        simulator=simulator,
        runtime=runtime,
        server=server,
    )


def stop_bot(bot: Bot) -> None:
    bot.server.close()
    # Every flow a test ran, checked against the counts the database keeps for the metrics
    # (migration 0009's triggers): a change that escaped them would show here.
    try:
        kept, true = kept_and_true_counts(bot.runtime.store)
    except (sqlite3.ProgrammingError, PoolClosed):  # the test closed the database itself
        kept = true = {}
    bot.runtime.stop()
    assert kept == true, (kept, true)


def rested(slack: FakeSlack) -> bool:
    """Slack would take the bursts a bot starts with: as many posts in each channel posted to
    and as many edits. A bot started again on a SQLite file paces from full bursts of its
    own, knowing nothing of the posts of the one before (its pacer is in memory): a real start
    takes a second or more, a test's a few milliseconds, and the post or edit beyond what
    Slack takes would come back 429."""
    channels = {c.args.get("channel") or "" for c in slack.calls_to("chat.postMessage")}
    return slack.turns() >= EDIT_BURST and all(slack.turns(c) >= BURST for c in channels)


@pytest.fixture
def policy_bot(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> Iterator[Callable[[str], Bot]]:
    """Starts the bot with a policy file's text; stopped at the end of the test. Started
    again, it is a restart on the same database (the bot before stops first), as an admin
    deploying a new file does."""
    started: list[Bot] = []

    def start(config: str, *, clock: Callable[[], datetime] = utcnow) -> Bot:
        if started:
            stop_bot(started.pop())
            eventually(lambda: rested(slack), what="Slack's pace to rest, as over a restart")
        started.append(
            start_bot(
                slack=slack,
                simulator=simulator,
                database=tmp_path / "opsbot.db",
                config=config,
                clock=clock,
            )
        )
        return started[-1]

    yield start
    for running in started:
        stop_bot(running)


@pytest.fixture(params=["sqlite", "postgresql"])
def either_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The bot's database on each engine in turn: a SQLite file, then a PostgreSQL database
    with the schema up to date (skipped, in one line, where PostgreSQL is not installed)."""
    if request.param == "sqlite":
        return str(tmp_path / "opsbot.db")
    return request.getfixturevalue("pg_migrated_url")


@pytest.fixture
def bot(slack: FakeSlack, simulator: Simulator, tmp_path: Path) -> Iterator[Bot]:
    running = start_bot(slack=slack, simulator=simulator, database=tmp_path / "opsbot.db")
    yield running
    stop_bot(running)
