"""A long history written straight into a store's file, as fast as SQLite takes rows: what the
bot's questions must not pay for. Shared by the cost tests and `bench/costs.py`. Each filler
takes the store's connection (`store.db.conn`) while nothing else uses it.

Only columns every migration since 0005 has are written, so the same filler runs against an
older checkout for a baseline.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.model import OperationSpec
from store import Store
from store.engine import Tx

PAST = "2026-01-01T00:00:00.000+00:00"
PAST_API = "2026-01-01T00:00:00Z"
# Final status words as the API says them, in a mix (the scrape groups them by word).
ENDED_WORDS = ("completed", "completed", "completed", "failed", "Cancelled", "timeout")


def _requests_and_operations(
    conn: sqlite3.Connection, requests: Iterable[tuple], operations: Iterable[tuple]
) -> None:
    """Rows of requests (id, state, requester) and of their operations (request id, seq,
    device, state, api id, status word, final), written long ago."""
    conn.executemany(
        "INSERT INTO requests (id, state, requester, surface, created_at, expires_at, channel) "
        f"VALUES (?, ?, ?, 'command', '{PAST}', '{PAST}', 'C1')",
        requests,
    )
    conn.executemany(
        "INSERT INTO operations (request_id, seq, device_name, state, api_id, status, final, "
        "operation_type, scheduled_at, created_at, updated_at) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?, 'reboot', '{PAST_API}', '{PAST}', '{PAST}')",
        operations,
    )


def sent_history(
    conn: sqlite3.Connection, operations: int, *, per_request: int = 20, prefix: str = "h"
) -> None:
    """`operations` operations sent and ended long ago, in confirmed requests of
    `per_request`, with the audit lines that went with them (the request typed and
    confirmed; each operation created at the API and its final status)."""
    requests = -(-operations // per_request)

    def request_rows() -> Iterator[tuple]:
        for n in range(requests):
            yield (f"{prefix}_{n:08d}", "confirmed", "U0FLEET")

    def operation_rows() -> Iterator[tuple]:
        for n in range(operations):
            request_id = f"{prefix}_{n // per_request:08d}"
            word = ENDED_WORDS[n % len(ENDED_WORDS)]
            device = f"server-{n % 5000:04d}"
            yield (request_id, n % per_request, device, "submitted", f"{prefix}-op-{n}", word, 1)

    def audit_rows() -> Iterator[tuple]:
        for n in range(requests):
            request_id = f"{prefix}_{n:08d}"
            yield (PAST, "requested", "U0FLEET", "C1", request_id, None, None)
            yield (PAST, "confirmed", "U0FLEET", "C1", request_id, None, None)
        for n in range(operations):
            request_id = f"{prefix}_{n // per_request:08d}"
            yield (PAST, "api_created", "opsbot", "C1", request_id, None, f"{prefix}-op-{n}")
            yield (PAST, "api_status", "opsbot", "C1", request_id, None, f"{prefix}-op-{n}")

    with conn:  # one transaction, committed at its end
        _requests_and_operations(conn, request_rows(), operation_rows())
        conn.executemany(
            "INSERT INTO audit (at, event, actor, channel, request_id, device_name, api_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            audit_rows(),
        )


def persons_history(
    conn: sqlite3.Connection, requester: str, requests: int, *, prefix: str = "p"
) -> None:
    """`requests` of one person's requests long over, one device each, in turn: confirmed and
    ended, never clicked (left pending past their expiry), cancelled."""
    kinds = itertools.cycle(("confirmed", "pending", "cancelled"))
    states = [next(kinds) for _ in range(requests)]

    def request_rows() -> Iterator[tuple]:
        for n, state in enumerate(states):
            yield (f"{prefix}_{n:08d}", state, requester)

    def operation_rows() -> Iterator[tuple]:
        for n, state in enumerate(states):
            sent = state == "confirmed"
            yield (
                f"{prefix}_{n:08d}",
                0,
                f"server-{n % 5000:04d}",
                "submitted" if sent else "draft",
                f"{prefix}-op-{n}" if sent else None,
                "completed" if sent else None,
                int(sent),
            )

    with conn:
        _requests_and_operations(conn, request_rows(), operation_rows())


def ended_freezes(conn: sqlite3.Connection, freezes: int) -> None:
    """`freezes` freezes that ran out long ago (never lifted: a freeze that ends is not)."""
    with conn:
        conn.executemany(
            "INSERT INTO freezes (devices, reason, frozen_by, created_at, until) "
            "VALUES (?, ?, ?, ?, ?)",
            (('["server-*"]', "patching", "U0ADMIN", PAST, PAST) for _ in range(freezes)),
        )


def request(
    store: Store,
    devices: Sequence[str],
    *,
    requester: str,
    now: datetime,
    at: datetime,
    text: str = "reboot",
) -> str:
    """A request typed now through the store, as the bot makes one, waiting for its
    requester's click (for 10 minutes); its id."""
    return store.create_request(
        specs=[
            OperationSpec(device_name=d, operation_type="reboot", scheduled_at=at, parameters={})
            for d in devices
        ],
        requester=requester,
        surface="command",
        text=text,
        tz="UTC",
        immediate=False,
        notes=(),
        channel="C1",
        thread_ts=None,
        response_url=None,
        now=now,
        expires_at=now + timedelta(minutes=10),
    ).id


class Steps:
    """SQLite's virtual machine steps taken on a store's connection while it is open: the
    cost of a question, whatever the machine's speed or load."""

    def __init__(self, store: Store) -> None:
        self._conn = store.db.conn
        self.count = 0

    def _step(self) -> int:
        self.count += 1
        return 0  # go on

    def __enter__(self) -> Steps:
        self._conn.set_progress_handler(self._step, 1)
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.set_progress_handler(None, 1)


def kept_and_true_counts(store: Store) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the database keeps counted for the metrics (operations sent by status word, audit
    lines by event) beside the same counted the long way, read together under the store's
    lock: equal unless a change escaped the counting."""

    def pairs(tx: Tx, sql: str) -> dict[Any, Any]:
        return {k: v for k, v in (tuple(r.values()) for r in tx.rows(sql))}

    # One consistent reading while the bot's loops run: as a writer, so that no change lands
    # between two of its questions (PostgreSQL's reads see each statement's own snapshot).
    with store.engine.write() as tx:
        kept = {
            "statuses": pairs(
                tx, "SELECT word, operations FROM operation_statuses WHERE operations <> 0"
            ),
            "events": pairs(tx, "SELECT event, lines FROM audit_events"),
        }
        true = {
            "statuses": pairs(
                tx,
                "SELECT lower(trim(coalesce(status, ''))) AS word, count(*) AS n "
                "FROM operations WHERE api_id IS NOT NULL GROUP BY 1",
            ),
            "events": pairs(
                tx, "SELECT coalesce(event, '') AS event, count(*) AS n FROM audit GROUP BY 1"
            ),
        }
    return kept, true
