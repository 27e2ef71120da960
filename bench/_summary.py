"""What benchmarks 3 and 4 share: the simulator in a child process that counts its POSTs, the
bot's runtime on the fake Slack, the baseline (one thread reply per status change, the public
message edited after every change), and what Slack was asked."""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

from bench._reading import reading
from bot.policy.config import OPEN_POLICY, read_config
from bot.run.runtime import EDIT_GAP, Runtime
from bot.slack.notifier import SlackNotifier, web_client
from bot.track.poller import PollTuning
from bot.track.tuning import Tuning
from bot.zequenze.simulator.endpoint import Simulator
from store import Store
from tests.fakes import BOT_TOKEN, FakeSlack


class _Counting(Simulator):
    """Each created operation runs for the time given for it (in order), and the moment of
    the last POST is kept (time.monotonic is one clock for every process on Linux)."""

    def __init__(self, runs: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._runs = list(runs)
        self.first_post = self.last_post = 0.0

    def _create(self, body: bytes) -> Any:
        if self.post_count < len(self._runs):
            self.run_seconds = self._runs[self.post_count]
        answer = super()._create(body)
        self.last_post = time.monotonic()
        self.first_post = self.first_post or self.last_post
        return answer


def _serve(conn: Any, inventory: list[str], failure_rate: float, runs: list[float]) -> None:
    sim = _Counting(runs, inventory=inventory, failure_rate=failure_rate, seed=7)
    with sim:
        conn.send((sim.url, sim.token))
        while conn.recv() == "stats":
            conn.send((sim.post_count, sim.first_post, sim.last_post))


class ChildSimulator:
    def __init__(
        self, *, inventory: Sequence[str], failure_rate: float, runs: Sequence[float]
    ) -> None:
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        args = (child, list(inventory), failure_rate, list(runs))
        self._process = ctx.Process(target=_serve, args=args)
        self._process.start()
        self.pid = self._process.pid
        self.url, self.token = self._conn.recv()

    def stats(self) -> tuple[int, float, float]:
        """POSTs so far, and the moments of the first and the last."""
        self._conn.send("stats")
        return self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(10)


def runs(count: int, low: float, high: float, seed: int = 7) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(low, high) for _ in range(count)]


@contextlib.contextmanager
def previous_behaviour(enabled: bool) -> Iterator[None]:
    """The baseline: every status change of every operation is a thread reply (no routine
    step is left to the summary), and the public message is edited after every change, the
    first right after it is posted (no gap, nothing taken as shown at the post)."""
    if not enabled:
        yield
        return
    routine, version = Store._routine, Store.root_version
    Store._routine = lambda self, db, announce: False  # type: ignore[method-assign]
    Store.root_version = lambda self, request_id: 0  # type: ignore[method-assign]
    try:
        yield
    finally:
        Store._routine = routine  # type: ignore[method-assign]
        Store.root_version = version  # type: ignore[method-assign]


def start_runtime(
    *,
    slack: FakeSlack,
    sim: ChildSimulator,
    database: str,
    channel_gap: float,
    poll_interval: float,
    summary_gap: float,
    config: str | None = None,
    edit_gap: float = EDIT_GAP,
) -> Runtime:
    client = web_client(token=BOT_TOKEN, base_url=slack.api_url)
    return Runtime(
        database=database,
        api_url=sim.url,
        api_token=sim.token,
        poll_interval=poll_interval,
        notifier=SlackNotifier(client=client),
        channel_gap=channel_gap,
        edit_gap=edit_gap,
        tuning=Tuning(summary_gap=summary_gap),
        poll_tuning=PollTuning(),
        config=read_config(config, source="bench.toml") if config else OPEN_POLICY,
    ).start()


def slack_figures(slack: FakeSlack, name: str, since: float) -> dict[str, int]:
    """Prints what Slack was asked since `since`: calls by method, 429s, thread replies and
    the most chat.update calls within any 60 s (Slack's Tier 3: about 50 a minute)."""
    calls = [c for c in slack.calls if c.at >= since]
    methods: dict[str, int] = {}
    for call in calls:
        methods[call.method] = methods.get(call.method, 0) + 1
    posts = [c for c in calls if c.method == "chat.postMessage" and c.status == 200]
    replies = sum(1 for c in posts if c.args.get("thread_ts"))
    edits = sorted(c.at for c in calls if c.method == "chat.update")
    peak, start = 0, 0
    for end, moment in enumerate(edits):
        while moment - edits[start] > 60.0:
            start += 1
        peak = max(peak, end - start + 1)
    print(f"{name} Slack calls in all: {len(calls)} ({_by_method(methods)})")
    print(f"{name} thread replies: {replies}")
    print(f"{name} 429s: {slack.rate_limited}")
    print(f"{name} chat.update peak per 60 s: {peak}")
    last_reply = max((c.at for c in posts if c.args.get("thread_ts")), default=since)
    ok_edits = [c.at for c in calls if c.method == "chat.update" and c.status == 200]
    return {
        "calls": len(calls),
        "replies": replies,
        "429": slack.rate_limited,
        "updates": len(edits),
        "last_reply": last_reply,
        "last_edit": max(ok_edits, default=since),
        "posts_by_channel": _by_channel(posts),
    }


def _by_channel(posts: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in posts:
        channel = str(call.args.get("channel") or "")
        counts[channel] = counts.get(channel, 0) + 1
    return counts


def _by_method(methods: dict[str, int]) -> str:
    return ", ".join(f"{m} {n}" for m, n in sorted(methods.items(), key=lambda x: -x[1]))


def pending(store: Store) -> tuple[int, int]:
    """Outbox messages still to deliver, and those given up."""
    with reading(store) as tx:
        row = tx.row(
            "SELECT sum(CASE WHEN delivered_at IS NULL AND given_up_at IS NULL THEN 1 ELSE 0 END) "
            "AS waiting, sum(CASE WHEN given_up_at IS NOT NULL THEN 1 ELSE 0 END) AS given_up "
            "FROM outbox"
        )
    return row["waiting"] or 0, row["given_up"] or 0
