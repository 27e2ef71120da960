"""Freezes: no operation of the devices they cover is sent while one is in force."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.model import format_api_time
from store.base import (
    StoreBase,
    _now_text,
    _retimed,
)
from store.dialect import Dialect
from store.records import (
    Freeze,
)


def freezes_in_force(dialect: Dialect) -> str:
    """The freezes in force at a time (one parameter): two searches of the index by end, since
    SQLite scans the whole index for an OR of them, and the freezes that ran out stay unlifted
    for ever: they are never read again."""
    freezes = f"freezes{dialect.indexed_by('idx_freezes_active')}"
    return (
        f"SELECT id FROM {freezes} WHERE lifted_at IS NULL AND until > ? "
        f"UNION ALL SELECT id FROM {freezes} WHERE lifted_at IS NULL AND until IS NULL"
    )


def frozen_sql(dialect: Dialect) -> str:
    """A freeze covering the operation being claimed (one parameter: the time)."""
    return (
        f"SELECT 1 FROM freezes f WHERE f.id IN ({freezes_in_force(dialect)}) "
        f"AND {dialect.frozen('operations.device_name', 'f.devices')}"
    )


class Freezes(StoreBase):
    def add_freeze(
        self,
        *,
        devices: Sequence[str] | None,
        reason: str,
        by: str,
        channel: str | None,
        now: datetime,
        until: datetime | None,
    ) -> Freeze:
        with self.engine.write() as tx:
            freeze_id = tx.insert(
                "freezes",
                {
                    "devices": json.dumps(list(devices)) if devices is not None else None,
                    "reason": reason,
                    "frozen_by": by,
                    "channel": channel,
                    "created_at": _now_text(now),
                    "until": _now_text(until) if until else None,
                },
            )
            self._audit(
                tx,
                event="frozen",
                actor=by,
                now=now,
                channel=channel,
                detail={
                    "freeze": freeze_id,
                    "devices": list(devices) if devices is not None else None,
                    "until": _now_text(until) if until else None,
                    "reason": reason,
                },
            )
        return self._freeze(freeze_id)

    def active_freezes(self, *, now: datetime) -> list[Freeze]:
        with self.engine.read() as tx:
            return [
                Freeze.from_row(r)
                for r in tx.rows(
                    f"SELECT * FROM freezes WHERE id IN ({freezes_in_force(self.dialect)}) "
                    "ORDER BY id",
                    [_now_text(now)],
                )
            ]

    def lift_freezes(self, freeze_ids: Sequence[int], *, by: str, now: datetime) -> list[Freeze]:
        """Lift those still active; returns the ones this call lifted."""
        lifted = []
        with self.engine.write() as tx:
            for freeze_id in freeze_ids:
                if self._cas(
                    tx,
                    "UPDATE freezes SET lifted_at = ?, lifted_by = ? "
                    "WHERE id = ? AND lifted_at IS NULL",
                    [_now_text(now), by, freeze_id],
                ):
                    lifted.append(freeze_id)
                    self._audit(
                        tx, event="unfrozen", actor=by, now=now, detail={"freeze": freeze_id}
                    )
        return [self._freeze(i) for i in lifted]

    def _freeze(self, freeze_id: int) -> Freeze:
        with self.engine.read() as tx:
            row = tx.row("SELECT * FROM freezes WHERE id = ?", [freeze_id])
        assert row is not None, freeze_id  # freezes are never deleted
        return Freeze.from_row(row)

    def hold(
        self, operation_id: int, *, freeze: int, now: datetime, announce: dict[str, Any]
    ) -> bool:
        """A due operation waits for a freeze to end; its thread is told once. Held already
        (one freeze ended, another covers it): it now waits for that one, untold."""
        with self.engine.write() as tx:
            if not self._announced(
                tx,
                "UPDATE operations SET held_since = ?, held_by = ? "
                "WHERE id = ? AND state = 'new' AND held_since IS NULL",
                [_now_text(now), freeze, operation_id],
                announce=announce,
                now=now,
            ):
                tx.execute(
                    "UPDATE operations SET held_by = ? WHERE id = ? AND state = 'new' "
                    "AND held_since IS NOT NULL",
                    [freeze, operation_id],
                )
                return False
            self._audit_operation(tx, operation_id, event="held", now=now)
            return True

    def unhold(self, operation_id: int, *, now: datetime, announce: dict[str, Any]) -> bool:
        """The freeze ended: the operation goes, for its time or, if that went by while it was
        held, for the moment the freeze ended. The time held never counts as lateness; a
        freeze that ended while the bot was down still does (`stale_send`)."""
        with self.engine.write() as tx:
            end = tx.value(
                "SELECT coalesce(f.lifted_at, f.until) FROM operations o "
                "JOIN freezes f ON f.id = o.held_by WHERE o.id = ?",
                [operation_id],
            )
            ended = min(now, datetime.fromisoformat(end)) if end else now
            if not self._announced(
                tx,
                "UPDATE operations SET held_since = NULL, held_by = NULL, "
                f"{_retimed(self.dialect, self.dialect.greatest('scheduled_at', '?'))} "
                "WHERE id = ? AND state = 'new' AND held_since IS NOT NULL",
                [format_api_time(ended), format_api_time(ended), operation_id],
                announce=announce,
                now=now,
            ):
                return False
            self._audit_operation(tx, operation_id, event="released", now=now)
            return True
