"""What the service needs from a chat surface (Slack, or the console demo)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from store import OutboxEvent, RequestRecord


@dataclass(frozen=True, kw_only=True)
class ThreadRef:
    """Where a confirmed request lives in public: its channel and its live status message."""

    channel: str | None
    status_ts: str | None


class CannotPost(Exception):
    """Slack will never take this (or open this thread): retrying cannot help. `message` tells
    the requester why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Notifier(Protocol):
    def open_thread(self, request: RequestRecord) -> ThreadRef:
        """Post the public message for a request being confirmed. Raises CannotPost."""
        ...

    def deliver(self, event: OutboxEvent, request: RequestRecord) -> None:
        """Announce one outbox event: in the request's thread, or privately to the requester
        for kinds starting with "private". Raises CannotPost when it will never succeed (the
        message is given up), anything else to be retried later."""
        ...

    def refresh(self, request: RequestRecord) -> None:
        """Re-render the public status message from the request as it is now. Raises
        CannotPost when the message can no longer be edited."""
        ...
