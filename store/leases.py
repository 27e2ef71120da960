"""Leases: which process runs a piece of work, for at most a few seconds unless renewed.

Judged by the database's own clock, not the caller's: replicas on several machines disagree
on the time by a little, and a lease must mean the same to each of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    term: int
    expires_at: datetime


class LeaseStore:
    """Mixed into `Store`: needs its `_write()` and `_read_rows()`."""

    def take_lease(self, name: str, *, holder: str, seconds: float) -> int | None:
        """Take or renew `name` for `seconds` from now (the database's now) and return the
        term held, or None while another holder's lease runs. A lease that ran out goes to
        whoever asks first, with the next term."""
        with self._write() as db:  # type: ignore[attr-defined]
            now = datetime.fromisoformat(db.execute(f"SELECT {_CLOCK}").fetchone()[0])
            until = (now + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
            at = now.isoformat(timespec="milliseconds")
            found = db.execute(
                "SELECT holder, term, expires_at FROM leases WHERE name = ?", [name]
            ).fetchone()
            if found is None:
                db.execute(
                    "INSERT INTO leases (name, holder, term, expires_at, taken_at) "
                    "VALUES (?, ?, 1, ?, ?)",
                    [name, holder, until, at],
                )
                return 1
            held_by, term, expires_at = found
            if held_by == holder and expires_at > at:
                db.execute("UPDATE leases SET expires_at = ? WHERE name = ?", [until, name])
                return int(term)
            if expires_at > at:
                return None
            db.execute(
                "UPDATE leases SET holder = ?, term = term + 1, expires_at = ?, taken_at = ? "
                "WHERE name = ?",
                [holder, until, at, name],
            )
            return int(term) + 1

    def release_lease(self, name: str, *, holder: str) -> bool:
        """Give the lease up at once (a clean stop), so the next holder need not wait for it
        to run out."""
        with self._write() as db:  # type: ignore[attr-defined]
            now = db.execute(f"SELECT {_CLOCK}").fetchone()[0]
            return (
                db.execute(
                    "UPDATE leases SET expires_at = ? WHERE name = ? AND holder = ? "
                    "AND expires_at > ?",
                    [now, name, holder, now],
                ).rowcount
                == 1
            )

    def lease(self, name: str) -> Lease | None:
        with self._lock:  # type: ignore[attr-defined]
            found = self.db.execute(  # type: ignore[attr-defined]
                "SELECT holder, term, expires_at FROM leases WHERE name = ?", [name]
            ).fetchone()
        if found is None:
            return None
        holder, term, expires_at = found
        return Lease(name, holder, int(term), datetime.fromisoformat(expires_at))


# The database's now, as the store writes times (ISO 8601, UTC, milliseconds).
_CLOCK = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"
