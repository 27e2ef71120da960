"""SQLite state of the bot: requests, operations, status history and the outbox."""

from store.db import Store
from store.records import (
    APPROVE,
    FINISHED,
    FOUND_AFTER_DROP,
    FOUND_LATE,
    REJECT,
    ROOT,
    SUCCEEDED_STATUSES,
    VANISHED,
    WAITING_STATUSES,
    Freeze,
    OperationRecord,
    OutboxEvent,
    RequestRecord,
    Vote,
    is_final,
    is_running,
)

__all__ = [
    "APPROVE",
    "REJECT",
    "FINISHED",
    "FOUND_AFTER_DROP",
    "FOUND_LATE",
    "ROOT",
    "SUCCEEDED_STATUSES",
    "VANISHED",
    "WAITING_STATUSES",
    "Freeze",
    "OperationRecord",
    "OutboxEvent",
    "RequestRecord",
    "Store",
    "Vote",
    "is_final",
    "is_running",
]
