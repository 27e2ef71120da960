"""Who is who in the demo, and which devices its simulator holds: the policy file's `[demo]`
table, each part overridden by the command line, and every device the file names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.model import Plan
from bot.policy.config import PolicyConfig
from bot.understand import grammar

USER = "you"  # the person at the terminal, when neither --as nor [demo] says who
CHANNEL = "console"  # where they type, when neither --channel nor [demo] nor the policy says
WILDCARDS = frozenset("*?[")


@dataclass(frozen=True, kw_only=True)
class Cast:
    """Who is who in the demo, and what fails there."""

    user: str  # the person at the terminal
    channel: str  # where they type
    groups: Mapping[str, tuple[str, ...]]  # user groups' members, as Slack would say them
    fail: tuple[str, ...]  # devices whose operations fail in the simulator

    def people(self, ids: Iterable[str], *, you: bool = False) -> list[str]:
        """The people among `ids`, a user group counted by its members, the person at the
        terminal left out unless `you` (an example for `as` names someone else)."""
        found: list[str] = []
        for slack_id in ids:
            members = self.groups.get(slack_id, ()) if slack_id.startswith("S") else (slack_id,)
            for person in members:
                if (you or person != self.user) and person not in found:
                    found.append(person)
        return found


def cast(
    config: PolicyConfig,
    *,
    user: str | None = None,
    channel: str | None = None,
    groups: Iterable[tuple[str, Sequence[str]]] = (),
    fail: Sequence[str] = (),
) -> Cast:
    """The demo's people and place: the command line's word, else `[demo]`'s. With neither, the
    channel is the first the policy allows requests in (the demo is there to try requests);
    a group given on the command line replaces the table's members of that group."""
    table = config.demo
    given: dict[str, tuple[str, ...]] = {}
    for group, members in groups:  # --group S0DBA=U2 --group S0DBA=U3: both
        given[group] = tuple(dict.fromkeys((*given.get(group, ()), *members)))
    allowed = config.access.channels or ()
    return Cast(
        user=user or table.user or USER,
        channel=channel or table.channel or (allowed[0] if allowed else CHANNEL),
        groups={**table.groups, **given},
        fail=tuple(fail) or table.fail,
    )


def demo_devices(
    inventory: Iterable[str], config: PolicyConfig, *, fail: Sequence[str]
) -> list[str]:
    """The simulator's devices: its own, and every device the policy file names, so that each
    example it offers can be typed back: the groups' members, the devices of each operation's
    example (`set … on cpe-0042`), the names its rules and windows give without a wildcard,
    and those made to fail."""
    names = dict.fromkeys(inventory)
    for members in config.groups.values():
        names.update(dict.fromkeys(members))
    for kind in config.catalog.kinds:
        names.update(dict.fromkeys(_example_devices(kind.example, config)))
    for patterns in [rule.devices for rule in config.rules] + [w.devices for w in config.windows]:
        names.update(dict.fromkeys(p for p in patterns or () if not WILDCARDS & set(p)))
    names.update(dict.fromkeys(fail))
    return sorted(names)


def _example_devices(example: str, config: PolicyConfig) -> list[str]:
    if not example:
        return []
    understood = grammar.parse(
        example,
        tz="UTC",
        now=datetime.now(UTC),
        catalog=config.catalog,
        naming=config.naming,
    )
    if not isinstance(understood, Plan):
        return []
    return [operation.device_name for operation in understood.operations]
