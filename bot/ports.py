"""What the service needs from a chat surface (Slack, or the console demo)."""

from __future__ import annotations

from collections.abc import Sequence
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


class GroupsUnavailable(Exception):
    """Who is in a user group cannot be known just now (Slack refused, failed or does not know
    the group). A rule naming the group is then not met: the bot refuses rather than guesses,
    and `reason` tells the person why."""

    def __init__(self, group_id: str, reason: str) -> None:
        super().__init__(reason)
        self.group_id = group_id
        self.reason = reason


class Groups(Protocol):
    def members(self, group_id: str) -> frozenset[str]:
        """The user ids in the group. Raises GroupsUnavailable when that cannot be known."""
        ...

    def is_member(self, user: str, ids: Sequence[str]) -> bool:
        """Whether `user` is one of `ids` or in one of the user groups (S…) among them."""
        ...


def is_group(entry: str) -> bool:
    """A Slack user group's id (S…), as opposed to a user's (U… or W…)."""
    return entry.startswith("S")


def member_of(groups: Groups, user: str, ids: Sequence[str]) -> bool:
    """`user` named directly (no group asked at all), or in one of the groups among `ids`.
    A group that cannot be read does not decide: another may still say yes. Only when none
    does is the first failure raised, since "not a member" would then be a guess."""
    if user in ids:
        return True
    failure: GroupsUnavailable | None = None
    for entry in dict.fromkeys(ids):  # each group asked once, in the order written
        if not is_group(entry):
            continue
        try:
            if user in groups.members(entry):
                return True
        except GroupsUnavailable as exc:
            failure = failure or exc
    if failure is not None:
        raise failure
    return False
