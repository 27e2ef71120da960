"""SQLite state of the bot: requests, operations, status history and the outbox."""

from store.db import Store
from store.records import FINAL_STATUSES, OperationRecord, OutboxEvent, RequestRecord, is_final

__all__ = ["FINAL_STATUSES", "OperationRecord", "OutboxEvent", "RequestRecord", "Store", "is_final"]
