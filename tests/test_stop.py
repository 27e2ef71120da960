"""A stop (SIGTERM) with a backlog: the bot runs as a real process (`python -m bot run`, as in
tests/test_crash.py), hundreds of operations wait behind an API slowed to 2 s a call, and the
process is told to stop while the sender is under way.

The stop does not wait for the backlog: no POST begins once it is under way, the POSTs in
flight end recorded (or as unknown outcomes, for the reconciler), the rest stay unclaimed, and
the process exits long before the old 60 s. After a restart every operation is sent exactly
once: none twice, none lost.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.answers import Proposed
from bot.model import OperationSpec
from bot.run.runtime import Runtime
from bot.service import OpsService
from bot.slack.notifier import SlackNotifier, web_client
from bot.track.outbox import OutboxSender
from bot.track.pacing import ChannelPacer
from bot.track.poller import Poller, PollTuning
from bot.track.reconcile import Reconciler
from bot.track.tuning import DEFAULT_TUNING, Tuning
from bot.zequenze.api import ApiError, ZequenzeClient
from bot.zequenze.devices import DeviceBook
from bot.zequenze.simulator.endpoint import Simulator
from bot.zequenze.simulator.faults import Fault
from store import OutboxEvent, RequestRecord, Store
from store.lock import lock_path
from tests.conftest import CHANNEL_GAP, FAST_POLLING, FAST_RECOVERY, eventually
from tests.fakes import BOT_TOKEN, FakeSlack
from tests.processes import BotProcess
from tests.test_crash import bot_process, click, propose
from tests.test_polling import INTERVAL, T0, Clock, Harness

pytestmark = pytest.mark.xdist_group("ports")

# Modest, to keep the suite quick, yet far more than a stop may wait for: 8 at a time behind a
# 2 s API, sending them all would take a minute.
DEVICES = 240
API_LATENCY = 2.0
# A behaviour bound, not a speed figure (bench/stop.py measures): generous for a loaded
# machine, and far below the 60 s a stop used to wait for the sending round.
STOP_BOUND = 15.0


@pytest.fixture
def stoppable(slack: FakeSlack, simulator: Simulator, tmp_path: Path) -> Iterator[BotProcess]:
    bot = bot_process(slack, simulator, tmp_path / "stop.db")
    yield bot
    bot.close()


def posts_begun(simulator: Simulator) -> int:
    return sum(method == "POST" for method, _ in list(simulator.requests))


def states(db_path: Path) -> dict[str, str]:
    """Each operation's state, by device."""
    with sqlite3.connect(db_path) as db:
        return dict(db.execute("SELECT device_name, state FROM operations").fetchall())


def test_sigterm_with_a_backlog_behind_a_slow_api_ends_soon_and_a_restart_sends_each_once(
    stoppable: BotProcess, slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    names = [f"server-{n:04d}" for n in range(1, DEVICES + 1)]
    simulator.inventory = set(names)
    config = tmp_path / "policy.toml"
    config.write_text(f"[limits]\nmax_devices = {DEVICES}\n")
    stoppable.start(env={"OPSBOT_CONFIG": str(config)})
    request_id = propose(stoppable, slack, f"reboot {names[0]}..{names[-1]} now", "cmd")
    simulator.faults.add(Fault(kind="latency", seconds=API_LATENCY, times=None))
    click(stoppable, request_id, "click")
    # Under way: one round of POSTs answered, the next in flight.
    eventually(lambda: simulator.post_count >= 1, timeout=30, what="the first POST answered")

    process = stoppable.process
    assert process is not None
    begun = posts_begun(simulator)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_BOUND)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_BOUND:.0f} s after SIGTERM, with a backlog")
    output = stoppable.output()
    assert process.returncode == 0, output
    assert "opsbot stopped" in output
    assert "without flushing or closing" not in output, output
    assert not lock_path(stoppable.database).exists()  # the lock went with the process, as always
    stoppable.checked(output)
    # No POST began once the stop was under way: at most the sender's pool, busy when the
    # signal came, took one more each before the runtime heard of it.
    assert posts_begun(simulator) <= begun + DEFAULT_TUNING.send_concurrency
    sent = Counter(op["device_name"] for op in simulator.operations())
    assert sent and max(sent.values()) == 1
    after_stop = states(Path(stoppable.database))
    assert "sending" not in after_stop.values(), "a POST left in flight by the stop"
    # Each POST that reached the API is recorded, as sent or as an unknown outcome (its
    # answer lost, for the reconciler); those not sent are unclaimed and go after the restart.
    for device, state in after_stop.items():
        assert state in ({"submitted", "unknown"} if device in sent else {"new", "unknown"})
    assert list(after_stop.values()).count("new") >= DEVICES / 2, "the backlog was sent"

    simulator.faults.clear()
    stoppable.start(env={"OPSBOT_CONFIG": str(config)})
    eventually(
        lambda: set(states(Path(stoppable.database)).values()) == {"submitted"},
        timeout=60,
        what="every operation sent after the restart",
    )
    sent = Counter(op["device_name"] for op in simulator.operations())
    assert sent == Counter(names), "an operation sent twice, or never"
    assert simulator.post_count == DEVICES
    output = stoppable.stop()
    assert stoppable.process is not None and stoppable.process.returncode == 0, output


# --- each loop's round ends at its next item -------------------------------------------------


def runtime_on(slack: FakeSlack, simulator: Simulator, db: Path) -> Runtime:
    return Runtime(
        database=str(db),
        api_url=simulator.url,
        api_token=simulator.token,
        poll_interval=0.1,
        notifier=SlackNotifier(client=web_client(token=BOT_TOKEN, base_url=slack.api_url)),
        channel_gap=CHANNEL_GAP,
        api_retry_base=0.01,
        tuning=FAST_RECOVERY,
        poll_tuning=FAST_POLLING,
    ).start()


def test_a_stop_claims_nothing_more_and_keeps_the_answers_of_the_posts_in_flight(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    """20 operations, the API holding every create call: the sender's 8 are in flight when the
    stop comes. Those 8 are answered and recorded, the 12 others are never claimed, and the
    next start sends them: 20 operations, each once."""
    db = tmp_path / "sending.db"
    runtime = runtime_on(slack, simulator, db)
    held = threading.Event()
    simulator.faults.add(Fault(method="POST", kind="latency", seconds=30, until=held, times=None))
    proposed = runtime.service.handle_text(
        "reboot server-01..server-20 now",
        requester="U123",
        tz="UTC",
        surface="command",
        channel="C123",
    )
    assert isinstance(proposed, Proposed)
    assert runtime.service.confirm(proposed.request.id, user="U123").ok
    in_flight = FAST_RECOVERY.send_concurrency
    eventually(lambda: posts_begun(simulator) == in_flight, what="the sender's POSTs in flight")

    stopper = threading.Thread(target=runtime.stop)
    stopper.start()
    eventually(lambda: not runtime.sending.running, what="the stop to be under way")
    held.set()  # the API answers the POSTs in flight
    stopper.join(30)
    assert not stopper.is_alive()
    assert posts_begun(simulator) == simulator.post_count == in_flight
    with pytest.raises(sqlite3.ProgrammingError):  # closed: nothing was left running
        runtime.store.pending_outbox()
    after_stop = Counter(states(db).values())
    assert after_stop == {"submitted": in_flight, "new": 20 - in_flight}

    again = runtime_on(slack, simulator, db)
    try:
        eventually(
            lambda: set(states(db).values()) == {"submitted"}, what="the rest sent after a start"
        )
    finally:
        again.stop()
    sent = Counter(op["device_name"] for op in simulator.operations())
    assert sent == Counter(f"server-{n:02d}" for n in range(1, 21))
    assert simulator.post_count == 20


def test_a_stop_takes_no_more_looks_of_a_polling_round(
    simulator: Simulator, tmp_path: Path
) -> None:
    """A round of ten looks by id, two at a time behind a held API: the stop comes while the
    first two are in flight. Those two are recorded; the eight others are not asked, and stay
    due as they were (not counted as failed looks)."""
    clock = Clock()
    store = Store(path=tmp_path / "poll.db")
    stopping = threading.Event()
    api = ZequenzeClient(
        base_url=simulator.url, token=simulator.token, retry_base=0.01, stopping=stopping
    )
    poller = Poller(
        store=store,
        api=api,
        devices=DeviceBook(store=store, clock=clock),
        clock=clock,
        interval=INTERVAL,
        # One operation a page: asking each by id costs fewer requests than listing them.
        tuning=PollTuning(concurrency=2, page_size=1),
        stopping=stopping,
    )
    try:
        harness = Harness(clock, simulator, store, api, poller, tmp_path / "poll.db")
        harness.create([T0] * 10)
        poller.poll_once()  # places their first looks, one interval on
        clock.advance(INTERVAL)
        assert len(store.operations_due(by=clock(), limit=100)) == 10
        held = threading.Event()
        simulator.faults.add(
            Fault(method="GET", kind="latency", seconds=30, until=held, times=None)
        )
        round_ = threading.Thread(target=poller.poll_once)
        round_.start()
        eventually(lambda: len(harness.gets()) == 2, what="the first two looks in flight")
        stopping.set()
        held.set()
        round_.join(30)
        assert not round_.is_alive()
        poller.close()  # as the runtime does before its last flush: the looks in flight end
        assert len(harness.gets()) == 2
        assert len(store.operations_due(by=clock(), limit=100)) == 8
        with sqlite3.connect(tmp_path / "poll.db") as db:
            failures = db.execute("SELECT sum(check_failures) FROM operations").fetchone()
        assert failures == (0,)
    finally:
        poller.close()
        api.close()
        store.close()


def test_a_get_failing_when_the_stop_comes_is_not_tried_again(simulator: Simulator) -> None:
    stopping = threading.Event()
    # A retry would wait 30 s: the stop must not wait for it, nor make it.
    api = ZequenzeClient(
        base_url=simulator.url, token=simulator.token, retry_base=30.0, stopping=stopping
    )
    simulator.faults.add(Fault(method="GET", kind="status", status=503, times=None))
    errors: list[ApiError] = []

    def look() -> None:
        try:
            api.get_operation("1001")
        except ApiError as exc:
            errors.append(exc)

    caller = threading.Thread(target=look)
    caller.start()
    try:
        eventually(lambda: len(simulator.requests) == 1, what="the first attempt to fail")
        stopping.set()
        caller.join(10)
        assert not caller.is_alive(), "the retry's wait outlasted the stop"
    finally:
        simulator.faults.clear()
        caller.join()
        api.close()
    assert [exc.status for exc in errors] == [503]
    assert len(simulator.requests) == 1


def test_a_list_read_stops_between_pages_and_proves_nothing(simulator: Simulator) -> None:
    simulator.seed(500)
    stopping = threading.Event()
    api = ZequenzeClient(base_url=simulator.url, token=simulator.token, stopping=stopping)
    try:
        reader = api.scan_newest(max_pages=5, page_size=100)
        read = []
        for item in reader.walk():
            read.append(item)
            stopping.set()  # the stop comes while the first page is being read
        assert (len(read), reader.requests, reader.sound) == (100, 1, False)
        recent = api.recent_operations(since=datetime(2000, 1, 1, tzinfo=UTC))
        assert (recent.complete, recent.requests, recent.items) == (False, 0, [])
    finally:
        api.close()


def test_reconciling_when_the_stop_comes_asks_nobody_on_a_read_cut_short(
    simulator: Simulator, tmp_path: Path
) -> None:
    """An unknown outcome whose requester is due to be asked: a stop cuts the list's read
    short, and a read cut short proves nothing, so nobody is asked on it."""
    moment = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    store = Store(path=tmp_path / "unknown.db")
    stopping = threading.Event()
    api = ZequenzeClient(base_url=simulator.url, token=simulator.token, stopping=stopping)
    devices = DeviceBook(store=store, clock=lambda: moment)
    service = OpsService(store=store, api=api, devices=devices, clock=lambda: moment)
    proposed = service.handle_text(
        "reboot server-01 at 12:30", requester="U123", tz="UTC", surface="command", channel="C1"
    )
    assert isinstance(proposed, Proposed)
    assert service.confirm(proposed.request.id, user="U123").ok
    (op,) = proposed.request.operations
    assert store.start_sending(op.id, now=moment)
    assert store.record_unsent(
        op.id, state="unknown", error="timed out", now=moment, announce=op.announce("unsent")
    )
    reconciler = Reconciler(
        store=store,
        api=api,
        devices=devices,
        clock=lambda: moment,
        tuning=Tuning(reconcile_delay=timedelta(0), ask_after=timedelta(0)),
        stopping=stopping,
    )
    asked_before = len(simulator.requests)  # the proposal's own look
    try:
        stopping.set()
        assert reconciler.reconcile() == 0
        (still,) = store.operations_in_state("unknown")
        assert still.asked_at is None
        assert len(simulator.requests) == asked_before
    finally:
        api.close()
        store.close()


class CountingNotifier:
    """Slack, as far as the outbox can tell: each public message is counted, and `on_post`
    runs while it is being posted."""

    def __init__(self, on_post: Callable[[], None]) -> None:
        self.posted: list[str] = []
        self._on_post = on_post

    def post_root(self, request: RequestRecord, *, retry: bool) -> str:
        self._on_post()
        self.posted.append(request.id)
        return f"{len(self.posted)}.000100"

    def deliver(self, event: OutboxEvent, request: RequestRecord) -> None:
        pass

    def refresh(self, request: RequestRecord) -> None:
        pass


def public_messages_waiting(store: Store, count: int) -> None:
    """`count` confirmed requests, each in its own channel: their public messages wait."""
    now = datetime.now(UTC)
    for n in range(count):
        spec = OperationSpec(
            device_name=f"server-{n + 1:02d}",
            operation_type="reboot",
            scheduled_at=now + timedelta(hours=1),
            parameters={"force": False, "timeout": 300},
        )
        request = store.create_request(
            specs=[spec],
            requester="U123",
            surface="command",
            text="reboot",
            tz="UTC",
            immediate=False,
            notes=(),
            channel=f"C{n}",
            thread_ts=None,
            response_url=None,
            now=now,
            expires_at=now + timedelta(hours=1),
        )
        assert store.confirm(request.id, user="U123", now=now, run_at=None)


def outbox_on(
    store: Store,
    notifier: CountingNotifier,
    stopping: threading.Event,
    monotonic: Callable[[], float] = time.monotonic,
) -> OutboxSender:
    return OutboxSender(
        store=store,
        notifier=notifier,
        clock=lambda: datetime.now(UTC),
        pacer=ChannelPacer(gap=0.0),
        stopping=stopping,
        monotonic=monotonic,
    )


def test_an_outbox_round_over_a_backlog_ends_at_its_next_message_when_the_stop_comes(
    tmp_path: Path,
) -> None:
    store = Store(path=tmp_path / "outbox.db")
    try:
        public_messages_waiting(store, 10)
        stopping = threading.Event()
        notifier = CountingNotifier(on_post=stopping.set)  # the stop comes during the first
        assert outbox_on(store, notifier, stopping).deliver_pending() == 1
        assert len(notifier.posted) == 1
        assert len(store.pending_outbox()) == 9  # for the last flush, or the next start
    finally:
        store.close()


def test_the_last_flush_delivers_until_its_time_is_up(tmp_path: Path) -> None:
    """Stopping: the flush goes on after the stop (the loops have ended), for its own time."""
    store = Store(path=tmp_path / "flush.db")
    try:
        public_messages_waiting(store, 10)
        now = [0.0]

        def a_second_each() -> None:
            now[0] += 1.0

        stopping = threading.Event()
        stopping.set()
        notifier = CountingNotifier(on_post=a_second_each)
        outbox = outbox_on(store, notifier, stopping, monotonic=lambda: now[0])
        assert outbox.deliver_pending(within=2.5) == 3  # begun at 0, 1 and 2 s
        assert len(store.pending_outbox()) == 7
    finally:
        store.close()
