"""Who is in a Slack user group (S…): `usergroups.users.list`, remembered a few minutes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import say
from bot.ports import GroupsUnavailable, member_of
from bot.slack.notifier import CREDENTIAL_ERRORS, _error_code, _rate_limited

log = logging.getLogger(__name__)

# Slack's definite answers that the group has no members to give: remembered like a list of
# members, so that a policy naming a wrong group does not spend the method's Tier 2 limit
# (20+ calls a minute) on every request. Slack's answer for a disabled group asked for with
# include_disabled=false is not documented: it may be this error or an empty list, and both
# refuse.
NO_SUCH_GROUP = frozenset({"no_such_subteam", "subteam_not_found"})
NOT_ON_PLAN = frozenset({"plan_upgrade_required", "paid_only", "paid_teams_only"})
NOT_ALLOWED = frozenset({"missing_scope", "no_permission", "not_allowed_token_type"})


@dataclass(frozen=True, kw_only=True)
class _Known:
    until: float
    members: frozenset[str] | None = None
    reason: str | None = None  # Slack said for sure there is nothing to read


class GroupMembers:
    """The members of each user group, as Slack last said, for `ttl` seconds. Only Slack's
    definite answers are remembered (the members, or that there is no such group): a failure
    (a rate limit, an outage, a timeout, a scope the app lacks) raises GroupsUnavailable this
    once and is asked again next time. Safe from several threads: concurrent askers for one
    group wait for a single call."""

    def __init__(
        self,
        *,
        client: WebClient,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, _Known] = {}
        self._fetching: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def members(self, group_id: str) -> frozenset[str]:
        with self._lock:
            fetching = self._fetching.setdefault(group_id, threading.Lock())
        with fetching:
            # Looked up under the group's lock: whoever waited for another thread's call
            # takes its answer rather than asking again.
            with self._lock:
                known = self._cache.get(group_id)
            if known is None or known.until <= self._clock():
                known = self._ask(group_id)
                with self._lock:
                    self._cache[group_id] = known
        if known.members is None:
            raise GroupsUnavailable(group_id, known.reason or say.policy.group_unknown(group_id))
        return known.members

    def is_member(self, user: str, ids: Sequence[str]) -> bool:
        return member_of(self, user, ids)

    def _ask(self, group_id: str) -> _Known:
        """Slack's definite answer, or GroupsUnavailable for one not to remember."""
        try:
            response = self._client.usergroups_users_list(
                usergroup=group_id, include_disabled=False
            )
        except SlackApiError as exc:
            code = _error_code(exc)
            log.warning("usergroups.users.list for %s failed: %s", group_id, code or exc)
            until = self._clock() + self._ttl
            if code in NO_SUCH_GROUP:
                return _Known(until=until, reason=say.policy.group_unknown(group_id))
            if code in NOT_ON_PLAN:
                return _Known(until=until, reason=say.policy.groups_not_on_plan(group_id))
            raise GroupsUnavailable(group_id, _passing_reason(group_id, exc)) from exc
        except OSError as exc:
            # Slack unreachable or slow (a timeout is an OSError too).
            log.warning("usergroups.users.list for %s failed: %s", group_id, exc)
            raise GroupsUnavailable(group_id, say.policy.groups_unreachable(group_id)) from exc
        users = response.get("users")
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            log.warning("usergroups.users.list for %s: no list of users", group_id)
            raise GroupsUnavailable(group_id, say.policy.groups_unreachable(group_id))
        return _Known(until=self._clock() + self._ttl, members=frozenset(users))


def _passing_reason(group_id: str, exc: SlackApiError) -> str:
    """Why this look failed, for a failure that may not last (or that an admin can fix)."""
    code = _error_code(exc)
    status = exc.response.status_code if exc.response is not None else 0
    if _rate_limited(exc):
        return say.policy.groups_busy(group_id)
    if code in NOT_ALLOWED:
        return say.policy.groups_not_allowed(group_id)
    if code in CREDENTIAL_ERRORS:
        return say.policy.groups_token_refused(group_id)
    if status >= 500 or code in {"internal_error", "fatal_error", "service_unavailable"}:
        return say.policy.groups_unreachable(group_id)
    return say.policy.groups_refused(group_id, code or f"HTTP {status}")
