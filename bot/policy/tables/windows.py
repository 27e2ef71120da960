"""`[[windows]]`: when the matching devices may be worked on, in which zone, and what happens
to an operation outside."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from zoneinfo import available_timezones

from bot.policy.tables.devices import DevicePatterns
from bot.policy.tables.reader import Table, quoted_or
from bot.policy.windows import Schedule, UnreadableSchedule, parse_schedule
from bot.understand.when import zone_for

OUTSIDE_WARN = "warn"
OUTSIDE_APPROVE = "approve"
OUTSIDE_BLOCK = "block"


@dataclass(frozen=True, kw_only=True)
class Window:
    """`[[windows]]`: when the matching devices may be worked on."""

    devices: tuple[str, ...] | None = None  # globs, a group's members in its place; None: all
    written: tuple[str, ...] | None = None  # the patterns as the file has them (`@db`), for people
    when: Schedule
    tz: str = "UTC"
    outside: str = OUTSIDE_WARN  # "warn" | "approve" | "block"
    line: int = 0


WINDOW_KEYS = ("devices", "when", "tz", "outside")


class WindowsTable(DevicePatterns):
    def _window(self, table: Table, index: int) -> Window | None:
        before = len(self._problems)
        self._unknown_keys(table, WINDOW_KEYS)
        devices, written = self._patterns(table, "devices")
        schedule = None
        when = self._string(table, "when", required=True)
        if when is not None:
            try:
                schedule = parse_schedule(when)
            except UnreadableSchedule as exc:
                self._say_key(table, "when", f"when: {exc}")
        tz = self._string(table, "tz") or "UTC"
        if "tz" in table.data and isinstance(table.data["tz"], str):
            try:
                zone_for(tz)
            except ValueError:
                self._say_key(table, "tz", _unknown_zone(tz))
        outside = self._choice(
            table, "outside", (OUTSIDE_WARN, OUTSIDE_APPROVE, OUTSIDE_BLOCK), OUTSIDE_WARN
        )
        if schedule is None or len(self._problems) > before:
            return None
        return Window(
            devices=devices,
            written=written,
            when=schedule,
            tz=tz,
            outside=outside,
            line=table.line,
        )


def _unknown_zone(tz: str) -> str:
    zones = available_timezones()
    same = [z for z in zones if z.lower() == tz.lower()]
    close = same or get_close_matches(tz, sorted(zones), n=3, cutoff=0.6)
    hint = f" (did you mean {quoted_or([f'{z}' for z in close])}?)" if close else ""
    return f'tz: there is no time zone "{tz}"{hint}; use a name like "Europe/Madrid", or "UTC"'
