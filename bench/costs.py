"""What the bot asks its store again and again, at a long history: a `/metrics` scrape, a Home
tab, the freeze check of each send.

    python bench/costs.py [--operations 1000000] [--home-requests 20000] [--freezes 20000]
                          [--runs 20] [--repo PATH]

Fills one SQLite file (tests/history.py writes the rows straight in): `--operations`
operations sent and ended long ago, in requests of 20, with their audit lines (typed,
confirmed, created at the API, final status); one person's `--home-requests` requests long
over (confirmed and ended, never clicked, cancelled, in turn) beside 20 of their operations in
flight and 3 requests waiting for their click; `--freezes` freezes that ran out (never lifted,
as the bot leaves them) beside one active. Then, each timed (median and worst of `--runs`) and
counted in SQLite virtual machine steps (the cost whatever the machine's load):

- a scrape: the first after a start (a new registry), then the next ones;
- the Home tab's reading of that person (`bot.slack.home_tab.gather`);
- the claim before a POST (`Store.start_sending`, which checks the freezes in its
  transaction) and `Store.active_freezes`.

--repo runs it against another checkout of opsbot (its `bot/` and `store/` are imported; the
filler is this one's): `git archive <commit> | tar -x -C /tmp/before`, then
`python bench/costs.py --repo /tmp/before` gives the baseline on the same machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from _moved import old_names_too  # bench/, beside this script

HERE = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=1_000_000)
    parser.add_argument("--home-requests", type=int, default=20_000)
    parser.add_argument("--freezes", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repo", type=Path, default=HERE)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.repo.resolve()))
    old_names_too()  # a checkout from before issue 18's moves, too

    from bot.policy.rules import Policy
    from bot.run.metrics import Metrics
    from bot.slack import home_tab
    from store import Store

    try:
        from store.base import _now_text
        from store.dialect import SqliteDialect
        from store.freezes import frozen_sql

        claim_check = frozen_sql(SqliteDialect())
    except ImportError:  # the code before the engine (issue 17), run as a baseline
        from store.db import _FROZEN as claim_check
        from store.db import _now_text

    spec = importlib.util.spec_from_file_location("history", HERE / "tests" / "history.py")
    assert spec is not None and spec.loader is not None
    history = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(history)

    def measured(store: Store, job: Callable[[], object]) -> str:
        with history.Steps(store) as steps:
            job()
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            job()
            times.append((time.perf_counter() - started) * 1000)
        return (
            f"p50 {statistics.median(times):.2f} ms, max {max(times):.2f} ms, {steps.count:,} steps"
        )

    now = datetime.now(UTC)
    person = "U0ME"
    print(f"repo: {args.repo.resolve()}")
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(path=Path(tmp) / "costs.db")
        started = time.perf_counter()
        history.sent_history(store.db.conn, args.operations)
        history.persons_history(store.db.conn, person, args.home_requests)
        history.ended_freezes(store.db.conn, args.freezes)
        # What is not history: the person's 20 operations in flight, 3 requests waiting for
        # their click, one active freeze (of other devices), one operation about to be sent.
        for number, minutes in enumerate((30, 60)):
            devices = [f"web-{number}-{n:02d}" for n in range(10)]
            at = now + timedelta(minutes=minutes)
            request_id = history.request(store, devices, requester=person, now=now, at=at)
            store.confirm(request_id, user=person, now=now, run_at=None)
        for _ in range(3):
            at = now + timedelta(hours=1)
            history.request(store, ["web-9"], requester=person, now=now, at=at)
        store.add_freeze(
            devices=["db-*"], reason="", by="U0ADMIN", channel=None, now=now, until=None
        )
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the fill's pages, written out
        (op_id,) = store.db.execute(
            "SELECT id FROM operations WHERE state = 'new' ORDER BY id LIMIT 1"
        ).fetchone()
        print(
            f"filled in {time.perf_counter() - started:.0f} s: {args.operations:,} operations "
            f"ended, {args.home_requests:,} requests of one person, {args.freezes:,} freezes "
            "ran out"
        )

        metrics = Metrics(store=store, next_check_due=store.next_check_due, clock=lambda: now)
        started = time.perf_counter()
        with history.Steps(store) as steps:
            first = metrics.exposition()
        print(
            f"first scrape after a start: {(time.perf_counter() - started) * 1000:.0f} ms, "
            f"{steps.count:,} steps"
        )
        print(f"each scrape after: {measured(store, metrics.exposition)}")
        assert b"opsbot_operations" in first
        print(f"  of which Store.gauges: {measured(store, store.gauges)}")

        service = SimpleNamespace(store=store, policy=Policy(), clock=lambda: now)
        data = home_tab.gather(service, user=person, tz="UTC")  # type: ignore[arg-type]
        assert (data.in_flight_total, len(data.to_confirm)) == (20, 3)

        def gather() -> None:
            home_tab.gather(service, user=person, tz="UTC")  # type: ignore[arg-type]

        print(f"Home tab's reading: {measured(store, gather)}")

        def claim() -> None:
            assert store.start_sending(op_id, now=now)
            store.db.execute("UPDATE operations SET state = 'new' WHERE id = ?", [op_id])

        print(f"claim before a POST (freeze check): {measured(store, claim)}")
        # The claim's own question, without its two commits (whose time is the disk's).
        check = f"SELECT 1 FROM operations WHERE id = ? AND NOT EXISTS ({claim_check})"

        def frozen() -> None:
            assert store.db.execute(check, [op_id, _now_text(now)]).fetchone()

        print(f"  of which the freeze check: {measured(store, frozen)}")
        print(f"active_freezes: {measured(store, lambda: store.active_freezes(now=now))}")
        store.close()


if __name__ == "__main__":
    main()
