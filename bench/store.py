"""What the outbox asks the store on every pass, at a long history: 200,000 requests.

`stale_roots()` (the status messages to re-render) and `next_in_each_thread()` (the next message
of every thread) run several times a second under the store's lock. Each is timed with the
migration's indexes, then again with the index dropped (the baseline: what 0003 had), so the
two figures come from the same file on the same machine.
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
    with store._write() as db:  # noqa: SLF001 - a benchmark fills the file as fast as it can
        db.conn.executemany(
            "INSERT INTO requests (id, state, requester, surface, created_at, expires_at, "
            "channel, status_ts, root_version, root_shown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
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
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(path=Path(tmp) / "bench.db")
        fill(store, args.requests, stale=args.stale)
        print(f"requests: {args.requests:,} ({args.stale} with a stale status message)")
        found = len(store.stale_roots())
        median, worst = timed(store.stale_roots, runs=args.runs)
        print(f"stale_roots ms (indexed): p50 {median:.2f}, max {worst:.2f}; found {found}")
        median, worst = timed(store.next_in_each_thread, runs=args.runs)
        print(f"next_in_each_thread ms: p50 {median:.2f}, max {worst:.2f}")
        store.db.execute("DROP INDEX idx_requests_stale_roots")
        median, worst = timed(store.stale_roots, runs=args.runs)
        print(f"stale_roots ms (baseline, no index): p50 {median:.2f}, max {worst:.2f}")
        store.close()


if __name__ == "__main__":
    main()
