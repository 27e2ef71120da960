"""Leases: which process runs a piece of work, for a few seconds at a time unless renewed.

Judged by the database's own clock, not the caller's: replicas on several machines disagree on
the time by a little, and a lease must mean the same to each of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from store.base import StoreBase


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    term: int
    expires_at: datetime


class Leases(StoreBase):
    def take_lease(self, name: str, *, holder: str, seconds: float) -> int | None:
        """Take or renew `name` for `seconds` from the database's now and return the term
        held, or None while another holder's lease runs. A lease that ran out goes to whoever
        asks first, with the next term."""
        with self.engine.write() as tx:
            now = datetime.fromisoformat(tx.value(f"SELECT {self.dialect.clock()}"))
            at = now.isoformat(timespec="milliseconds")
            until = (now + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
            found = tx.row("SELECT holder, term, expires_at FROM leases WHERE name = ?", [name])
            if found is None:
                tx.execute(
                    "INSERT INTO leases (name, holder, term, expires_at, taken_at) "
                    "VALUES (?, ?, 1, ?, ?)",
                    [name, holder, until, at],
                )
                return 1
            running = found["expires_at"] > at
            if found["holder"] == holder and running:
                tx.execute("UPDATE leases SET expires_at = ? WHERE name = ?", [until, name])
                return int(found["term"])
            if running:
                return None
            tx.execute(
                "UPDATE leases SET holder = ?, term = term + 1, expires_at = ?, taken_at = ? "
                "WHERE name = ?",
                [holder, until, at, name],
            )
            return int(found["term"]) + 1

    def release_lease(self, name: str, *, holder: str) -> bool:
        """Give the lease up at once (a clean stop): the next holder need not wait for it to
        run out."""
        with self.engine.write() as tx:
            now = tx.value(f"SELECT {self.dialect.clock()}")
            return (
                tx.execute(
                    "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? "
                    "AND expires_at > ?",
                    [now, name, holder, now],
                )
                == 1
            )

    def lease(self, name: str) -> Lease | None:
        with self.engine.read() as tx:
            found = tx.row("SELECT holder, term, expires_at FROM leases WHERE name = ?", [name])
        if found is None:
            return None
        return Lease(
            name, found["holder"], int(found["term"]), datetime.fromisoformat(found["expires_at"])
        )
