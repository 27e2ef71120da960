"""`[groups]`: named sets of devices (`web = ["web-01..web-12"]`), typed `@web` in a command
and written in a rule's or a window's devices."""

from __future__ import annotations

from bot.policy.tables.reader import Table, TableReader, shown
from bot.understand.names import check_device_name
from bot.understand.naming import (
    BadRange,
    Limits,
    group_name_problem,
    is_group,
    is_range,
    read_range,
)


class GroupsTable(TableReader):
    def _groups(self, value: object, limits: Limits) -> dict[str, tuple[str, ...]]:
        if value is None:
            return {}
        line = self._lines.table("groups") or self._lines.key("groups", table=0)
        if not isinstance(value, dict):
            self._say("", line, 'groups must be one table, [groups], like web = ["web-01..web-12"]')
            return {}
        table = Table(data=value, where="[groups]", line=self._lines.table("groups"))
        groups: dict[str, tuple[str, ...]] = {}
        written: dict[str, str] = {}  # lower case → as written, for messages
        for name, members in value.items():
            problem = group_name_problem(name)
            if problem:
                self._say_key(table, name, problem)
                continue
            if name.lower() in written:
                self._say_key(
                    table,
                    name,
                    f'group "{name}" is group "{written[name.lower()]}" again: names are '
                    "compared ignoring case",
                )
                continue
            written[name.lower()] = name
            self._group_names.append(name.lower())
            devices = self._members(table, name, members, limits)
            if devices is not None:
                groups[name.lower()] = devices
        # A bare word that is a group's name is refused in a command ("did you mean @web?"):
        # a device of that name could then never be named alone, so the file may not do it.
        for lowered, name in written.items():
            owner = next((g for g, d in groups.items() if lowered in {n.lower() for n in d}), None)
            if owner is not None:
                self._say_key(
                    table,
                    name,
                    f'group "{name}" has the name of a device (in group "{written[owner]}"): '
                    f"name the group otherwise, or that device could not be named alone",
                )
        return groups

    def _members(
        self, table: Table, name: str, members: object, limits: Limits
    ) -> tuple[str, ...] | None:
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            self._say_key(
                table,
                name,
                f'group "{name}" must be a list of device names and ranges in quotes, like '
                f'["web-01..web-12", "lb-01"], not {shown(members)}',
            )
            return None
        if not members:
            self._say_key(table, name, f'group "{name}" is empty: list its devices')
            return None
        before = len(self._problems)
        devices: dict[str, str] = {}  # lower case → as first written
        for member in members:
            problem = self._member_problem(member, limits)
            if problem:
                self._say_key(table, name, f'group "{name}": {problem.rstrip(".")}')
                continue
            expanded = read_range(member).names() if is_range(member) else [member]
            for device in expanded:
                devices.setdefault(device.lower(), device)
            if len(devices) > limits.max_devices:
                break
        if len(devices) > limits.max_devices:
            self._say_key(
                table,
                name,
                f'group "{name}" has more than {limits.max_devices:,} devices, more than a '
                "request may name ([limits] max_devices), so it could never be used",
            )
        if len(self._problems) > before:
            return None
        return tuple(devices.values())

    def _member_problem(self, member: str, limits: Limits) -> str | None:
        if is_group(member):
            return (
                f'"{member}" is a group: a group lists devices and ranges, not other groups '
                f"(list {member}'s devices here instead)"
            )
        if not is_range(member):
            return check_device_name(member)
        try:
            found = read_range(member)
        except BadRange as error:
            return error.reason
        if found.count > limits.max_devices:
            return (
                f'"{member}" is {found.count:,} devices, more than a request may name '
                f"([limits] max_devices is {limits.max_devices:,})"
            )
        return check_device_name(found.name(found.first)) or check_device_name(
            found.name(found.last)
        )
