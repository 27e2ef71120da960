"""Small things kept: facts learnt at start, Slack events seen, device names the API showed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from store.base import (
    StoreBase,
    _now_text,
)
from store.records import SUCCEEDED_STATUSES


class Facts(StoreBase):
    def set_fact(self, key: str, value: str) -> None:
        with self.engine.write() as tx:
            tx.execute(
                "INSERT INTO facts (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )

    def fact(self, key: str) -> str | None:
        if not self.engine.has_table("facts"):
            return None
        with self.engine.read() as tx:
            return tx.value("SELECT value FROM facts WHERE key = ?", [key])

    def first_time(self, key: str, *, now: datetime) -> bool:
        """True the first time `key` (a Slack event id) is seen; False for a redelivery."""
        with self.engine.write() as tx:
            # Slack retries within minutes; a day of keys is plenty and keeps the table small.
            tx.execute("DELETE FROM seen_events WHERE at < ?", [_now_text(now - timedelta(days=1))])
            return (
                tx.execute(
                    "INSERT INTO seen_events (key, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [key, _now_text(now)],
                )
                == 1
            )

    def learn_devices(self, names: Sequence[str], *, now: datetime) -> None:
        """Remember these spellings (the API's own): the newest spelling of a name wins."""
        rows = {name.lower(): name for name in names if name}
        if not rows:
            return
        with self.engine.write() as tx:
            tx.execute_many(
                "INSERT INTO devices (key, name, seen_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET name = excluded.name, seen_at = excluded.seen_at",
                [(key, name, _now_text(now)) for key, name in rows.items()],
            )

    def known_devices(self) -> dict[str, str]:
        """Every device name the API has shown, by its lower-case form."""
        with self.engine.read() as tx:
            return {r["key"]: r["name"] for r in tx.rows("SELECT key, name FROM devices")}

    def succeeded_parameters(self, *, within: int) -> list[tuple[str, dict[str, Any]]]:
        """The operation type and parameters of each operation that succeeded at the API among
        the newest `within` the bot sent (the names of services that ran): read from the newest
        end and no further, however long the history."""
        with self.engine.read() as tx:
            rows = tx.rows(
                "SELECT operation_type, parameters, status FROM operations "
                "ORDER BY id DESC LIMIT ?",
                [within],
            )
        found = []
        for row in rows:
            if (row["status"] or "").strip().lower() not in SUCCEEDED_STATUSES:
                continue
            params = json.loads(row["parameters"] or "{}")
            if isinstance(params, dict):
                found.append((str(row["operation_type"]), params))
        return found
