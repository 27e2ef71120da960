"""SQLite state of the bot: requests, operations, status history and the outbox."""

from store.db import Store
from store.records import (
    FINISHED,
    FOUND_AFTER_DROP,
    FOUND_LATE,
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
    "FOUND_AFTER_DROP",
    "FOUND_LATE",
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
