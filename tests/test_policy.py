"""The policy engine: a site's TOML file read as it is written, then asked about requests.

Each case builds its Policy from a snippet of the file people write, with user groups from a
StaticGroups (a group it does not hold is unknown to it, as a disabled one is to Slack).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.model import OperationSpec
from bot.policy.config import read_config
from bot.policy.groups import StaticGroups
from bot.policy.rules import Policy, PolicyRefused
from bot.ports import GroupsUnavailable

# Wednesday 14 January 2026, 11:00 in Madrid (UTC+1 in winter).
NOW = datetime(2026, 1, 14, 10, 0, tzinfo=UTC)
# Saturday 17 January, 23:30 in Madrid: inside "sat 22:00-sun 06:00".
SATURDAY_NIGHT = datetime(2026, 1, 17, 22, 30, tzinfo=UTC)
# That window's next start after NOW: Saturday 22:00 Madrid.
NEXT_WINDOW = datetime(2026, 1, 17, 21, 0, tzinfo=UTC)

ALICE, BOB, CAROL, DAVE = "U0ALICE1", "U0BOB002", "U0CAROL3", "W0DAVE04"
DBA, NETOPS = "S0DBA", "S0NETOPS"
GROUPS = {DBA: {CAROL, DAVE}, NETOPS: {BOB}}


def policy(toml: str, groups: dict[str, set[str]] | None = None) -> Policy:
    config = read_config(toml, source="opsbot.toml")
    return Policy(config=config, members=StaticGroups(GROUPS if groups is None else groups))


def spec(device: str, operation: str = "reboot", at: datetime = NOW) -> OperationSpec:
    return OperationSpec(
        device_name=device, operation_type=operation, scheduled_at=at, parameters={}
    )


def judge(p: Policy, *specs: OperationSpec, requester: str = ALICE, channel: str = "C0OPS"):
    return p.judge(requester=requester, channel=channel, specs=specs)


# ---------------------------------------------------------------------------- rule matching

ORDERED = """
[[rules]]
operations = ["reboot"]
devices = ["db-0?"]
approval = "peer"
approvals = 2

[[rules]]
devices = ["server-*", "[ab]x-*"]
approval = "peer"
expires = "30m"

[[rules]]
operations = ["update"]
approval = "none"

[[rules]]
approval = "peer"
expires = "2h"
"""


@pytest.mark.parametrize(
    ("device", "operation", "line"),
    [
        # db-0? catches one character after db-0, in either case.
        ("db-01", "reboot", 2),
        ("DB-07", "reboot", 2),
        # db-010 has two: not rule 1's; the catch-all last rule takes it.
        ("db-010", "reboot", 17),
        # Rule 1 is reboots only: a restart on db-01 falls through to the catch-all.
        ("db-01", "restart_service", 17),
        ("server-01", "reboot", 8),
        ("Server-01", "update", 8),  # before the update rule: the first match wins
        ("ax-03", "restart_service", 8),
        ("BX-10", "reboot", 8),
        ("cx-03", "reboot", 17),  # [ab] is a or b only
        ("workstation-05", "update", 13),
        ("workstation-05", "reboot", 17),
    ],
)
def test_first_matching_rule_decides(device: str, operation: str, line: int) -> None:
    rule = policy(ORDERED).rule_for(spec(device, operation))
    assert rule is not None
    assert rule.line == line


@pytest.mark.parametrize(
    ("device", "operation", "needed", "expires"),
    [
        ("db-01", "reboot", 2, timedelta(hours=1)),
        ("server-01", "update", 1, timedelta(minutes=30)),
        ("workstation-05", "update", 0, None),  # approval = "none"
        ("workstation-05", "reboot", 1, timedelta(hours=2)),
    ],
)
def test_judge_takes_the_matching_rules_approval(
    device: str, operation: str, needed: int, expires: timedelta | None
) -> None:
    verdict = judge(policy(ORDERED), spec(device, operation))
    if needed == 0:
        assert verdict.approval is None
        return
    assert verdict.approval is not None
    assert verdict.approval.needed == needed
    assert verdict.approval.expires == expires
    assert verdict.approval.approver_sets == (None,)  # no approvers: anyone allowed to ask


def test_no_matching_rule_needs_no_approval() -> None:
    p = policy('[[rules]]\ndevices = ["db-*"]\napproval = "peer"\n')
    assert p.rule_for(spec("server-01")) is None
    assert judge(p, spec("server-01")).approval is None


def test_no_policy_file_is_open() -> None:
    p = Policy()
    assert p.channel_allowed(None)
    assert p.may_request(ALICE)
    assert not p.is_admin(ALICE)
    verdict = judge(p, spec("server-01"))
    assert verdict.approval is None and verdict.windows == ()


# ---------------------------------------------------------------------------- access

ACCESS = """
[access]
channels = ["C0OPS", "G0PRIVATE"]
requesters = ["U0ALICE1", "S0DBA"]
admins = ["S0NETOPS"]
"""


@pytest.mark.parametrize(
    ("toml", "channel", "allowed"),
    [
        ("", None, True),  # no [access]: anywhere, a DM included
        ("", "C0RANDOM", True),
        (ACCESS, "C0OPS", True),
        (ACCESS, "G0PRIVATE", True),
        (ACCESS, "C0RANDOM", False),
        (ACCESS, None, False),  # a DM without a channel of its own is not a listed channel
    ],
)
def test_channels(toml: str, channel: str | None, allowed: bool) -> None:
    assert policy(toml).channel_allowed(channel) is allowed


@pytest.mark.parametrize(
    ("toml", "user", "requester", "admin"),
    [
        ("", BOB, True, False),  # absent: everyone may ask, nobody may freeze
        (ACCESS, ALICE, True, False),  # named directly
        (ACCESS, DAVE, True, False),  # W… user, through S0DBA
        (ACCESS, BOB, False, True),  # an admin through S0NETOPS, yet not a requester
        (ACCESS, "U0STRANGER", False, False),
    ],
)
def test_requesters_and_admins(toml: str, user: str, requester: bool, admin: bool) -> None:
    p = policy(toml)
    assert p.may_request(user) is requester
    assert p.is_admin(user) is admin


def test_judge_refuses_a_channel_then_a_requester_naming_who_may() -> None:
    p = policy(ACCESS)
    with pytest.raises(PolicyRefused) as refused:
        judge(p, spec("server-01"), channel="C0RANDOM")
    assert (refused.value.why, refused.value.who) == ("channel", ("C0OPS", "G0PRIVATE"))
    with pytest.raises(PolicyRefused) as refused:
        judge(p, spec("server-01"), requester=BOB)
    assert (refused.value.why, refused.value.who) == ("requester", (ALICE, DBA))


@pytest.mark.parametrize("ask", ["may_request", "is_admin", "kinds_for", "judge"])
def test_a_group_slack_cannot_read_is_never_a_silent_answer(ask: str) -> None:
    # S0DBA and S0NETOPS are named but unknown: whether Carol is in them cannot be known.
    p = policy(ACCESS, groups={})
    with pytest.raises(GroupsUnavailable) as failure:
        if ask == "judge":
            judge(p, spec("server-01"), requester=CAROL)
        else:
            getattr(p, ask)(CAROL)
    assert failure.value.group_id in (DBA, NETOPS)


def test_a_named_user_needs_no_group_lookup() -> None:
    # Alice is listed herself: the unreadable group is never asked.
    p = policy(ACCESS, groups={})
    assert p.may_request(ALICE)
    assert judge(p, spec("server-01"), requester=ALICE).approval is None


def test_an_unreadable_group_does_not_hide_a_readable_yes() -> None:
    # S0GONE cannot be read, but Bob is in S0NETOPS: that answer is certain.
    p = policy('[access]\nrequesters = ["S0GONE", "S0NETOPS"]\n')
    assert p.may_request(BOB)


# ---------------------------------------------------------------------------- rule requesters

DBA_ONLY = """
[[rules]]
operations = ["reboot"]
devices = ["db-*"]
requesters = ["S0DBA", "U0ALICE1"]
approval = "peer"
"""


@pytest.mark.parametrize(
    ("requester", "allowed"),
    [(ALICE, True), (CAROL, True), (DAVE, True), (BOB, False)],
)
def test_rule_requesters(requester: str, allowed: bool) -> None:
    p = policy(DBA_ONLY)
    if allowed:
        assert judge(p, spec("db-01"), requester=requester).approval is not None
        return
    with pytest.raises(PolicyRefused) as refused:
        judge(p, spec("db-01"), requester=requester)
    assert (refused.value.why, refused.value.who) == ("rule", (DBA, ALICE))


def test_rule_requesters_only_restrict_what_the_rule_covers() -> None:
    p = policy(DBA_ONLY)
    assert judge(p, spec("server-01"), requester=BOB).approval is None
    assert judge(p, spec("db-01", "update"), requester=BOB).approval is None
    # One covered operation among several refuses the whole request.
    with pytest.raises(PolicyRefused):
        judge(p, spec("server-01"), spec("db-02"), requester=BOB)


# ---------------------------------------------------------------------------- approvals

QUORUM = """
[[rules]]
operations = ["reboot"]
devices = ["db-*"]
approval = "peer"
approvers = ["S0DBA", "U0BOB002"]
approvals = 2
expires = "4h"

[[rules]]
operations = ["reboot"]
devices = ["server-*"]
approval = "peer"
approvers = ["U0CAROL3", "U0BOB002", "U0ALICE1"]
expires = "30m"

[[rules]]
operations = ["restart_service"]
approval = "peer"
"""


def test_quorum_and_named_approvers() -> None:
    approval = judge(policy(QUORUM), spec("db-01")).approval
    assert approval is not None
    assert approval.needed == 2
    assert approval.approver_sets == ((DBA, BOB),)
    assert approval.expires == timedelta(hours=4)


def test_several_peer_rules_combine() -> None:
    # db-01 (rule 1: 2 approvals, 4h) and server-01 (rule 2: 1 approval, 30m) in one request:
    # the most approvals, the shortest wait, and an approver both lists allow.
    approval = judge(policy(QUORUM), spec("db-01"), spec("server-01")).approval
    assert approval is not None
    assert approval.needed == 2
    assert approval.expires == timedelta(minutes=30)
    assert approval.approver_sets == ((DBA, BOB), (CAROL, BOB, ALICE))
    assert approval.why == ("rule at line 2", "rule at line 10")


def test_one_rule_matched_twice_counts_once() -> None:
    approval = judge(policy(QUORUM), spec("db-01"), spec("db-02")).approval
    assert approval is not None
    assert approval.approver_sets == ((DBA, BOB),)
    assert approval.why == ("rule at line 2",)


def test_a_peer_rule_with_a_none_rule_still_needs_approval() -> None:
    p = policy(QUORUM + '\n[[rules]]\noperations = ["update"]\n')
    approval = judge(p, spec("server-01", "update"), spec("web-01", "restart_service")).approval
    assert approval is not None
    assert approval.needed == 1
    assert approval.approver_sets == (None,)


@pytest.mark.parametrize(
    ("user", "sets", "answer"),
    [
        # The requester (Alice) never approves her own, even when listed.
        (ALICE, ((CAROL, BOB, ALICE),), "own"),
        (ALICE, (None,), "own"),
        (BOB, ((CAROL, BOB, ALICE),), None),
        (DAVE, ((CAROL, BOB, ALICE),), "not_approver"),
        # Through a group.
        (DAVE, ((DBA,),), None),
        (BOB, ((DBA,),), "not_approver"),
        # Every list must allow the approver: Carol is in S0DBA and named in the second.
        (CAROL, ((DBA, BOB), (CAROL, BOB, ALICE)), None),
        (DAVE, ((DBA, BOB), (CAROL, BOB, ALICE)), "not_approver"),
        (BOB, ((DBA, BOB), (CAROL, BOB, ALICE)), None),
        # None: anyone allowed to request (all of ACCESS's requesters: Alice, S0DBA).
        (CAROL, (None,), None),
        (BOB, (None,), "not_approver"),
        (CAROL, (None, (DBA,)), None),
        (BOB, (None, (NETOPS,)), "not_approver"),
    ],
)
def test_may_approve(
    user: str, sets: tuple[tuple[str, ...] | None, ...], answer: str | None
) -> None:
    p = policy(ACCESS)
    assert p.may_approve(user=user, requester=ALICE, approver_sets=sets) == answer


def test_may_approve_with_an_unreadable_group_raises() -> None:
    p = policy("", groups={})
    with pytest.raises(GroupsUnavailable):
        p.may_approve(user=BOB, requester=ALICE, approver_sets=((DBA,),))


# ---------------------------------------------------------------------------- windows

WINDOWS = """
[[rules]]
devices = ["db-*"]
approval = "peer"
approvals = 2

[[windows]]
devices = ["db-*"]
when = "sat 22:00-sun 06:00"
tz = "Europe/Madrid"
outside = "approve"

[[windows]]
devices = ["server-*"]
when = "sat 22:00-sun 06:00"
tz = "Europe/Madrid"
outside = "block"

[[windows]]
devices = ["SERVER-0*", "web-*"]
when = "daily 02:00-04:00"
outside = "approve"

[[windows]]
devices = ["cache-*"]
when = "sat 22:00-sun 06:00"
tz = "Europe/Madrid"
"""


@pytest.mark.parametrize(
    ("device", "when"),
    [
        ("db-01", "sat 22:00-sun 06:00"),
        ("server-01", "sat 22:00-sun 06:00"),  # the first window that matches, not the third
        ("Web-01", "daily 02:00-04:00"),
        ("cache-3", "sat 22:00-sun 06:00"),
        ("workstation-05", None),
    ],
)
def test_the_first_matching_window_is_the_devices(device: str, when: str | None) -> None:
    window = policy(WINDOWS).window_for(device)
    assert (window.when.text if window else None) == when


@pytest.mark.parametrize(
    ("device", "at", "inside", "next_start", "blocked"),
    [
        ("cache-3", SATURDAY_NIGHT, True, None, False),
        ("cache-3", NOW, False, NEXT_WINDOW, False),  # warn: shown, not stopped
        ("server-01", SATURDAY_NIGHT, True, None, False),
        ("server-01", NOW, False, NEXT_WINDOW, True),
        ("web-01", NOW, False, datetime(2026, 1, 15, 2, 0, tzinfo=UTC), False),
    ],
)
def test_window_checks(
    device: str, at: datetime, inside: bool, next_start: datetime | None, blocked: bool
) -> None:
    verdict = judge(policy(WINDOWS), spec(device, at=at))
    (check,) = verdict.windows
    assert (check.seq, check.device_name) == (0, device)
    assert check.inside is inside
    assert check.next_start == next_start
    assert check.blocked is blocked
    assert verdict.blocked == ((check,) if blocked else ())


def test_a_blocked_request_still_says_what_approval_it_needs() -> None:
    # Typed, it is refused for the blocked device (the desk's test); judged again while its
    # other operations wait to be sent, what they need must not be lost to the one blocked.
    verdict = judge(policy(WINDOWS), spec("db-01"), spec("server-01"))
    assert [c.device_name for c in verdict.blocked] == ["server-01"]
    assert verdict.approval is not None and verdict.approval.needed == 2


@pytest.mark.parametrize(
    ("specs", "needed", "sets", "why"),
    [
        # web-01 has no rule: outside its window it needs one approval by anyone.
        ([spec("web-01")], 1, (None,), ("outside the maintenance window",)),
        ([spec("web-01", at=datetime(2026, 1, 15, 3, 0, tzinfo=UTC))], 0, (), ()),
        # db-01's rule already asks for 2: the window adds only its reason.
        ([spec("db-01")], 2, (None,), ("rule at line 2", "outside the maintenance window")),
        ([spec("db-01", at=SATURDAY_NIGHT)], 2, (None,), ("rule at line 2",)),
        # Outside a "warn" window: nothing more needed.
        ([spec("cache-3")], 0, (), ()),
    ],
)
def test_outside_an_approve_window_needs_an_approval(
    specs: list[OperationSpec], needed: int, sets: tuple[object, ...], why: tuple[str, ...]
) -> None:
    approval = judge(policy(WINDOWS), *specs).approval
    if needed == 0:
        assert approval is None
        return
    assert approval is not None
    assert (approval.needed, approval.approver_sets, approval.why) == (needed, sets, why)


def test_the_snapshot_keeps_what_the_confirmation_needs() -> None:
    snapshot = judge(policy(WINDOWS), spec("db-01")).snapshot()
    assert snapshot["approval"] == {
        "needed": 2,
        "approver_sets": [None],
        "expires": 3600.0,
        "why": ["rule at line 2", "outside the maintenance window"],
    }
    assert snapshot["windows"] == [
        {
            "seq": 0,
            "device": "db-01",
            "inside": False,
            "when": "sat 22:00-sun 06:00",
            "tz": "Europe/Madrid",
            "outside": "approve",
            "next_start": "2026-01-17T21:00:00+00:00",
        }
    ]


# ---------------------------------------------------------------------------- kinds_for

HIDDEN = """
[[rules]]
operations = ["reboot"]
devices = ["db-*"]
requesters = ["S0DBA"]

[[rules]]
operations = ["reboot"]
requesters = ["S0DBA", "U0ALICE1"]

[[rules]]
operations = ["update"]
devices = ["db-*"]
requesters = ["S0DBA"]

[[rules]]
operations = ["restart_service"]
approval = "peer"
"""


@pytest.mark.parametrize(
    ("user", "kinds"),
    [
        # The DBAs may reboot anything.
        (CAROL, ["restart_service", "reboot", "update"]),
        # Alice may reboot, though not db-*: still shown.
        (ALICE, ["restart_service", "reboot", "update"]),
        # Bob may reboot nothing (the second rule covers every device and is not his), but
        # may update everything except db-*.
        (BOB, ["restart_service", "update"]),
    ],
)
def test_help_shows_only_what_this_person_may_request(user: str, kinds: list[str]) -> None:
    assert [k.operation_type for k in policy(HIDDEN).kinds_for(user)] == kinds


def test_someone_who_may_not_ask_sees_no_kinds() -> None:
    assert policy(ACCESS).kinds_for(BOB) == ()


def test_a_rule_for_every_device_written_as_star_hides_the_kind() -> None:
    # devices = ["*"] covers every device as surely as leaving the key out.
    p = policy('[[rules]]\noperations = ["reboot"]\ndevices = ["*"]\nrequesters = ["S0DBA"]\n')
    assert "reboot" not in [k.operation_type for k in p.kinds_for(BOB)]
    assert "reboot" in [k.operation_type for k in p.kinds_for(CAROL)]


def test_a_peer_rule_without_approvers_is_approved_by_those_it_lets_request() -> None:
    # A DBA-only rule: another DBA approves, not anyone the workspace lets request.
    p = policy(
        '[[rules]]\ndevices = ["db-*"]\nrequesters = ["S0DBA"]\napproval = "peer"\n',
        groups={"S0DBA": {DBA, CAROL}},
    )
    approval = judge(p, spec("db-01"), requester=DBA).approval
    assert approval is not None and approval.approver_sets == (("S0DBA",),)
    assert p.may_approve(user=CAROL, requester=DBA, approver_sets=approval.approver_sets) is None
    assert (
        p.may_approve(user=BOB, requester=DBA, approver_sets=approval.approver_sets)
        == "not_approver"
    )


@pytest.mark.parametrize(
    ("toml", "devices", "requester", "refused"),
    [
        # Two rules, two different approvers: nobody is in both lists.
        (
            '[[rules]]\ndevices = ["server-*"]\napproval = "peer"\napprovers = ["U0BOB002"]\n'
            '[[rules]]\ndevices = ["db-*"]\napproval = "peer"\napprovers = ["U0CAROL3"]\n',
            ("server-01", "db-01"),
            ALICE,
            True,
        ),
        # The same, one device at a time: each can be approved.
        (
            '[[rules]]\ndevices = ["server-*"]\napproval = "peer"\napprovers = ["U0BOB002"]\n',
            ("server-01",),
            ALICE,
            False,
        ),
        # Two approvals from a list of two that holds the requester.
        (
            '[[rules]]\napproval = "peer"\napprovers = ["U0ALICE1", "U0BOB002", "U0CAROL3"]\n'
            "approvals = 3\n",
            ("server-01",),
            ALICE,
            True,
        ),
        # A group may hold anyone: not counted against it.
        (
            '[[rules]]\napproval = "peer"\napprovers = ["S0DBA"]\napprovals = 5\n',
            ("server-01",),
            ALICE,
            False,
        ),
    ],
)
def test_a_request_nobody_could_approve_is_refused_when_typed(
    toml: str, devices: tuple[str, ...], requester: str, refused: bool
) -> None:
    p = policy(toml)
    specs = [spec(d) for d in devices]
    if refused:
        with pytest.raises(PolicyRefused) as caught:
            judge(p, *specs, requester=requester)
        assert caught.value.why == "unapprovable"
    else:
        assert judge(p, *specs, requester=requester).approval is not None
