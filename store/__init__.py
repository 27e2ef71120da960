"""SQLite state of the bot: requests, operations, status history and the outbox."""

from store.db import Store
from store.records import (
    FINISHED,
    ROOT,
    SUCCEEDED_STATUSES,
    VANISHED,
    WAITING_STATUSES,
    OperationRecord,
    OutboxEvent,
    RequestRecord,
    is_final,
    is_running,
)

__all__ = [
    "FINISHED",
    "ROOT",
    "SUCCEEDED_STATUSES",
    "VANISHED",
    "WAITING_STATUSES",
    "OperationRecord",
    "OutboxEvent",
    "RequestRecord",
    "Store",
    "is_final",
    "is_running",
]
