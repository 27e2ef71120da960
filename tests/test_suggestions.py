"""A suggestion never changes the operation (issue 15, section 3): time phrases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.catalog import DEFAULT_CATALOG, Catalog
from bot.grammar import parse
from bot.model import Plan, Refusal
from bot.naming import DEFAULT_NAMING, Naming
from bot.policy.config import load_config
from bot.when import warm_up

ROOT = Path(__file__).resolve().parent.parent
POLICY = load_config(ROOT / "opsbot.example.toml")
# Wednesday 25 Nov 2026, 10:45 UTC
NOW = datetime(2026, 11, 25, 10, 45, tzinfo=UTC)


def setup_module() -> None:
    warm_up()


def setting(file: bool) -> tuple[Catalog, Naming]:
    return (POLICY.catalog, POLICY.naming) if file else (DEFAULT_CATALOG, DEFAULT_NAMING)


def refused(text: str, *, file: bool = False, tz: str = "UTC") -> Refusal:
    catalog, naming = setting(file)
    with pytest.raises(Refusal) as caught:
        parse(text, tz=tz, now=NOW, catalog=catalog, naming=naming)
    return caught.value


def read(text: str, *, file: bool = False, tz: str = "UTC") -> Plan:
    catalog, naming = setting(file)
    result = parse(text, tz=tz, now=NOW, catalog=catalog, naming=naming)
    assert isinstance(result, Plan), text
    return result


def operations(plan: Plan) -> list[tuple[str, str, dict[str, object]]]:
    return [(op.operation_type, op.device_name, op.parameters) for op in plan.operations]


# --- time phrases ---


def test_end_of_day_reads_as_eod_does() -> None:
    found = refused("reboot server-03 end of day")
    assert found.reason == (
        '"end of day" is a different hour for different people: write the time you mean, '
        "such as 17:00."
    )
    assert found.example == "reboot server-03 at 17:00"
    assert refused("reboot web-07 tomorrow close of business").example == (
        "reboot web-07 tomorrow at 17:00"
    )


@pytest.mark.parametrize(
    "phrase", ["after update", "when idle", "unless busy", "before 14:00", "by 14:00", "first"]
)
def test_a_condition_gets_a_sentence_and_a_general_time(phrase: str) -> None:
    found = refused(f"reboot web-07 {phrase}")
    assert found.reason == (
        f'"{phrase}" ties the operation to something else, and I start an operation only at a '
        "time you give: such as at 14:00 or in 2 hours, or leave the time out to start as soon "
        "as you confirm."
    )
    assert found.example == "reboot web-07 in 2 hours"


def test_time_phrases_with_those_words_still_read() -> None:
    assert read("reboot web-07 day after tomorrow at 10:00").operations[0].scheduled_at == (
        datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    )
    assert refused("reboot web-07 by eod").example == "reboot web-07 at 17:00"


# --- four digits: at 1400 ---


@pytest.mark.parametrize(
    ("typed", "fixed", "at"),
    [
        ("at 1400", "at 14:00", "2026-11-25T14:00:00+00:00"),
        ("at 0930", "at 09:30", "2026-11-26T09:30:00+00:00"),  # passed today: tomorrow
        ("at 2359", "at 23:59", "2026-11-25T23:59:00+00:00"),
        ("at 0000", "at 00:00", "2026-11-26T00:00:00+00:00"),
        ("tomorrow at 1400", "tomorrow at 14:00", "2026-11-26T14:00:00+00:00"),
        ("at 1400 CET", "at 14:00 CET", "2026-11-25T13:00:00+00:00"),
    ],
)
def test_four_digits_are_refused_with_the_colon_put_in(typed: str, fixed: str, at: str) -> None:
    found = refused(f"reboot web-07 {typed}")
    digits = typed.split()[typed.split().index("at") + 1]
    assert found.reason == (
        f'"{digits}" is not a time of day I read: write its hours and minutes as '
        f"{fixed.split()[fixed.split().index('at') + 1]}."
    )
    assert found.example == f"reboot web-07 {fixed}"
    assert read(found.example).operations[0].scheduled_at == datetime.fromisoformat(at)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("at 2400", '"2400" is not a time of day: hours go from 0 to 23.'),
        ("at 1375", '"1375" is not a time of day: minutes go from 00 to 59.'),
        (
            "at 2575",
            '"2575" is not a time of day: hours go from 0 to 23 and minutes go from 00 to 59.',
        ),
        (
            "at 930",  # 09:30 or 21:30, as "at 9" could be either
            '"930" is not a time of day I read: write its hours and minutes as 09:30, or 21:30 '
            "for the evening.",
        ),
        (
            "today at 0930",
            '"0930" is not a time of day I read: write its hours and minutes as 09:30.',
        ),
    ],
)
def test_no_impossible_or_guessed_time_is_suggested(typed: str, reason: str) -> None:
    found = refused(f"reboot web-07 {typed}")
    assert found.reason == reason
    # 24:00, 13:75, or 09:30 today (gone by): a general time instead
    assert found.example == "reboot web-07 at 14:00"


def test_a_zone_written_stays_in_the_example() -> None:
    assert refused("reboot web-07 at 9 CET").example == "reboot web-07 at 9am CET"
    assert refused("reboot web-07 tomorrow morning Europe/Berlin").example == (
        "reboot web-07 tomorrow at 09:00 Europe/Berlin"
    )
