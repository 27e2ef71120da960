"""Freezes: `/ops freeze …` and `/ops unfreeze …` read into plain values, which freezes cover
a device, which an unfreeze lifts; and the send gate, which holds a frozen device's operation
in a real store and lets it go when the freeze is lifted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import say
from bot.answers import Frozen
from bot.model import OperationSpec, Refusal, format_api_time
from bot.policy.config import read_config
from bot.policy.desk import PolicyDesk
from bot.policy.freezes import (
    FreezeDesk,
    FreezeOrder,
    covering,
    lifted_by,
    read_freeze,
    read_unfreeze,
)
from bot.policy.gate import SendGate
from bot.policy.groups import StaticGroups
from bot.policy.rules import Policy
from bot.understand.catalog import DEFAULT_CATALOG
from bot.zequenze.api import Found
from store import Freeze, OperationRecord, OutboxEvent, Store

# Tuesday 10 March 2026, 10:30 in Madrid (CET, UTC+1; summer time starts on the 29th).
NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
TZ = "Europe/Madrid"
ADMIN = "U0ADMIN1"


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


# ---------------------------------------------------------------------------- read_freeze


@pytest.mark.parametrize(
    ("args", "devices", "until", "reason"),
    [
        ("server-01 for 2h db migration", ("server-01",), utc(10, 11, 30), "db migration"),
        ("for 30m release", None, utc(10, 10), "release"),
        ("release day", None, None, "release day"),
        # 18:00 in Madrid is 17:00 UTC in winter.
        ("server-01, db-* until 18:00 upgrade", ("server-01", "db-*"), utc(10, 17), "upgrade"),
        ("db-0? until tomorrow at 08:00 patching", ("db-0?",), utc(11, 7), "patching"),
        # 10:00 has passed today: the next 10:00 is tomorrow's.
        ("until 10:00 network change", None, utc(11, 9), "network change"),
        (
            "server-01 and db-02 for 1d storage swap",
            ("server-01", "db-02"),
            utc(11, 9, 30),
            "storage swap",
        ),
        ("for 30d quarter close", None, utc(10, 9, 30) + timedelta(days=30), "quarter close"),
        # Names are kept as typed; matching ignores case.
        ("SERVER-01 for 90m firmware", ("SERVER-01",), utc(10, 11), "firmware"),
        # Device-like words: digits, dashes, dots or glob characters. A bare word is the reason.
        ("web upgrade", None, None, "web upgrade"),
        ("web-frontend upgrade", ("web-frontend",), None, "upgrade"),
        ("cpe.eu upgrade", ("cpe.eu",), None, "upgrade"),
        # Units spelt out, compound durations, and the reason right after them.
        ("for 2 hours release", None, utc(10, 11, 30), "release"),
        ("for 2hours release", None, utc(10, 11, 30), "release"),
        ("for 45 minutes failover test", None, utc(10, 10, 15), "failover test"),
        ("for 3 days audit", None, utc(13, 9, 30), "audit"),
        ("for 2h30m release", None, utc(10, 12), "release"),
        ("server-01 for 1d 2h rack move", ("server-01",), utc(11, 11, 30), "rack move"),
        ("for 2H release", None, utc(10, 11, 30), "release"),
    ],
)
def test_read_freeze(
    args: str, devices: tuple[str, ...] | None, until: datetime | None, reason: str
) -> None:
    assert read_freeze(args, tz=TZ, now=NOW) == FreezeOrder(
        devices=devices, until=until, reason=reason
    )


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ("", say.policy.FREEZE_NEEDS_REASON),
        ("server-01", say.policy.FREEZE_NEEDS_REASON),
        ("server-01 for 2h", say.policy.FREEZE_NEEDS_REASON),
        ("until 18:00", say.policy.FREEZE_NEEDS_REASON),
        # A device-like name alone is a device without a reason, never "freeze everything".
        ("web-frontend", say.policy.FREEZE_NEEDS_REASON),
        ("for ever release", say.policy.FREEZE_BAD_DURATION),
        ("for 0h release", say.policy.FREEZE_NO_LENGTH),
        ("for 31d release", say.policy.freeze_too_long("31d", 30)),
        ("for 721h release", say.policy.freeze_too_long("721h", 30)),
        ("for 1.5h release", say.policy.FREEZE_BAD_DURATION),
        # Units it does not know, never a shorter one it does: 2 months is not 2 minutes.
        ("for 2months release", say.policy.FREEZE_BAD_DURATION),
        ("for 2mo release", say.policy.FREEZE_BAD_DURATION),
        ("for 2hx release", say.policy.FREEZE_BAD_DURATION),
        ("until 2026-03-09 08:00 upgrade", say.policy.FREEZE_BAD_UNTIL),  # yesterday
        ("until 10:30 upgrade", say.policy.FREEZE_BAD_UNTIL),  # now
        ("until now upgrade", say.policy.FREEZE_BAD_UNTIL),
        ("until someday upgrade", say.policy.FREEZE_BAD_UNTIL),
        ("until", say.policy.FREEZE_BAD_UNTIL),
        ("until in 31 days upgrade", say.policy.freeze_too_long("in 31 days", 30)),
        ("a+b for 1h upgrade", say.policy.freeze_bad_device("a+b")),
    ],
)
def test_read_freeze_refuses_with_a_sentence_and_an_example(args: str, reason: str) -> None:
    with pytest.raises(Refusal) as refused:
        read_freeze(args, tz=TZ, now=NOW)
    assert refused.value.reason == reason
    assert refused.value.reason.endswith(".")
    assert refused.value.example == say.policy.FREEZE_EXAMPLE


@pytest.mark.parametrize(
    ("args", "tz", "words"),
    [
        # BST is summer time, not in force on 10 March: "14:00" alone would be GMT's.
        ("until 14:00 BST patching", "Europe/London", ("BST", "Europe/London")),
        # CST has several meanings: "16:00" alone would be Madrid's.
        ("until 16:00 CST patching", "Europe/Madrid", ("CST",)),
    ],
)
def test_a_zone_refused_after_until_is_refused_not_dropped(
    args: str, tz: str, words: tuple[str, ...]
) -> None:
    """A zone the time reader refuses is never left out of the time and taken for the
    reason's first word: the freeze would end an hour or more off."""
    with pytest.raises(Refusal) as refused:
        read_freeze(args, tz=tz, now=NOW)
    assert all(word in refused.value.reason for word in words)
    assert refused.value.example == say.policy.FREEZE_EXAMPLE


def test_a_reason_after_a_time_is_still_the_reason() -> None:
    order = read_freeze("until 16:00 CET patching", tz=TZ, now=NOW)
    assert order.until == utc(10, 15)
    assert order.reason == "patching"


@pytest.mark.parametrize(
    ("args", "devices", "reason"),
    [
        ("web-* for 2h patching, thanks", ("web-*",), "patching"),
        ("web-* for 2h patching thanks!", ("web-*",), "patching"),
        ("web-* for 2h patching, thank you", ("web-*",), "patching"),
        ("web-* until 18:00 patching please", ("web-*",), "patching"),
        ("release day, thx", None, "release day"),
        # A comma inside the reason stays where it was written.
        ("for 2h db, web upgrade, cheers", None, "db, web upgrade"),
        ("web-* for 2h, patching", ("web-*",), "patching"),
        # A question mark is the reason's, as written.
        ("db-0? for 1h disk full?", ("db-0?",), "disk full?"),
    ],
)
def test_thanks_after_a_freeze_are_not_its_reason(
    args: str, devices: tuple[str, ...] | None, reason: str
) -> None:
    order = read_freeze(args, tz=TZ, now=NOW)
    assert (order.devices, order.reason) == (devices, reason)


@pytest.mark.parametrize(
    ("args", "devices"),
    [
        ("web-*, thanks", ("web-*",)),
        (", thanks", None),  # every freeze, not one on a device called "thanks"
        ("thank you!", None),
        ("db-0? please", ("db-0?",)),  # a glob's ? kept
    ],
)
def test_thanks_after_an_unfreeze_are_no_device(args: str, devices: tuple[str, ...] | None) -> None:
    assert read_unfreeze(args) == devices


def test_the_example_reads() -> None:
    words = say.policy.FREEZE_EXAMPLE.split(maxsplit=1)
    assert words[0] == "freeze"
    order = read_freeze(words[1], tz=TZ, now=NOW)
    assert order.devices == ("server-01", "db-*")
    assert order.until == NOW + timedelta(hours=2)
    assert order.reason == "database migration"


# ---------------------------------------------------------------------------- unfreeze


@pytest.mark.parametrize(
    ("args", "devices"),
    [
        ("", None),
        ("server-01", ("server-01",)),
        ("server-01, db-*", ("server-01", "db-*")),
        ("SERVER-01 and db-0?", ("SERVER-01", "db-0?")),
    ],
)
def test_read_unfreeze(args: str, devices: tuple[str, ...] | None) -> None:
    assert read_unfreeze(args) == devices


def test_read_unfreeze_refuses_what_cannot_be_a_device() -> None:
    with pytest.raises(Refusal) as refused:
        read_unfreeze("server-01 a+b")
    assert refused.value.reason == say.policy.freeze_bad_device("a+b")
    assert refused.value.example == say.policy.FREEZE_EXAMPLE


def freeze(freeze_id: int, devices: tuple[str, ...] | None) -> Freeze:
    return Freeze(
        id=freeze_id,
        devices=devices,
        reason="maintenance",
        frozen_by=ADMIN,
        channel="C0OPS",
        created_at=NOW,
        until=None,
    )


FREEZES = [
    freeze(1, ("db-0?",)),
    freeze(2, ("Server-*", "[ab]x-*")),
    freeze(3, ("cache-1",)),
]


@pytest.mark.parametrize(
    ("freezes", "device", "covered_by"),
    [
        (FREEZES, "db-01", 1),
        (FREEZES, "DB-02", 1),
        (FREEZES, "db-010", None),
        (FREEZES, "server-01", 2),
        (FREEZES, "BX-7", 2),
        (FREEZES, "cx-7", None),
        (FREEZES, "cache-10", None),
        (FREEZES, "workstation-05", None),
        # A freeze of every device covers all; the first that covers answers.
        ([*FREEZES, freeze(4, None)], "workstation-05", 4),
        ([freeze(4, None), *FREEZES], "db-01", 4),
        ([], "db-01", None),
    ],
)
def test_covering(freezes: list[Freeze], device: str, covered_by: int | None) -> None:
    found = covering(freezes, device)
    assert (found.id if found else None) == covered_by


@pytest.mark.parametrize(
    ("devices", "lifted"),
    [
        (None, [1, 2, 3, 4]),
        (("db-0?",), [1]),
        (("SERVER-*",), [2]),  # as typed in the freeze, ignoring case
        (("server-01",), []),  # a device within a glob does not lift the glob's freeze
        (("cache-1", "[ab]x-*"), [2, 3]),
        (("web-01",), []),
    ],
)
def test_lifted_by(devices: tuple[str, ...] | None, lifted: list[int]) -> None:
    freezes = [*FREEZES, freeze(4, None)]
    assert [f.id for f in lifted_by(freezes, devices)] == lifted


# ---------------------------------------------------------------------------- the send gate

WINDOWS = """
[[windows]]
devices = ["server-*"]
when = "sat 22:00-sun 06:00"
tz = "Europe/Madrid"
outside = "block"

[[windows]]
devices = ["db-*"]
when = "sat 22:00-sun 06:00"
tz = "Europe/Madrid"
outside = "warn"
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(path=tmp_path / "opsbot.db")
    yield opened
    opened.close()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def confirmed_operation(store: Store, device: str, at: datetime = NOW) -> OperationRecord:
    request = store.create_request(
        specs=[OperationSpec(device_name=device, operation_type="reboot", scheduled_at=at)],
        requester="U0ALICE1",
        surface="command",
        text=f"reboot {device}",
        tz=TZ,
        immediate=True,
        notes=[],
        channel="C0OPS",
        thread_ts=None,
        response_url=None,
        now=NOW,
        expires_at=NOW + timedelta(minutes=10),
    )
    assert store.confirm(request.id, user="U0ALICE1", now=NOW, run_at=None)
    (op,) = [o for o in store.operations_in_state("new") if o.request_id == request.id]
    return op


def events(store: Store, kind: str) -> list[OutboxEvent]:
    return [e for e in store.pending_outbox() if e.kind == kind]


def fresh(store: Store, op: OperationRecord) -> OperationRecord:
    (found,) = [o for o in store.operations_in_state("new") if o.id == op.id]
    return found


def gate(store: Store, clock: Clock, *, windows: str = "") -> SendGate:
    config = read_config(windows, source="opsbot.toml")
    policy = Policy(config=config, members=StaticGroups({}))
    desk = PolicyDesk(store=store, policy=policy, look=QuietApi(), clock=clock)
    return SendGate(store=store, policy=policy, desk=desk, clock=clock)


def test_a_frozen_devices_operation_is_held_once_then_released(store: Store) -> None:
    clock = Clock()
    send = gate(store, clock)
    op = confirmed_operation(store, "server-01")
    other = confirmed_operation(store, "db-01")
    frozen = store.add_freeze(
        devices=("SERVER-*",), reason="rack move", by=ADMIN, channel="C0OPS", now=NOW, until=None
    )

    assert send.admit([op, other]) == [other]
    held = fresh(store, op)
    assert held.held_since == NOW
    assert [e.data["freeze"] for e in events(store, "held")] == [frozen.id]

    # The next tick finds it again (and a stale copy too): still one announcement.
    clock.now = NOW + timedelta(seconds=5)
    assert send.admit([held]) == []
    assert send.admit([op]) == []
    assert len(events(store, "held")) == 1
    assert fresh(store, op).held_since == NOW

    clock.now = NOW + timedelta(minutes=20)
    store.lift_freezes([frozen.id], by=ADMIN, now=clock.now)
    assert [o.id for o in send.admit([fresh(store, op)])] == [op.id]
    assert fresh(store, op).held_since is None
    (released,) = events(store, "released")
    assert (released.request_id, released.data["operation_id"]) == (op.request_id, op.id)


def test_a_freeze_that_ran_out_holds_nothing(store: Store) -> None:
    clock = Clock()
    op = confirmed_operation(store, "server-01")
    store.add_freeze(
        devices=None,
        reason="release",
        by=ADMIN,
        channel=None,
        now=NOW,
        until=NOW + timedelta(hours=1),
    )
    assert gate(store, clock).admit([op]) == []
    clock.now = NOW + timedelta(hours=1)
    assert [o.id for o in gate(store, clock).admit([fresh(store, op)])] == [op.id]
    assert len(events(store, "released")) == 1


# Saturday 14 March, 23:30 in Madrid: inside "sat 22:00-sun 06:00".
SATURDAY_NIGHT = utc(14, 22, 30)


@pytest.mark.parametrize(
    ("device", "at", "now", "next_window"),
    [
        # A Tuesday morning, where server-* is blocked: kept until Saturday's window.
        ("server-01", NOW, NOW, utc(14, 21)),
        ("server-01", SATURDAY_NIGHT, NOW, None),  # sent now, it runs on Saturday night
        # Asked for Saturday night, but sent (after an approval, a freeze) on Sunday at 07:00
        # in Madrid: it runs then, outside the window, not at the time asked.
        ("server-01", SATURDAY_NIGHT, utc(15, 6), utc(21, 21)),
        ("db-01", NOW, NOW, None),  # outside, but db-*'s window only warns
        ("workstation-05", NOW, NOW, None),  # no window at all
    ],
)
def test_the_window_is_judged_for_the_moment_the_operation_runs(
    store: Store, device: str, at: datetime, now: datetime, next_window: datetime | None
) -> None:
    clock = Clock()
    op = confirmed_operation(store, device, at=at)
    clock.now = now
    admitted = gate(store, clock, windows=WINDOWS).admit([op])
    (current,) = store.get_request(op.request_id).operations  # type: ignore[union-attr]
    if next_window is None:
        assert [o.id for o in admitted] == [op.id]
        assert current.state == "new"
        return
    assert admitted == []
    assert current.state == "outside"  # kept here, unsent, for a person's Move or Drop
    (asked,) = events(store, "ask_outside")
    assert asked.data["next_start"] == next_window.isoformat()
    assert asked.data["at"] == format_api_time(max(at, now))
    # Kept, it is never read again by the sender, whatever the clock does.
    assert store.operations_to_send(now=now, root_wait=timedelta(0)) == []


def test_help_tells_admins_which_words_are_devices() -> None:
    # The heuristic decides between one device and the whole fleet: help must say it.
    kinds = DEFAULT_CATALOG.kinds
    assert "`freeze web upgrade` freezes every device" in say.help.help_text(
        kinds, admin=True, max_devices=500
    )
    assert "freeze web" not in say.help.help_text(kinds, admin=False, max_devices=500)


@pytest.mark.parametrize(
    ("args", "devices", "reason"),
    [
        ("web upgrade", None, "web upgrade"),
        ("web for 2h upgrade", ("web",), "upgrade"),
    ],
)
def test_the_device_words_help_describes(
    args: str, devices: tuple[str, ...] | None, reason: str
) -> None:
    order = read_freeze(args, tz=TZ, now=NOW)
    assert (order.devices, order.reason) == (devices, reason)


@pytest.mark.parametrize(
    ("devices", "until", "claimed"),
    [
        (("SERVER-*",), None, False),  # globs and names compared ignoring case
        (("server-0[!1]",), None, True),  # fnmatch's negation, read as GLOB's
        (("server-0[!2]",), None, False),
        (None, None, False),  # every device
        (("server-01",), NOW - timedelta(minutes=1), True),  # ran out
        (("db-*",), None, True),
    ],
)
def test_the_claim_itself_refuses_a_frozen_device(
    store: Store, devices: tuple[str, ...] | None, until: datetime | None, claimed: bool
) -> None:
    # The sender picked the operation up before the freeze: the claim still sees it.
    op = confirmed_operation(store, "server-01")
    store.add_freeze(
        devices=devices,
        reason="rack move",
        by=ADMIN,
        channel="C0OPS",
        now=NOW - timedelta(hours=1),
        until=until,
    )
    assert store.start_sending(op.id, now=NOW) is claimed


class QuietApi:
    """The API's list holds nothing yet: a create call in flight has not reached it."""

    def find_newest(self, match: object, *, want: int, within: int, page_size: int) -> Found:
        return Found(items=[], searched=0, whole=True, total=0, requests=1)


def test_a_freeze_names_the_create_calls_already_on_their_way(store: Store) -> None:
    flying = confirmed_operation(store, "server-01")
    assert store.start_sending(flying.id, now=NOW)  # its POST is out as the admin types
    confirmed_operation(store, "server-02")  # not claimed: the freeze holds it
    desk = FreezeDesk(
        store=store,
        api=QuietApi(),  # type: ignore[arg-type]
        policy=Policy(
            config=read_config(f'[access]\nadmins = ["{ADMIN}"]\n', source="opsbot.toml"),
            members=StaticGroups({}),
        ),
        clock=lambda: NOW,
        on_change=lambda: None,
    )
    answer = desk.order("freeze", "server-* for 1h rack move", user=ADMIN, channel="C0OPS", tz=TZ)
    assert isinstance(answer, Frozen)
    assert [(i["device_name"], i["status"]) for i in answer.held] == [
        ("server-01", say.policy.BEING_SENT)
    ]


def test_a_freeze_over_a_request_of_many_devices_is_told_once(store: Store) -> None:
    clock = Clock()
    send = gate(store, clock)
    request = store.create_request(
        specs=[
            OperationSpec(device_name=f"server-0{n}", operation_type="reboot", scheduled_at=NOW)
            for n in (1, 2, 3)
        ],
        requester="U0ALICE1",
        surface="command",
        text="reboot server-01..03",
        tz=TZ,
        immediate=True,
        notes=[],
        channel="C0OPS",
        thread_ts=None,
        response_url=None,
        now=NOW,
        expires_at=NOW + timedelta(minutes=10),
    )
    assert store.confirm(request.id, user="U0ALICE1", now=NOW, run_at=None)
    ops = [o for o in store.operations_in_state("new") if o.request_id == request.id]
    frozen = store.add_freeze(
        devices=("server-*",), reason="rack move", by=ADMIN, channel="C0OPS", now=NOW, until=None
    )
    assert send.admit(ops) == []
    assert len(events(store, "held")) == 1  # not one a device
    store.lift_freezes([frozen.id], by=ADMIN, now=NOW)
    assert len(send.admit([fresh(store, op) for op in ops])) == 3
    assert len(events(store, "released")) == 1  # when the last one went
