"""`[[rules]]`: which operations on which devices need whose approval, and for how long it is
asked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from bot.policy.tables.devices import DevicePatterns
from bot.policy.tables.reader import Table, did_you_mean, shown
from bot.ports import is_group as is_user_group
from bot.understand.catalog import Catalog

APPROVAL_NONE = "none"
APPROVAL_PEER = "peer"
DEFAULT_EXPIRES = timedelta(hours=1)


@dataclass(frozen=True, kw_only=True)
class Rule:
    """`[[rules]]`: the first rule matching an operation decides its approval."""

    operations: tuple[str, ...] | None = None  # operation types; None: all
    # Globs on device_name (fnmatch, case-insensitive), a group's members in its place; None: all
    devices: tuple[str, ...] | None = None
    written: tuple[str, ...] | None = None  # the patterns as the file has them (`@db`), for people
    requesters: tuple[str, ...] | None = None  # only these may request what this rule covers
    approval: str = APPROVAL_NONE  # "none" | "peer"
    approvers: tuple[str, ...] | None = None  # None with "peer": anyone allowed to request
    approvals: int = 1  # distinct approvers needed, never the requester
    expires: timedelta = DEFAULT_EXPIRES
    line: int = 0  # where it is in the file, for messages and the audit


MAX_EXPIRES = timedelta(days=7)
DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
RULE_KEYS = ("operations", "devices", "requesters", "approval", "approvers", "approvals", "expires")


class RulesTable(DevicePatterns):
    def _rule(self, table: Table, index: int, catalog: Catalog) -> Rule | None:
        before = len(self._problems)
        self._unknown_keys(table, RULE_KEYS)
        operations = self._strings(table, "operations", what="operation types")
        for name in operations or ():
            if catalog.by_type(name) is None:
                kind = catalog.by_keyword(name)
                hint = (
                    f': "{name}" is how people type it; its type is "{kind.operation_type}"'
                    if kind
                    else did_you_mean(name, [k.operation_type for k in catalog.kinds])
                    or "; the types are "
                    + ", ".join(f'"{k.operation_type}"' for k in catalog.kinds)
                )
                self._say_key(table, "operations", f'there is no operation type "{name}"{hint}')
        devices, written = self._patterns(table, "devices")
        requesters = self._ids(table, "requesters", person=True)
        approval = self._choice(table, "approval", (APPROVAL_NONE, APPROVAL_PEER), APPROVAL_NONE)
        approvers = self._ids(table, "approvers", person=True, may_be_empty=True)
        if approvers == () and approval == APPROVAL_PEER:
            self._say_key(
                table,
                "approvers",
                "approvers is empty, so nobody could approve: list who may, or leave the key "
                "out to let anyone allowed to request approve",
            )
        approvals = self._count(table, "approvals")
        # Only people can be counted: a group may hold any number of them.
        people = (
            set(approvers or ()) if not any(is_user_group(a) for a in approvers or ()) else None
        )
        if people and len(people) < approvals:
            self._say_key(
                table,
                "approvals",
                f"{approvals} approvals are needed but only {len(people)} approvers are listed",
            )
        expires = self._expires(table)
        if table.data.get("approval", APPROVAL_NONE) == APPROVAL_NONE:
            # Written for a peer approval that was never asked for: the rule would let the
            # requester's confirm suffice, which is surely not what its author meant.
            for key in ("approvers", "approvals", "expires"):
                if key in table.data:
                    self._say_key(
                        table,
                        key,
                        f'{key} only counts with approval = "peer"; add that line, or remove {key}',
                    )
        if len(self._problems) > before:
            return None
        return Rule(
            operations=operations,
            devices=devices,
            written=written,
            requesters=requesters,
            approval=approval,
            approvers=approvers,
            approvals=approvals,
            expires=expires,
            line=table.line,
        )

    def _count(self, table: Table, key: str) -> int:
        value = table.data.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self._say_key(
                table, key, f"{key} must be a whole number, 1 or more, not {shown(value)}"
            )
            return 1
        return value

    def _expires(self, table: Table) -> timedelta:
        value = table.data.get("expires")
        if value is None:
            return DEFAULT_EXPIRES
        found = DURATION.match(value.strip().lower()) if isinstance(value, str) else None
        days, hours, minutes = (int(g or 0) for g in found.groups()) if found else (0, 0, 0)
        length = timedelta(days=days, hours=hours, minutes=minutes)
        if not found or not value.strip():
            problem = (
                f'expires must be a time like "30m", "1h", "2h30m" or "1d", not {shown(value)}'
            )
        elif not length:
            problem = "expires must be longer than 0"
        elif length > MAX_EXPIRES:
            problem = f'expires may be at most 7 days ("7d"), not {shown(value)}'
        else:
            return length
        self._say_key(table, "expires", problem)
        return DEFAULT_EXPIRES
