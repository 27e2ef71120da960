"""SQLite state of the bot: requests, operations, status history and the outbox."""

from store.db import Store
from store.records import VANISHED, OperationRecord, OutboxEvent, RequestRecord, is_final

__all__ = ["VANISHED", "OperationRecord", "OutboxEvent", "RequestRecord", "Store", "is_final"]
