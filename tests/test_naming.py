"""Naming many devices: ranges (`server-01..server-20`), groups (`@web`) and the blast radius,
in the text, the modal, and back as ranges in what is shown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.model import Plan, Refusal
from bot.understand.fields import FieldErrors, plan_from_fields
from bot.understand.grammar import parse
from bot.understand.naming import DEFAULT_NAMING, Limits, Naming, Range, compress, compressed

NOW = datetime(2026, 11, 25, 10, 45, tzinfo=UTC)
WEB = tuple(f"web-{n:02d}" for n in range(1, 13)) + ("lb-01",)
NAMING = Naming(groups={"web": WEB, "db": ("db-01", "db-02", "db-03")})


def devices(text: str, naming: Naming = NAMING) -> list[str]:
    result = parse(text, tz="UTC", now=NOW, naming=naming)
    assert isinstance(result, Plan)
    return list(dict.fromkeys(op.device_name for op in result.operations))


def refusal(text: str, naming: Naming = NAMING) -> Refusal:
    with pytest.raises(Refusal) as caught:
        parse(text, tz="UTC", now=NOW, naming=naming)
    parse(caught.value.example, tz="UTC", now=NOW, naming=naming)  # an example that works
    return caught.value


def servers(first: int, last: int, width: int = 2, prefix: str = "server-") -> list[str]:
    return [f"{prefix}{n:0{width}d}" for n in range(first, last + 1)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # zero padding kept, from the first end
        ("reboot server-01..server-20", servers(1, 20)),
        ("reboot server-001..server-500", servers(1, 500, width=3)),
        ("reboot server-98..server-100", servers(98, 100, width=1)),
        ("reboot server-01..server-100", servers(1, 100)),
        # the short form: the same prefix, only the number
        ("reboot server-08..10", servers(8, 10)),
        ("reboot server-008..10", servers(8, 10, width=3)),
        # no padding
        ("reboot web-1..web-3", ["web-1", "web-2", "web-3"]),
        ("reboot web-8..web-11", ["web-8", "web-9", "web-10", "web-11"]),
        # one device is a range too
        ("reboot server-05..server-05", ["server-05"]),
        # the prefix is compared ignoring case, spelled as the first end
        ("reboot Server-01..server-03", ["Server-01", "Server-02", "Server-03"]),
        # digits inside the prefix
        ("reboot rack2-node01..rack2-node03", ["rack2-node01", "rack2-node02", "rack2-node03"]),
        # mixed with names, groups, commas and "and"
        (
            "reboot router-01, server-01..03 and db-01 at 14:00",
            ["router-01", "server-01", "server-02", "server-03", "db-01"],
        ),
        (
            "reboot @db and workstation-1..workstation-2",
            ["db-01", "db-02", "db-03", "workstation-1", "workstation-2"],
        ),
        ("reboot @web", list(WEB)),
        ("reboot @WEB", list(WEB)),
        # repeats are dropped, as first named
        ("reboot db-02, @db, db-01..db-03", ["db-02", "db-01", "db-03"]),
        ("restart nginx on web-01..02 at 14:00", ["web-01", "web-02"]),
        ("update @db with curl", ["db-01", "db-02", "db-03"]),
    ],
)
def test_ranges_and_groups_name_every_device(text: str, expected: list[str]) -> None:
    assert devices(text) == expected


def test_a_group_is_listed_in_the_notes_with_ranges() -> None:
    result = parse("reboot @web, server-01", tz="UTC", now=NOW, naming=NAMING)
    assert isinstance(result, Plan)
    assert result.notes == ("@web is 13 devices: web-01..web-12, lb-01.",)


def test_devices_named_twice_by_ranges_make_one_note() -> None:
    result = parse(
        "reboot server-01..server-10, server-05..server-12", tz="UTC", now=NOW, naming=NAMING
    )
    assert isinstance(result, Plan)
    assert len(result.operations) == 12
    assert result.notes == (
        "6 devices were named more than once by the ranges and groups (server-05..server-10); "
        "each is included once.",
    )


@pytest.mark.parametrize(
    ("text", "reason", "example"),
    [
        (
            "reboot server-20..server-01",
            '"server-20..server-01" counts down; write a range from the lower number to the '
            "higher.",
            "reboot server-01..server-20",
        ),
        (
            "reboot server-20..8 at 14:00",
            '"server-20..8" counts down; write a range from the lower number to the higher.',
            "reboot server-8..server-20 at 14:00",
        ),
        (
            "reboot web-01..db-05",
            '"web-01..db-05" is not a range: "web-01" and "db-05" differ before the number. '
            "A range counts on the number that ends one name.",
            "reboot server-01 at 14:00",  # not web-01..web-20: other devices than those named
        ),
        (
            "reboot server-1..server-010",
            '"server-1..server-010" is unclear: "server-1" and "server-010" are padded with '
            "zeros differently. Write both ends with the same number of digits.",
            "reboot server-01 at 14:00",  # which padding the devices have is not for us to say
        ),
        (
            "reboot server-001..server-20",
            '"server-001..server-20" is unclear: "server-001" and "server-20" are padded with '
            "zeros differently. Write both ends with the same number of digits.",
            "reboot server-01 at 14:00",
        ),
        (
            "reboot server-a..server-c",
            '"server-a..server-c" is not a range: a range is two names that end in a number, '
            "like server-01..server-20 (or server-08..10), and names every device between.",
            "reboot server-01 at 14:00",
        ),
        (
            "reboot 01..20",
            '"01..20" is not a range: a range is two names that end in a number, '
            "like server-01..server-20 (or server-08..10), and names every device between.",
            "reboot server-01 at 14:00",
        ),
        (
            "reboot server-01...server-03",
            '"server-01...server-03" is not a range: a range is two names that end in a number, '
            "like server-01..server-20 (or server-08..10), and names every device between.",
            "reboot server-01 at 14:00",
        ),
        (
            "reboot server-1..server-1000",
            '"server-1..server-1000" is 1,000 devices; one request can take at most 500. '
            "Split it into several requests.",
            "reboot server-01 at 14:00",
        ),
        (
            "reboot @webs",
            'There is no group "@webs" (did you mean "@web"?); the groups are "@web" or "@db".',
            "reboot server-01 at 14:00",  # a guess is a hint in the sentence, not the example
        ),
        (
            "reboot web",
            '"web" is the name of a group, not taken as a device: write @web for its 13 devices.',
            "reboot @web",
        ),
        (
            "reboot all servers",
            '"all servers" is not a device: name each one, separated by commas or "and", '
            "a range like server-01..server-20, or a group: @web or @db.",
            "reboot server-01, server-02",
        ),
    ],
)
def test_ranges_that_do_not_read_are_refused_with_a_sentence(
    text: str, reason: str, example: str
) -> None:
    found = refusal(text)
    assert (found.reason, found.example) == (reason, example)


def test_without_groups_a_group_says_there_are_none() -> None:
    found = refusal("reboot @web", naming=DEFAULT_NAMING)
    assert found.reason == (
        'There is no group "@web": the policy file defines none (its [groups] section). '
        "Name each device, or a range like server-01..server-20."
    )


def test_a_too_wide_range_is_refused_before_it_is_expanded() -> None:
    # Ten billion names would take minutes and gigabytes to write out: counted, never listed.
    found = refusal("reboot h1..h10000000000")
    assert found.reason.startswith('"h1..h10000000000" is 10,000,000,000 devices;')


def test_501_devices_are_refused_with_the_count_before_anything_else() -> None:
    # Even the missing packages and the past time are not asked about first.
    found = refusal("update server-001..server-400, @web, db-001..db-088 at yesterday")
    assert found.reason == (
        "That is 501 devices; one request can take at most 500. Split it into several requests."
    )
    assert len(devices("reboot server-001..server-400, @web, db-001..db-087")) == 500


def test_repeats_are_bounded_before_they_are_expanded() -> None:
    text = "reboot " + ", ".join(["h1..h500"] * 11)
    found = refusal(text)
    assert found.reason == (
        "These ranges and groups name 5,500 devices, counting repeats; one request can take "
        "at most 500. Split it into several requests."
    )
    assert len(devices("reboot " + ", ".join(["h1..h500"] * 10))) == 500


def test_limits_come_from_the_policy() -> None:
    naming = Naming(limits=Limits(max_devices=2000, max_operations=4000))
    assert len(devices("reboot server-0001..server-2000", naming=naming)) == 2000
    found = refusal("restart nginx, apache, mysql on server-0001..server-2000", naming=naming)
    assert found.reason == (
        "That is 3 services on 2000 devices, 6000 operations; one request can make at most "
        "4000. Split it into several requests."
    )
    small = Naming(limits=Limits(max_devices=10, max_operations=10))
    assert refusal("reboot h1..h11", naming=small).reason.startswith('"h1..h11" is 11 devices')


def test_the_modal_takes_ranges_and_groups() -> None:
    result = plan_from_fields(
        operation_type="reboot",
        devices="@db, server-01..03",
        values={},
        when=None,
        tz="UTC",
        now=NOW,
        naming=NAMING,
    )
    assert [op.device_name for op in result.operations] == [
        "db-01",
        "db-02",
        "db-03",
        "server-01",
        "server-02",
        "server-03",
    ]
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type="reboot",
            devices="server-20..server-01",
            values={},
            when=None,
            tz="UTC",
            now=NOW,
            naming=NAMING,
        )
    assert caught.value.errors["devices"].startswith('"server-20..server-01" counts down')


@pytest.mark.parametrize(
    "names",
    [
        servers(1, 500, width=3),
        ["server-01", "server-02"],
        [*servers(1, 3), "lb-01", *servers(5, 9), "server-11"],
        servers(98, 102, width=1),
        ["a1", "a2", "a3", "a05", "a06", "a07", "b", "x-9", "x-10", "x-11"],
        ["db-01", "db-02", "db-03", "Db-04"],
    ],
)
def test_compress_gives_back_exactly_the_names(names: list[str]) -> None:
    shown = compress(names)
    expanded = [n for p in shown for n in (p.names() if isinstance(p, Range) else [p])]
    assert expanded == names


def test_compress_writes_runs_as_ranges() -> None:
    assert compressed(servers(1, 500, width=3)) == ["server-001..server-500"]
    # a name that holds ".." is a name, never taken back as a range
    assert compress(["a..b", "x1", "x2", "x3"])[0] == "a..b"
    assert compressed([*servers(1, 3), "lb-01", "server-05", "server-06"]) == [
        "server-01..server-03",
        "lb-01",
        "server-05",
        "server-06",
    ]
