"""Maintenance windows: weekly ranges of wall-clock time in a zone.

`sat 22:00-sun 06:00`, `daily 02:00-04:00`, `mon-fri 01:00-03:00`, several joined by commas.

A range is wall-clock time in the window's zone, so `sat 22:00-sun 06:00` starts at 22:00 on
the local clock whatever the season, and lasts 7 or 9 real hours over a daylight-saving
weekend. A wall time that does not exist (the spring-forward gap) means the first instant
after the gap; a wall time that happens twice (fall-back) means its first pass (fold=0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEK = 7 * 24 * 60  # minutes
EXAMPLE = '"sat 22:00-sun 06:00", "daily 02:00-04:00" or "mon-fri 01:00-03:00"'

# ASCII digits and spaces only: another script's digits (٠٢:٠٠) are not read as hours.
_TIME = r"(\d{1,2}:\d{2})"
_DAY = r"([a-z]+)"
_SHAPES = (
    ("daily", re.compile(rf"^(?:daily|every day)\s+{_TIME}\s*-\s*{_TIME}$", re.ASCII)),
    ("span", re.compile(rf"^{_DAY}\s+{_TIME}\s*-\s*{_DAY}\s+{_TIME}$", re.ASCII)),
    ("days", re.compile(rf"^{_DAY}\s*-\s*{_DAY}\s+{_TIME}\s*-\s*{_TIME}$", re.ASCII)),
    ("day", re.compile(rf"^{_DAY}\s+{_TIME}\s*-\s*{_TIME}$", re.ASCII)),
)


class UnreadableSchedule(ValueError):
    """A `when` that cannot be read; the message says what was wrong and shows a good one."""


@dataclass(frozen=True, kw_only=True)
class Range:
    """One weekly range: it starts `start` minutes after Monday 00:00 (wall clock) and lasts
    `length` wall-clock minutes, so it may run past Sunday into the next week."""

    start: int
    length: int


@dataclass(frozen=True, kw_only=True)
class Schedule:
    text: str  # as written
    ranges: tuple[Range, ...] = ()

    def contains(self, moment: datetime, *, tz: str) -> bool:
        return self.window_at(moment, tz=tz) is not None

    def window_at(self, moment: datetime, *, tz: str) -> tuple[datetime, datetime] | None:
        """The window `moment` is in, as (start, end) in UTC, end excluded; None outside.
        Ranges that overlap or touch count as one window."""
        moment = _aware(moment)
        for start, end in self._windows(moment, tz=tz):
            if start <= moment < end:
                return start, end
        return None

    def next_start(self, after: datetime, *, tz: str) -> datetime:
        """The first start of a window at or after `after` (aware, UTC).

        A window starting exactly at `after` is the answer. When `after` is later inside a
        window, that window has already started: the answer is the start of the next one,
        after this one ends (`window_at` gives the current one).
        """
        after = _aware(after)
        for start, end in self._windows(after, tz=tz):
            if start >= after:
                return start
            if end > after:  # inside this one: the next start is after its end
                after = end
        # parse_schedule leaves a gap every week, so only a schedule built without ranges
        # gets here.
        raise ValueError(f"{self.text!r} has no start")

    def open_until(self, at: datetime, *, now: datetime, tz: str) -> datetime | None:
        """When `at` (a time after `now`) is outside, but the window open at `now` is the last
        to open before it: that window's end (UTC). A Move then takes the window the person is
        in, hours left in it, rather than the first one after their time (next Saturday).
        None otherwise: no window open now, `at` inside it, or another opening before `at`."""
        current = self.window_at(now, tz=tz)
        if current is None or _aware(at) < current[1]:
            return None
        if self.next_start(now, tz=tz) <= _aware(at):
            return None
        return current[1]

    def _windows(self, around: datetime, *, tz: str) -> list[tuple[datetime, datetime]]:
        """Every window of the weeks around `around`, merged and in order, in UTC."""
        zone = ZoneInfo(tz)
        local = around.astimezone(zone)
        monday = local.date() - timedelta(days=local.weekday())
        spans: list[tuple[datetime, datetime]] = []
        # A range lasts under a week, so the week before holds any window still open, and
        # three weeks after hold the end of the current one and the next start.
        for week in range(-1, 3):
            week_start = datetime.combine(monday + timedelta(weeks=week), time())
            for r in self.ranges:
                wall = week_start + timedelta(minutes=r.start)
                start = _instant(wall, zone)
                end = _instant(wall + timedelta(minutes=r.length), zone)
                if end > start:  # a range wholly inside a skipped hour never happens
                    spans.append((start, end))
        spans.sort()
        merged: list[tuple[datetime, datetime]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(UTC)


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time in `zone`: its first pass when it happens twice,
    the end of the gap when the clocks skip it."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap, fold=0 reads the wall time with the offset from before the gap, which lands
    # after the jump; fold=1 reads it with the offset after it, which lands before. The jump
    # lies between: find it to the second.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    after_offset = high.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def parse_schedule(text: str) -> Schedule:
    """Weekly ranges, comma-separated; raises UnreadableSchedule with a plain sentence."""
    if not isinstance(text, str) or not text.strip():
        raise UnreadableSchedule(f"It is empty. Write it like {EXAMPLE}.")
    ranges: list[Range] = []
    for part in text.split(","):
        ranges.extend(_ranges(" ".join(part.lower().split()), whole=text))
    covered = _covered(ranges)
    if covered >= WEEK:
        raise UnreadableSchedule(
            f'"{text}" covers the whole week: leave the window out instead, '
            "since a window that is always open changes nothing; or narrow it, like "
            f"{EXAMPLE}."
        )
    return Schedule(text=text, ranges=tuple(ranges))


def _ranges(part: str, *, whole: str) -> list[Range]:
    if not part:
        raise UnreadableSchedule(
            f'"{whole}" has an empty range between commas. Write it like '
            '"mon-fri 01:00-03:00, sat 22:00-sun 06:00".'
        )
    for shape, pattern in _SHAPES:
        found = pattern.match(part)
        if not found:
            continue
        groups = found.groups()
        if shape == "daily":
            days, first, last = list(range(7)), _minutes(groups[0]), _minutes(groups[1])
            return [_daily(day, first, last, part) for day in days]
        if shape == "day":
            day, first, last = _day(groups[0]), _minutes(groups[1]), _minutes(groups[2])
            return [_daily(day, first, last, part)]
        if shape == "days":
            low, high = _day(groups[0]), _day(groups[1])
            first, last = _minutes(groups[2]), _minutes(groups[3])
            # fri-mon runs over the weekend: fri, sat, sun, mon.
            days = [(low + i) % 7 for i in range((high - low) % 7 + 1)]
            return [_daily(day, first, last, part) for day in days]
        start = _day(groups[0]) * 1440 + _minutes(groups[1])
        end = _day(groups[2]) * 1440 + _minutes(groups[3])
        if start == end:
            raise _same_time(part)
        return [Range(start=start, length=(end - start) % WEEK)]
    if re.search(r"\d\s*(am|pm)\b", part):
        raise UnreadableSchedule(f'"{part}" uses am/pm: write 24-hour times, like {EXAMPLE}.')
    raise UnreadableSchedule(
        f'I can\'t read "{part}" as a weekly time range. Write it like {EXAMPLE}, '
        "with commas between ranges."
    )


def _daily(day: int, first: int, last: int, part: str) -> Range:
    if first == last:
        raise _same_time(part)
    # 22:00-02:00 runs past midnight into the next day.
    return Range(start=day * 1440 + first, length=(last - first) % 1440 or 1440)


def _same_time(part: str) -> UnreadableSchedule:
    return UnreadableSchedule(
        f'"{part}" starts and ends at the same time. Write it like {EXAMPLE}.'
    )


def _day(word: str) -> int:
    for names in (DAYS, FULL_DAYS):
        if word in names:
            return names.index(word)
    raise UnreadableSchedule(
        f'"{word}" is not a day: use mon, tue, wed, thu, fri, sat and sun, or the full '
        'names, as in "mon-fri 01:00-03:00".'
    )


def _minutes(clock: str) -> int:
    hours, minutes = (int(n) for n in clock.split(":"))
    if hours == 24 and minutes == 0:
        return 1440  # the end of the day, as in "daily 20:00-24:00"
    if hours > 23 or minutes > 59:
        raise UnreadableSchedule(
            f'"{clock}" is not a time of day: use 24-hour times from 00:00 to 23:59, '
            f"as in {EXAMPLE}."
        )
    return hours * 60 + minutes


def _covered(ranges: list[Range]) -> int:
    """Wall-clock minutes of the week that some range covers."""
    minutes = set()
    for r in ranges:
        minutes.update((r.start + i) % WEEK for i in range(r.length))
    return len(minutes)
