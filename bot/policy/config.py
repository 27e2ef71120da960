"""The site's policy file (`OPSBOT_CONFIG`, TOML) as plain values.

Without a file the bot is open: anyone, anywhere, the requester's confirm is enough, and the
built-in catalog of operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.catalog import DEFAULT_CATALOG, Catalog
from bot.policy.windows import Schedule

APPROVAL_NONE = "none"
APPROVAL_PEER = "peer"
OUTSIDE_WARN = "warn"
OUTSIDE_APPROVE = "approve"
OUTSIDE_BLOCK = "block"
DEFAULT_EXPIRES = timedelta(hours=1)


class ConfigError(Exception):
    """A policy file that cannot be used: every problem, each naming its line or key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, kw_only=True)
class Access:
    # None: anywhere / everyone. Ids are Slack's immutable ones: C…/G… channels, U…/W… users,
    # S… user groups.
    channels: tuple[str, ...] | None = None
    requesters: tuple[str, ...] | None = None
    admins: tuple[str, ...] = ()  # may freeze and unfreeze; empty: nobody


@dataclass(frozen=True, kw_only=True)
class Rule:
    """`[[rules]]`: the first rule matching an operation decides its approval."""

    operations: tuple[str, ...] | None = None  # operation types; None: all
    devices: tuple[str, ...] | None = None  # globs on device_name (fnmatch, case-insensitive)
    requesters: tuple[str, ...] | None = None  # only these may request what this rule covers
    approval: str = APPROVAL_NONE  # "none" | "peer"
    approvers: tuple[str, ...] | None = None  # None with "peer": anyone allowed to request
    approvals: int = 1  # distinct approvers needed, never the requester
    expires: timedelta = DEFAULT_EXPIRES
    line: int = 0  # where it is in the file, for messages and the audit


@dataclass(frozen=True, kw_only=True)
class Window:
    """`[[windows]]`: when the matching devices may be worked on."""

    devices: tuple[str, ...] | None = None  # globs; None: all
    when: Schedule
    tz: str = "UTC"
    outside: str = OUTSIDE_WARN  # "warn" | "approve" | "block"
    line: int = 0


@dataclass(frozen=True, kw_only=True)
class PolicyConfig:
    access: Access = field(default_factory=Access)
    rules: tuple[Rule, ...] = ()
    windows: tuple[Window, ...] = ()
    catalog: Catalog = DEFAULT_CATALOG
    source: str = ""  # the file it came from; "" for the built-in open policy


OPEN_POLICY = PolicyConfig()
