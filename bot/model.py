"""Plain domain values shared by the grammar, the service, the store and the adapters.

Nothing here knows about Slack: these are the words the rest of the bot speaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.understand.waves import split


@dataclass(frozen=True, kw_only=True)
class OperationSpec:
    """One API call to make: one operation on one device."""

    device_name: str
    operation_type: str
    scheduled_at: datetime  # timezone-aware, UTC
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        """The POST body, exactly as the API's own example."""
        return {
            "device_name": self.device_name,
            "operation_type": self.operation_type,
            "scheduled_at": format_api_time(self.scheduled_at),
            "parameters": self.parameters,
        }


@dataclass(frozen=True, kw_only=True)
class Plan:
    """What the bot understood from one request: the operations and anything worth saying."""

    operations: tuple[OperationSpec, ...]
    notes: tuple[str, ...] = ()
    tz: str = "UTC"  # the zone the time was understood in (the requester's)
    immediate: bool = False  # no time given, or "now": scheduled at confirmation time
    # `in waves of 10` / `10 at a time`: that many devices at a time (None: all at once);
    # `with a canary`: one device first, alone (bot/understand/waves.py).
    wave_size: int | None = None
    canary: bool = False

    @property
    def waves(self) -> list[list[str]] | None:
        """The devices wave by wave, when waves were asked for; None otherwise."""
        if not self.wave_size and not self.canary:
            return None
        names = [spec.device_name for spec in self.operations]
        return split(names, size=self.wave_size, canary=self.canary)


@dataclass(frozen=True, kw_only=True)
class HelpQuery:
    """`/ops help`."""


@dataclass(frozen=True, kw_only=True)
class ListQuery:
    """`/ops list`, `/ops list page 2`, `/ops list <device>`."""

    device_name: str | None = None
    page: int = 1


@dataclass(frozen=True, kw_only=True)
class StatusQuery:
    """`/ops status txn_123`."""

    operation_id: str


Command = Plan | HelpQuery | ListQuery | StatusQuery


class Refusal(Exception):
    """Input the bot will not act on: says what was wrong and shows a correct example."""

    def __init__(self, reason: str, *, example: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.example = example

    def __str__(self) -> str:
        return f"{self.reason}\nFor example: {self.example}" if self.example else self.reason


def format_api_time(moment: datetime) -> str:
    """`2024-01-15T14:00:00Z`: the API's format, always UTC, whole seconds."""
    if moment.tzinfo is None:
        raise ValueError("scheduled times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_api_time(value: object) -> datetime | None:
    """An API timestamp (`2024-01-15T14:00:00Z`, or any ISO 8601) as an aware datetime; None
    for anything else. A time without a zone is taken as UTC, as the API means it."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
