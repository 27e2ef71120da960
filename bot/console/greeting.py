"""The demo's greeting: what to type, the simulator's devices as they are typed, and, under a
policy file, who is who and how to be the others (who approves what, who freezes, what fails),
so that each example it offers works typed back."""

from __future__ import annotations

from collections.abc import Sequence

from bot import say
from bot.console.setup import Cast
from bot.policy.config import PolicyConfig
from bot.policy.tables.rules import APPROVAL_PEER, Rule
from bot.understand.naming import compressed

SOMEONE = ("U0002", "U0003", "U0004")  # ids to be, when the policy lets anyone approve


def greeting(
    cast: Cast, config: PolicyConfig, *, devices: Sequence[str], database: str | None
) -> str:
    # Ranges as they are typed (`server-01..server-20`): an example must work typed back.
    parts = [say.terminal.demo_greeting(", ".join(compressed(sorted(devices))))]
    if config.source:  # a policy file was given
        parts.append(
            say.terminal.demo_policy(
                source=config.source,
                you=cast.user,
                channel=cast.channel,
                approver=next(iter(cast.people(_approver_ids(config))), SOMEONE[0]),
            )
        )
        unknown = [group for group in _groups_named(config) if group not in cast.groups]
        if cast.groups or unknown:
            parts.append(say.terminal.demo_groups(cast.groups, unknown))
        if config.rules:
            parts.append(
                say.terminal.demo_rules([_rule(rule, cast, config) for rule in config.rules])
            )
        windows = [
            say.terminal.demo_window(
                devices=", ".join(window.written or ()) or say.policy.EVERY_DEVICE,
                when=window.when.text,
                tz=window.tz,
                outside=window.outside,
                examples=_examples(cast, config.access.requesters, 1),
            )
            for window in config.windows
        ]
        if windows:
            parts.append(say.terminal.demo_windows(windows))
        if config.access.admins:
            parts.append(
                say.terminal.demo_admins(
                    ", ".join(config.access.admins),
                    admin=next(iter(cast.people(config.access.admins)), None),
                    you_are_one=cast.user in cast.people(config.access.admins, you=True),
                )
            )
    if cast.fail:
        parts.append(say.terminal.demo_failing(cast.fail, example=_halt_example(cast, config)))
    if database:
        parts.append(say.terminal.demo_database(database))
    return "\n".join(parts)


def _rule(rule: Rule, cast: Cast, config: PolicyConfig) -> str:
    """A `[[rules]]` as the greeting says it: who may ask, how many approve, how to be them."""
    operations = ", ".join(rule.operations or ()) or say.terminal.DEMO_EVERY_OPERATION
    devices = ", ".join(rule.written or ()) or say.policy.EVERY_DEVICE
    requesters = ", ".join(rule.requesters) if rule.requesters is not None else None
    if rule.approval != APPROVAL_PEER:
        return say.terminal.demo_rule(operations, devices, requesters=requesters)
    # As the bot decides: the rule's approvers, else anyone allowed to request what it covers.
    approvers = rule.approvers or rule.requesters or config.access.requesters
    return say.terminal.demo_rule(
        operations,
        devices,
        requesters=requesters,
        needed=rule.approvals,
        approvers=say.common.or_list(list(rule.approvers)) if rule.approvers else None,
        examples=_examples(cast, approvers, rule.approvals),
    )


def _examples(cast: Cast, ids: Sequence[str] | None, needed: int) -> list[str]:
    """`as U0002 approve` for as many people as `needed`, among `ids` (None: anyone), never
    the person at the terminal; fewer when fewer are known."""
    people = cast.people(ids if ids is not None else SOMEONE)
    return [say.terminal.demo_as(person, "approve") for person in people[:needed]]


def _approver_ids(config: PolicyConfig) -> list[str]:
    named = [i for rule in config.rules for i in rule.approvers or ()]
    return named or list(config.access.requesters or ())


def _halt_example(cast: Cast, config: PolicyConfig) -> str | None:
    """A request in waves of a group that holds a failing device; None if none does."""
    return next(
        (
            say.terminal.demo_halt_example(f"@{name}")
            for name, members in config.groups.items()
            if set(cast.fail) & set(members)
        ),
        None,
    )


def _groups_named(config: PolicyConfig) -> list[str]:
    """The user groups (S…) a policy names, in the order the file names them."""
    ids = [*(config.access.requesters or ()), *config.access.admins]
    for rule in config.rules:
        ids += [*(rule.requesters or ()), *(rule.approvers or ())]
    return list(dict.fromkeys(i for i in ids if i.startswith("S")))
