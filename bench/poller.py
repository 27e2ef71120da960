"""How long one poller round takes over many tracked operations, and what a few slow answers do.

    python bench/poller.py [--operations 1000] [--api-latency 0.05] [--slow 5 --slow-latency 3.0]

Everything runs on 127.0.0.1: the Zequenze API simulator and a real SQLite store in a temporary
directory. N operations are created through the bot's own path (Store.create_request, confirm,
start_sending, a real POST to the simulator, record_submitted); then the
simulator answers every GET after --api-latency seconds and `Poller.poll_once()` is timed.

The second run makes the first --slow GETs of the round take --slow-latency seconds instead (the
simulator's FaultPlan cannot target an operation id; the first K requests of the round stand in
for K slow operations). It shows whether those slow answers hold the others up beyond their own
latency.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.api import ZequenzeClient  # noqa: E402
from bot.model import OperationSpec  # noqa: E402
from bot.poller import Poller  # noqa: E402
from bot.service import utcnow  # noqa: E402
from bot.simulator.endpoint import DEFAULT_INVENTORY, Simulator  # noqa: E402
from bot.simulator.faults import Fault  # noqa: E402
from store import Store  # noqa: E402

OPS_PER_REQUEST = 20
USER = "U123"
POLLER_PARAMS = inspect.signature(Poller).parameters
POLL_INTERVAL = 1.0  # only used by the poller to space out retries of failed checks


def _poll_tuning() -> Any:
    """bot.poller.PollTuning where the poller takes its bound from one, else None."""
    import bot.poller

    return getattr(bot.poller, "PollTuning", None) if "tuning" in POLLER_PARAMS else None


def default_concurrency() -> int:
    """The bound the bot runs with: PollTuning's default, or Poller's own keyword."""
    tuning = _poll_tuning()
    if tuning is not None:
        return tuning().concurrency
    return POLLER_PARAMS["concurrency"].default


def make_poller(*, store: Store, api: Any, concurrency: int) -> Poller:
    kwargs: dict[str, Any] = {"store": store, "api": api, "clock": utcnow}
    if "interval" in POLLER_PARAMS:
        kwargs["interval"] = POLL_INTERVAL
    if "devices" in POLLER_PARAMS:
        from bot.devices import DeviceBook

        kwargs["devices"] = DeviceBook(store=store, clock=utcnow)
    tuning = _poll_tuning()
    if tuning is not None:
        kwargs["tuning"] = tuning(concurrency=concurrency)
    else:
        kwargs["concurrency"] = concurrency
    return Poller(**kwargs)


@dataclass
class Call:
    api_id: str
    began: float
    ended: float
    ok: bool

    @property
    def seconds(self) -> float:
        return self.ended - self.began


class TimedApi:
    """The real client, with each `get_operation` timed (the poller's only call)."""

    def __init__(self, api: ZequenzeClient) -> None:
        self._api = api
        self._lock = threading.Lock()
        self.calls: list[Call] = []

    def get_operation(self, operation_id: str, *, update_status: bool = True) -> Any:
        began, ok = time.monotonic(), False
        try:
            item = self._api.get_operation(operation_id, update_status=update_status)
            ok = item is not None
            return item
        finally:
            with self._lock:
                self.calls.append(Call(operation_id, began, time.monotonic(), ok))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)


def populate(store: Store, api: ZequenzeClient, count: int) -> None:
    """`count` operations submitted to the simulator and tracked by the store, as the bot
    would leave them after the confirm click."""
    devices = sorted(DEFAULT_INVENTORY)
    made = 0
    while made < count:
        now = utcnow()
        size = min(OPS_PER_REQUEST, count - made)
        specs = [
            OperationSpec(
                device_name=devices[(made + n) % len(devices)],
                operation_type="reboot",
                scheduled_at=now,
                parameters={"force": False, "timeout": 300},
            )
            for n in range(size)
        ]
        request = store.create_request(
            specs=specs,
            requester=USER,
            surface="command",
            text="bench",
            tz="UTC",
            immediate=True,
            notes=(),
            channel="C123",
            thread_ts=None,
            response_url=None,
            now=now,
            expires_at=now.replace(year=now.year + 1),
        )
        assert store.confirm(request.id, user=USER, now=now, run_at=None)
        confirmed = store.get_request(request.id)
        assert confirmed is not None
        for op, spec in zip(confirmed.operations, specs, strict=True):
            assert store.start_sending(op.id, now=now)
            created = api.create_operation(spec)
            store.record_submitted(
                op.id,
                api_id=created["id"],
                status=created["status"],
                estimated_duration=created.get("estimated_duration"),
                now=now,
                announce={"request_id": request.id, "operation_id": op.id, "kind": "submitted"},
            )
        made += size


@dataclass
class Round:
    seconds: float
    changed: int
    calls: list[Call]
    started: float


def timed_round(poller: Poller, api: TimedApi) -> Round:
    api.calls.clear()
    started = time.monotonic()
    changed = poller.poll_once()
    seconds = time.monotonic() - started
    return Round(seconds=seconds, changed=changed, calls=list(api.calls), started=started)


class Setup:
    """A simulator, a store with `count` tracked operations and a poller over them."""

    def __init__(self, *, count: int, concurrency: int, tmp: Path) -> None:
        # Operations stay "running" for an hour: every round asks about all of them.
        self.simulator = Simulator(run_seconds=3600, seed=7).start()
        self.store = Store(path=tmp / "opsbot.db")
        self.client = ZequenzeClient(base_url=self.simulator.url, token=self.simulator.token)
        began = time.monotonic()
        populate(self.store, self.client, count)
        self.populate_seconds = time.monotonic() - began
        self.api = TimedApi(self.client)
        self.poller = make_poller(store=self.store, api=self.api, concurrency=concurrency)

    def close(self) -> None:
        self.simulator.faults.clear()
        self.poller.close()
        self.client.close()
        self.store.close()
        self.simulator.stop()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def baseline(args: argparse.Namespace, tmp: Path) -> float:
    setup = Setup(count=args.operations, concurrency=args.concurrency, tmp=tmp / "base")
    try:
        setup.simulator.faults.add(
            Fault(kind="latency", method="GET", seconds=args.api_latency, times=None)
        )
        print("run: every answer slow by the same latency")
        print(f"operations: {args.operations}")
        print(f"concurrency: {args.concurrency}")
        print(f"api latency s: {args.api_latency}")
        print(f"setup s: {setup.populate_seconds:.2f}")
        ideal = args.operations * args.api_latency / args.concurrency
        print(f"ideal round s (operations x latency / concurrency): {ideal:.2f}")
        rounds = []
        for n in range(1, args.rounds + 1):
            result = timed_round(setup.poller, setup.api)
            rounds.append(result)
            failed = sum(not c.ok for c in result.calls)
            print(f"round {n} time s: {result.seconds:.2f}")
            print(f"round {n} ops/s: {len(result.calls) / result.seconds:.0f}")
            print(f"round {n} changed: {result.changed}")
            print(f"round {n} failed checks: {failed}")
        calls = [c.seconds for r in rounds for c in r.calls]
        print(f"call latency p50 ms: {ms(statistics.median(calls))}")
        print(f"call latency max ms: {ms(max(calls))}")
        return statistics.median(r.seconds for r in rounds)
    finally:
        setup.close()


def with_slow(args: argparse.Namespace, tmp: Path, base_seconds: float) -> None:
    setup = Setup(count=args.operations, concurrency=args.concurrency, tmp=tmp / "slow")
    try:
        faults = setup.simulator.faults
        # Checked in order: the first `slow` GETs take the slow latency, the rest the normal one.
        faults.add(Fault(kind="latency", method="GET", seconds=args.slow_latency, times=args.slow))
        faults.add(Fault(kind="latency", method="GET", seconds=args.api_latency, times=None))
        print(f"run: {args.slow} slow answers among {args.operations}")
        print(f"operations: {args.operations}")
        print(f"concurrency: {args.concurrency}")
        print(f"api latency s: {args.api_latency}")
        print(f"slow answers: {args.slow}")
        print(f"slow latency s: {args.slow_latency}")
        result = timed_round(setup.poller, setup.api)
        slow_cut = (args.api_latency + args.slow_latency) / 2
        slow = [c for c in result.calls if c.seconds >= slow_cut]
        fast = [c for c in result.calls if c.seconds < slow_cut]
        fast_done = max((c.ended for c in fast), default=result.started) - result.started
        slow_done = max((c.ended for c in slow), default=result.started) - result.started
        during = [c for c in fast if c.ended - result.started <= args.slow_latency]
        print(f"round time s: {result.seconds:.2f}")
        print(f"round ops/s: {len(result.calls) / result.seconds:.0f}")
        print(f"changed: {result.changed}")
        print(f"failed checks: {sum(not c.ok for c in result.calls)}")
        print(f"slow answers seen: {len(slow)}")
        print(f"slow answers done after s: {slow_done:.2f}")
        print(f"other answers done after s: {fast_done:.2f}")
        print(f"other answers done while the slow ones waited: {len(during)}")
        print(f"other answers latency p50 ms: {ms(statistics.median(c.seconds for c in fast))}")
        print(f"other answers latency max ms: {ms(max(c.seconds for c in fast))}")
        print(f"round time without slow answers s: {base_seconds:.2f}")
        print(f"extra over the round without slow answers s: {result.seconds - base_seconds:.2f}")
        if args.slow >= args.concurrency:
            print("note: slow answers >= concurrency: every worker waited on a slow answer")
    finally:
        setup.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=1000)
    parser.add_argument("--api-latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=default_concurrency())
    parser.add_argument("--rounds", type=int, default=2, help="rounds in the first run")
    parser.add_argument("--slow", type=int, default=5, help="slow answers in the second run")
    parser.add_argument("--slow-latency", type=float, default=3.0)
    args = parser.parse_args(argv)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        os.environ.pop(name, None)
    os.environ.pop("all_proxy", None)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    with tempfile.TemporaryDirectory(prefix="opsbot-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "base").mkdir()
        (tmp / "slow").mkdir()
        base_seconds = baseline(args, tmp)
        if args.slow > 0:
            print()
            with_slow(args, tmp, base_seconds)


if __name__ == "__main__":
    main()
