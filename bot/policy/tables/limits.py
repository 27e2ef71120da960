"""`[limits]`: how many devices, and operations, one request may name."""

from __future__ import annotations

from bot.policy.tables.reader import Table, TableReader, shown
from bot.understand.naming import (
    CEILING_DEVICES,
    CEILING_OPERATIONS,
    DEFAULT_LIMITS,
    OPERATIONS_PER_DEVICE,
    Limits,
)

LIMIT_KEYS = ("max_devices", "max_operations")


class LimitsTable(TableReader):
    def _limits(self, value: object) -> Limits:
        if value is None:
            return DEFAULT_LIMITS
        if not isinstance(value, dict):
            line = self._lines.table("limits") or self._lines.key("limits", table=0)
            self._say("", line, "limits must be one table, [limits]")
            return DEFAULT_LIMITS
        table = Table(data=value, where="[limits]", line=self._lines.table("limits"))
        self._unknown_keys(table, LIMIT_KEYS)
        devices = self._bound(table, "max_devices", DEFAULT_LIMITS.max_devices, CEILING_DEVICES)
        operations = self._bound(
            table, "max_operations", devices * OPERATIONS_PER_DEVICE, CEILING_OPERATIONS
        )
        if operations < devices:
            self._say_key(
                table,
                "max_operations",
                f"max_operations ({operations:,}) is below max_devices ({devices:,}): a request "
                f"on {devices:,} devices makes at least {devices:,} operations",
            )
        return Limits(max_devices=devices, max_operations=min(operations, CEILING_OPERATIONS))

    def _bound(self, table: Table, key: str, default: int, ceiling: int) -> int:
        value = table.data.get(key)
        if value is None:
            return min(default, ceiling)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ceiling:
            self._say_key(
                table,
                key,
                f"{key} must be a whole number from 1 to {ceiling:,}, not {shown(value)}",
            )
            return min(default, ceiling)
        return value
