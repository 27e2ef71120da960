"""User groups without Slack: the console demo (and tests) define them from a dict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from bot import say
from bot.ports import GroupsUnavailable, member_of


class StaticGroups:
    """The `Groups` port from a fixed mapping of group id to user ids. A group it does not
    hold is unknown, as Slack's would be: the same refusal, never an empty group."""

    def __init__(self, mapping: Mapping[str, Iterable[str]]) -> None:
        self._groups = {group: frozenset(users) for group, users in mapping.items()}

    def members(self, group_id: str) -> frozenset[str]:
        try:
            return self._groups[group_id]
        except KeyError:
            raise GroupsUnavailable(group_id, say.policy.group_unknown(group_id)) from None

    def is_member(self, user: str, ids: Sequence[str]) -> bool:
        return member_of(self, user, ids)
