"""What the fleet benchmarks share: the simulator in a child process (its CPU and memory are
not the bot's), a request counter on the bot's API client, filling the store through the
bot's own path, and the naive poller they compare against."""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from bot.model import OperationSpec
from bot.policy.config import OPEN_POLICY
from bot.zequenze.api import ZequenzeClient
from bot.zequenze.simulator.endpoint import DEFAULT_INVENTORY, Simulator
from bot.zequenze.simulator.faults import Fault
from store import Store

USER = "U123"
OPS_PER_REQUEST = 20


class _RandomRuns(Simulator):
    """Each created operation runs for a time given by the creator: the POST's parameters
    carry no such thing, so the bench sends the run times ahead through a queue, in order."""

    def __init__(self, runs: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._runs = list(runs)
        self._made = 0

    def _create(self, body: bytes) -> Any:
        if self._made < len(self._runs):
            self.run_seconds = self._runs[self._made]
        self._made += 1
        return super()._create(body)


def _serve(conn: Any, runs: Sequence[float], get_latency: float) -> None:
    sim = _RandomRuns(runs, seed=7)
    if get_latency > 0:
        sim.faults.add(Fault(kind="latency", method="GET", seconds=get_latency, times=None))
    with sim:
        conn.send((sim.url, sim.token))
        conn.recv()  # until told to stop


class ChildSimulator:
    def __init__(self, *, runs: Sequence[float] = (), get_latency: float = 0.0) -> None:
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, list(runs), get_latency))
        self._process.start()
        self.pid = self._process.pid
        self.url, self.token = self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(10)


class Counted:
    """Counts the HTTP requests a client makes, by method and by kind of GET."""

    def __init__(self, client: ZequenzeClient) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        client._http.event_hooks["request"].append(self._seen)

    def _seen(self, request: Any) -> None:
        query = request.url.params
        kind = request.method
        if request.method == "GET":
            kind = "GET by id" if "id" in query else "GET page"
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def total(self, prefix: str = "") -> int:
        with self.lock:
            return sum(v for k, v in self.counts.items() if k.startswith(prefix))

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()


def make_requests(
    store: Store, times: Sequence[datetime], *, now: datetime, sendable: bool = False
) -> list[int]:
    """Confirmed requests of 20 operations for `times`; their operation ids."""
    devices = sorted(DEFAULT_INVENTORY)
    ids: list[int] = []
    for start in range(0, len(times), OPS_PER_REQUEST):
        chunk = times[start : start + OPS_PER_REQUEST]
        specs = [
            OperationSpec(
                device_name=devices[(start + n) % len(devices)],
                operation_type="reboot",
                scheduled_at=moment,
                parameters={"force": False, "timeout": 300},
            )
            for n, moment in enumerate(chunk)
        ]
        request = store.create_request(
            specs=specs,
            requester=USER,
            surface="command",
            text="bench",
            tz="UTC",
            immediate=False,
            notes=(),
            channel="C123",
            thread_ts=None,
            response_url=None,
            now=now,
            expires_at=now.replace(year=now.year + 1),
            # Judged as a bot without a policy file judges: its gate has nothing to judge again.
            policy={"fingerprint": OPEN_POLICY.fingerprint},
        )
        assert store.confirm(request.id, user=USER, now=now, run_at=None)
        if sendable:
            store.root_tried(request.id, now=now)
        confirmed = store.get_request(request.id)
        assert confirmed is not None
        ids += [op.id for op in confirmed.operations]
    return ids


def submit(store: Store, api: ZequenzeClient, ids: Sequence[int], *, now: datetime) -> None:
    """Each operation POSTed and recorded as the sender does."""
    for op_id in ids:
        assert store.start_sending(op_id, now=now)
    records = {op.id: op for op in store.operations_in_state("sending")}
    for op_id in ids:
        op = records[op_id]
        created = api.create_operation(op.spec())
        store.record_submitted(
            op_id,
            api_id=created["id"],
            status=created["status"],
            estimated_duration=created.get("estimated_duration"),
            now=now,
            announce=op.announce("submitted"),
        )


class NaivePoller:
    """The baseline, as the bot polled before: every operation not final asked by id with
    update_status, `concurrency` at a time, every `interval` (or as soon as the previous
    round ends, when a round takes longer), and a full round whenever woken."""

    def __init__(
        self,
        *,
        store: Store,
        api: ZequenzeClient,
        clock: Callable[[], datetime],
        interval: float,
        concurrency: int = 16,
    ) -> None:
        self._store, self._api, self._clock = store, api, clock
        self._interval = interval
        self._pool = ThreadPoolExecutor(max_workers=concurrency)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.rounds = 0

    def start(self) -> NaivePoller:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(120)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            began = time.monotonic()
            self.poll_once()
            self.rounds += 1
            self._wake.wait(max(0.0, self._interval - (time.monotonic() - began)))

    def poll_once(self) -> None:
        list(self._pool.map(self._check, self._store.operations_to_poll()))

    def _check(self, op: Any) -> None:
        if self._stop.is_set():
            return
        try:
            item = self._api.get_operation(op.api_id, update_status=True)
        except Exception:
            return
        status = (item or {}).get("status")
        if isinstance(status, str) and status != op.status:
            self._store.record_status(
                op.id, old=op.status, new=status, now=self._clock(), announce=op.announce("x")
            )


def shuffled(values: list[Any], seed: int = 11) -> list[Any]:
    random.Random(seed).shuffle(values)
    return values
