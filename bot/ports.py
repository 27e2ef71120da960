"""What the service needs from a chat surface (Slack, or the console demo)."""

from __future__ import annotations

from typing import Protocol

from store import OutboxEvent, RequestRecord


class CannotPost(Exception):
    """Slack will never take this message: retrying cannot help. `message` tells the
    requester why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotInChannel(CannotPost):
    """The channel itself turns the bot away (not a member, the channel gone or archived): a
    request whose public message meets this is stopped before anything reaches the API."""


class RateLimited(Exception):
    """Slack said 429: nothing more goes into that channel for `retry_after` seconds. The
    message was not posted."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate-limited for {retry_after:g} s")
        self.retry_after = retry_after


class Notifier(Protocol):
    def post_root(self, request: RequestRecord, *, retry: bool) -> str:
        """Post the public message of a confirmed request and return its id (Slack's ts).
        `retry`: an earlier attempt may have landed, so look for it before posting again.
        Raises NotInChannel, CannotPost, RateLimited, or anything else to be tried again."""
        ...

    def deliver(self, event: OutboxEvent, request: RequestRecord) -> None:
        """Announce one outbox event: in the request's thread, or privately to the requester
        for kinds starting with "private". Raises CannotPost when it will never succeed (the
        message is given up), RateLimited, or anything else to be retried later."""
        ...

    def refresh(self, request: RequestRecord) -> None:
        """Re-render the public status message from the request as it is now. Raises
        CannotPost when the message can no longer be edited, RateLimited."""
        ...
