"""`[demo]`: who is who in `opsbot demo` (the channel, the person, the user groups' members)
and which devices fail there."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.policy.tables.reader import CHANNEL_ID, Table, TableReader, shown
from bot.understand.names import check_device_name

USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
USER_GROUP_ID = re.compile(r"^S[A-Z0-9]+$")
DEMO_KEYS = ("channel", "user", "groups", "fail")


@dataclass(frozen=True, kw_only=True)
class DemoSetup:
    """`[demo]`: who is who in `opsbot demo`, where there is no Slack to say it. The bot itself
    (`opsbot run`) checks the table as it checks the rest of the file, and uses none of it."""

    channel: str | None = None  # the channel the person at the terminal types in
    user: str | None = None  # who the person at the terminal is (U… or W…)
    # User groups' members, as Slack's usergroups.users.list would give them: S… → U…, W…
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fail: tuple[str, ...] = ()  # devices whose operations fail in the demo's simulator


class DemoTable(TableReader):
    def _demo(self, value: object) -> DemoSetup:
        if value is None:
            return DemoSetup()
        line = self._lines.table("demo") or self._lines.key("demo", table=0)
        if not isinstance(value, dict):
            self._say("", line, "demo must be one table, [demo]")
            return DemoSetup()
        table = Table(data=value, where="[demo]", line=line)
        self._unknown_keys(table, DEMO_KEYS)
        channel = self._string(table, "channel")
        if channel is not None and not CHANNEL_ID.match(channel):
            self._say_key(table, "channel", f'"{channel}" is not a channel id (C…, G… or D…)')
        user = self._string(table, "user")
        if user is not None and not USER_ID.match(user):
            self._say_key(table, "user", f'"{user}" is not a user id (U… or W…), like "U0001"')
        groups: dict[str, tuple[str, ...]] = {}
        given = value.get("groups")
        if given is not None and not isinstance(given, dict):
            self._say_key(
                table,
                "groups",
                "groups must be a table of user groups and their members, like "
                f'{{ S0DBA = ["U0002", "U0003"] }}, not {shown(given)}',
            )
        for group, members in (given if isinstance(given, dict) else {}).items():
            if not USER_GROUP_ID.match(group):
                self._say_key(table, "groups", f'"{group}" is not a user group id (S…)')
            elif not isinstance(members, list) or not all(
                isinstance(m, str) and USER_ID.match(m) for m in members
            ):
                self._say_key(
                    table,
                    "groups",
                    f'{group} must list user ids (U… or W…), like ["U0002", "U0003"], '
                    f"not {shown(members)}",
                )
            else:
                groups[group] = tuple(dict.fromkeys(members))
        fail = self._strings(table, "fail", what="device names") or ()
        for name in fail:
            if problem := check_device_name(name):
                self._say_key(table, "fail", f"fail: {problem}")
        return DemoSetup(channel=channel, user=user, groups=groups, fail=fail)
