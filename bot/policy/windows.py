"""Maintenance windows: weekly ranges of wall-clock time in a zone.

`sat 22:00-sun 06:00`, `daily 02:00-04:00`, `mon-fri 01:00-03:00`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class UnreadableSchedule(ValueError):
    """A `when` that cannot be read; the message says what was wrong and shows a good one."""


@dataclass(frozen=True, kw_only=True)
class Schedule:
    text: str  # as written

    def contains(self, moment: datetime, *, tz: str) -> bool:
        raise NotImplementedError

    def next_start(self, after: datetime, *, tz: str) -> datetime:
        """The first start of a range at or after `after` (aware, UTC)."""
        raise NotImplementedError


def parse_schedule(text: str) -> Schedule:
    raise NotImplementedError
