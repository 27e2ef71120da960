"""`[access]`: where the bot may be used, who may request, and who may freeze."""

from __future__ import annotations

from dataclasses import dataclass

from bot.policy.tables.reader import Table, TableReader

ACCESS_KEYS = ("channels", "requesters", "admins")


@dataclass(frozen=True, kw_only=True)
class Access:
    # None: anywhere / everyone. Ids are Slack's immutable ones: C…/G… channels, U…/W… users,
    # S… user groups.
    channels: tuple[str, ...] | None = None
    requesters: tuple[str, ...] | None = None
    admins: tuple[str, ...] = ()  # may freeze and unfreeze; empty: nobody


class AccessTable(TableReader):
    def _access(self, value: object) -> Access:
        if value is None:
            return Access()
        if not isinstance(value, dict):
            line = self._lines.table("access") or self._lines.key("access", table=0)
            self._say("", line, "access must be one table, [access]")
            return Access()
        table = Table(data=value, where="[access]", line=self._lines.table("access"))
        self._unknown_keys(table, ACCESS_KEYS)
        return Access(
            channels=self._ids(table, "channels", person=False),
            requesters=self._ids(table, "requesters", person=True),
            admins=self._ids(table, "admins", person=True, may_be_empty=True) or (),
        )
