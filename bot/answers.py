"""What the service answers, as plain values: each surface (Slack, the console) renders them
its own way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.understand.catalog import OperationKind
from bot.understand.naming import DEFAULT_MAX_DEVICES
from store import Freeze, RequestRecord

LIST_PAGE = 20  # operations on one page of `/ops list`


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The answer to a click: `reason` is "ok" or why nothing happened."""

    reason: str
    request: RequestRecord | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


@dataclass(frozen=True, kw_only=True)
class OperationList:
    items: list[dict[str, Any]] = field(default_factory=list)  # newest first
    total: int = 0  # how many operations the API holds
    page: int = 1
    page_size: int = LIST_PAGE
    # One device's list: how many of the newest operations were searched; None: all of them.
    searched: int | None = None


# What the bot answers to a typed request; each surface renders these its own way.


@dataclass(frozen=True, kw_only=True)
class Refused:
    reason: str
    example: str  # "" when the reason itself says what to do instead
    markup: bool = False  # the reason is mrkdwn already (it names people or channels)


@dataclass(frozen=True, kw_only=True)
class Proposed:
    request: RequestRecord
    dry_run: bool = False  # `/ops plan …`: shown, never stored, no buttons


@dataclass(frozen=True, kw_only=True)
class Frozen:
    """A freeze set (`lifted` empty) or freezes lifted; `held` is what the API already holds
    for the frozen devices, which a freeze cannot stop."""

    freeze: Freeze | None = None
    lifted: tuple[Freeze, ...] = ()
    held: tuple[dict[str, Any], ...] = ()
    held_unknown: str = ""  # the API could not be read for them


@dataclass(frozen=True, kw_only=True)
class Listed:
    listing: OperationList
    device: str | None


@dataclass(frozen=True, kw_only=True)
class Looked:
    operation_id: str
    item: dict[str, Any] | None


@dataclass(frozen=True, kw_only=True)
class Helped:
    kinds: tuple[OperationKind, ...]  # those this person may request
    admin: bool = False  # may freeze and unfreeze
    max_devices: int = DEFAULT_MAX_DEVICES  # the policy's bound on one request


@dataclass(frozen=True, kw_only=True)
class Failed:
    message: str  # a sentence for a person (an API error)


Answer = Refused | Proposed | Listed | Looked | Helped | Failed | Frozen
