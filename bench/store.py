"""What the outbox asks the store on every pass, at a long history: 200,000 requests and
650,000 messages.

`stale_roots()` (the status messages to re-render), `waiting_channels()` and
`next_in_each_thread()` (the next message of every thread of a channel) run several times a
second under the store's lock, and every summary or notice asks whether its request already has
one. Each is timed with today's indexes, then again with the indexes 0003 had (the baseline),
on the same file and the same machine: the next messages then as 0004 to 0010 asked for them,
every thread's at once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store import Store  # noqa: E402

# The next message of every thread at once, as the outbox asked before migration 0011.
_THREAD = (
    "CASE WHEN substr(o.kind, 1, 7) = 'private' THEN 'private:' || o.request_id "
    "ELSE 'thread:' || coalesce(r.channel, '') || ':' "
    "|| coalesce(r.thread_ts, r.status_ts, o.request_id) END"
)
_WAITING = "o.delivered_at IS NULL AND o.given_up_at IS NULL"
EVERY_THREADS_NEXT = (
    f"SELECT o.*, {_THREAD} AS thread FROM outbox o JOIN requests r ON r.id = o.request_id "
    "WHERE o.id IN (SELECT min(o.id) FROM outbox o JOIN requests r ON r.id = o.request_id "
    f"WHERE {_WAITING} GROUP BY {_THREAD}) ORDER BY o.kind != 'root', o.id LIMIT 200"
)


def fill(store: Store, requests: int, *, stale: int) -> None:
    """`requests` confirmed requests whose public messages are up to date but for `stale`."""
    rows = (
        (
            f"r_{n:08d}",
            "confirmed",
            "U1",
            "command",
            "2026-11-26T00:00:00+00:00",
            "2026-11-26T00:15:00+00:00",
            "C1",
            f"{1_700_000_000 + n}.000100",
            2 if n % (requests // max(stale, 1)) == 0 and stale else 1,
            1,
        )
        for n in range(requests)
    )
    with store.engine.write() as tx:  # a benchmark fills the file as fast as it can
        tx.execute_many(
            "INSERT INTO requests (id, state, requester, surface, created_at, expires_at, "
            "channel, status_ts, root_version, root_shown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def fill_outbox(store: Store, requests: int, *, events: int, given_up: int) -> None:
    """`events` messages already delivered and `given_up` given up, spread over the requests:
    the history that the outbox's questions must not pay for."""

    def rows():
        for n in range(events + given_up):
            request_id = f"r_{n % requests:08d}"
            delivered = "2026-11-26T00:00:01+00:00" if n < events else None
            given = None if n < events else "2026-11-26T00:00:01+00:00"
            yield (request_id, "status", "{}", "2026-11-26T00:00:00+00:00", delivered, given, 1)

    with store.engine.write() as tx:
        tx.execute_many(
            "INSERT INTO outbox (request_id, kind, data, created_at, delivered_at, given_up_at, "
            "attempts) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows(),
        )


def timed(job: Callable[[], object], *, runs: int) -> tuple[float, float]:
    """Median and max milliseconds over `runs` calls."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        job()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--stale", type=int, default=20)
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--given-up", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(path=Path(tmp) / "bench.db")
        fill(store, args.requests, stale=args.stale)
        fill_outbox(store, args.requests, events=args.events, given_up=args.given_up)
        print(f"requests: {args.requests:,} ({args.stale} with a stale status message)")
        print(f"outbox: {args.events:,} delivered, {args.given_up:,} given up")
        found = len(store.stale_roots())
        median, worst = timed(store.stale_roots, runs=args.runs)
        print(f"stale_roots ms (indexed): p50 {median:.2f}, max {worst:.2f}; found {found}")
        median, worst = timed(store.waiting_channels, runs=args.runs)
        print(f"waiting_channels ms: p50 {median:.2f}, max {worst:.2f}")
        median, worst = timed(lambda: store.next_in_each_thread("C1"), runs=args.runs)
        print(f"next_in_each_thread ms: p50 {median:.2f}, max {worst:.2f}")
        summary = store.db.execute  # one request's message of a kind, as _maybe_finished asks
        question = "SELECT 1 FROM outbox WHERE request_id = 'r_00000007' AND kind = 'finished'"
        median, worst = timed(lambda: summary(question).fetchone(), runs=args.runs)
        print(f"a request's message of a kind ms: p50 {median:.2f}, max {worst:.2f}")
        # The baseline: the same questions with the indexes 0003 had.
        store.db.execute("DROP INDEX idx_requests_stale_roots")
        store.db.execute("DROP INDEX idx_outbox_pending")
        store.db.execute("DROP INDEX idx_outbox_request_kind")
        store.db.execute("CREATE INDEX idx_outbox_delivered_at_id ON outbox (delivered_at, id)")
        median, worst = timed(store.stale_roots, runs=args.runs)
        print(f"stale_roots ms (baseline, no index): p50 {median:.2f}, max {worst:.2f}")
        heads = lambda: store.db.execute(EVERY_THREADS_NEXT).fetchall()  # noqa: E731
        median, worst = timed(heads, runs=args.runs)
        print(f"next_in_each_thread ms (baseline): p50 {median:.2f}, max {worst:.2f}")
        median, worst = timed(lambda: summary(question).fetchone(), runs=args.runs)
        print(f"a request's message of a kind ms (baseline): p50 {median:.2f}, max {worst:.2f}")
        store.close()


if __name__ == "__main__":
    main()
