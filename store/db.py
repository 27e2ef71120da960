"""The bot's state: `Store`, composed of the parts of store/ each keeping one kind of thing
(requests, approvals, waves, operations, the outbox, the audit trail, freezes, …), over one
engine (store/engine.py; SQLite today, in one file through sqlite-utils).

Every state change is an atomic compare-and-set: `UPDATE … WHERE state = <expected>`, and the
caller learns whether it won. That is what makes a double click create one operation.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.approvals import Approvals
from store.audit import Audit
from store.base import StoreBase
from store.engine import Engine, SqliteEngine
from store.facts import Facts
from store.freezes import Freezes
from store.home import Home
from store.leases import Leases
from store.operations import Operations
from store.outbox import Outbox
from store.pacing import Pacing
from store.polling import Polling
from store.requests import Requests
from store.unknown import UnknownOutcomes
from store.waves import Waves
from store.windows import Windows

if TYPE_CHECKING:
    from sqlite_utils import Database


def is_database_url(database: str) -> bool:
    """Whether `database` names a PostgreSQL database rather than a SQLite file."""
    return database.startswith(("postgresql://", "postgres://"))


class Store(
    Requests,
    Approvals,
    Windows,
    Waves,
    Operations,
    UnknownOutcomes,
    Outbox,
    Pacing,
    Polling,
    Home,
    Freezes,
    Facts,
    Leases,
    Audit,
    StoreBase,
):
    """The bot's state over one engine (store/engine.py): every statement in a transaction
    from `engine.write()` or a reading from `engine.read()`."""

    engine: Engine

    def __init__(
        self, *, path: str | Path | None = None, url: str | None = None, read_only: bool = False
    ) -> None:
        """A SQLite file at `path`, or the PostgreSQL database at `url` (brought up to date
        first). `read_only`: for looking only (`opsbot audit`): nothing is created or
        migrated, and a write fails (SQLite: the file must exist)."""
        if (path is None) == (url is None):
            raise TypeError("Store takes a path (SQLite) or a url (PostgreSQL)")
        if url is not None:
            # Imported here: psycopg loads its C parts, which SQLite's users never need.
            from store.postgres import PostgresEngine

            self.engine = PostgresEngine(url, read_only=read_only)
        else:
            self.path = str(path)
            self.engine = SqliteEngine(path=path, read_only=read_only)
        # Other processes may use this database at once (replicas), where a SQLite file is
        # kept to one process by its lock.
        self.shared = url is not None
        self.dialect = self.engine.dialect
        # The holder of the background lease this process claims work under (set by the
        # runtime when replicas share the database), or None: no fencing (store/leases.py).
        self.fence: str | None = None

    @classmethod
    def open(cls, database: str | Path) -> Store:
        """`database`: a PostgreSQL URL (postgresql://, postgres://) or a SQLite file's path."""
        if is_database_url(str(database)):
            return cls(url=str(database))
        return cls(path=database)

    @property
    def db(self) -> Database:
        """SQLite only: the sqlite-utils Database under the engine, for the tests and
        benchmarks that are about SQLite itself (its migrations, its VM steps, its plans)."""
        assert isinstance(self.engine, SqliteEngine), "a SQLite store only"
        return self.engine.db

    def backup(self, path: str | Path) -> None:
        """A consistent copy of the live database (SQLite's online backup), safe while the
        bot runs."""
        assert isinstance(self.engine, SqliteEngine), "a SQLite store only"
        self.engine.backup(path)

    def close(self) -> None:
        self.engine.close()

    def ping(self) -> None:
        """A trivial query: raises when the database does not answer (closed, unreadable)."""
        self.engine.ping()

    def gauges(self) -> dict[str, Any]:
        """What the metrics read at each scrape, each from a small table or an index of what
        is unfinished: the operations sent by status word (counted as they change), the
        outbox's backlog and its oldest message's time, unknown outcomes and requests waiting
        for approval."""
        with self.engine.read() as tx:
            statuses = tx.rows(
                "SELECT word, operations FROM operation_statuses WHERE operations > 0"
            )
            backlog = tx.row(
                "SELECT count(*) AS n, min(created_at) AS oldest FROM outbox "
                "WHERE delivered_at IS NULL AND given_up_at IS NULL"
            )
            unknown = tx.value("SELECT count(*) FROM operations WHERE state = 'unknown'")
            approving = tx.value("SELECT count(*) FROM requests WHERE state = 'approving'")
        assert backlog is not None
        oldest = backlog["oldest"]
        return {
            "statuses": {r["word"]: int(r["operations"]) for r in statuses},
            "outbox_backlog": int(backlog["n"]),
            "outbox_oldest": datetime.fromisoformat(oldest) if oldest else None,
            "unknown_outcomes": int(unknown),
            "approvals_waiting": int(approving),
        }

    # --- the audit trail ------------------------------------------------------------------

    # --- facts learnt at start ------------------------------------------------------------

    # --- requests -------------------------------------------------------------------------

    # --- waves ------------------------------------------------------------------------------

    # --- judged again when the bot acts ------------------------------------------------------

    # --- freezes ----------------------------------------------------------------------------

    # --- the Home tab: what one person sees, from the store alone --------------------------

    # --- operations -----------------------------------------------------------------------

    # --- unknown outcomes, settled by the API's list or by a person --------------------------

    # --- the poller's bookkeeping -----------------------------------------------------------

    # --- device names the API has shown -------------------------------------------------------

    # --- outbox ---------------------------------------------------------------------------
