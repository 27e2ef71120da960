"""bot.understand.grammar (command text and modal fields to a Command), bot.understand.catalog
and the help text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot import say
from bot.model import HelpQuery, ListQuery, OperationSpec, Plan, Refusal, StatusQuery
from bot.say.help import help_text
from bot.understand.catalog import DEFAULT_CATALOG, Catalog, OperationKind, ParamField
from bot.understand.fields import FieldErrors, plan_from_fields
from bot.understand.grammar import parse
from bot.understand.names import check_device_name
from bot.understand.naming import DEFAULT_NAMING, Limits, Naming
from bot.understand.when import warm_up
from tests.catalogs import LABEL_KIND, SET_KIND, TR069_CATALOG

# Wednesday 25 Nov 2026: 10:45 in UTC, 02:45 in Los Angeles (PST), 11:45 in Madrid (CET).
NOW = datetime(2026, 11, 25, 10, 45, tzinfo=UTC)
LA = "America/Los_Angeles"
MADRID = "Europe/Madrid"
REBOOT = {"force": False, "timeout": 300}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def setup_module() -> None:
    warm_up()


# The limits before ranges and groups: 50 devices, 50 operations.
SMALL = Naming(limits=Limits(max_devices=50, max_operations=50))


def plan(text: str, tz: str = "UTC", now: datetime = NOW, naming: Naming = DEFAULT_NAMING) -> Plan:
    result = parse(text, tz=tz, now=now, naming=naming)
    assert isinstance(result, Plan)
    return result


def summary(result: Plan) -> list[tuple[str, str, str, dict]]:
    return [
        (op.device_name, op.operation_type, op.to_api()["scheduled_at"], op.parameters)
        for op in result.operations
    ]


def refusal(
    text: str, tz: str = "UTC", now: datetime = NOW, naming: Naming = DEFAULT_NAMING
) -> Refusal:
    with pytest.raises(Refusal) as caught:
        parse(text, tz=tz, now=now, naming=naming)
    # Every example must itself be a command that works.
    parse(caught.value.example, tz=tz, now=now, naming=naming)
    return caught.value


# --- queries ---


@pytest.mark.parametrize("text", ["help", "/ops help", "HELP", "  /OPS   help  ", "help reboot"])
def test_help(text: str) -> None:
    assert parse(text, tz="UTC", now=NOW) == HelpQuery()


def test_list() -> None:
    assert parse("list", tz="UTC", now=NOW) == ListQuery()
    assert parse("/ops List Server-01", tz="UTC", now=NOW) == ListQuery(device_name="Server-01")


def test_list_refusals() -> None:
    assert refusal("list server-01 server-02").reason == (
        'list takes at most one device name, but got "server-02" as well.'
    )
    assert refusal("list <!channel>").reason.startswith('"<!channel>" can\'t be a device name')


@pytest.mark.parametrize(
    ("text", "page"),
    [
        ("list page 2", 2),
        ("/ops LIST Page 1", 1),
        ("list page 007", 7),
        ("list page 1000000", 10**6),
    ],
)
def test_list_page(text: str, page: int) -> None:
    assert parse(text, tz="UTC", now=NOW) == ListQuery(page=page)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("list page", "Which page? Put its number after page: page 1 is the newest operations."),
        ("list page 0", 'Pages are numbered 1, 2, 3 and so on; "0" is not a page number.'),
        ("list page -1", 'Pages are numbered 1, 2, 3 and so on; "-1" is not a page number.'),
        ("list page two", 'Pages are numbered 1, 2, 3 and so on; "two" is not a page number.'),
        ("list page 2.5", 'Pages are numbered 1, 2, 3 and so on; "2.5" is not a page number.'),
        (
            "list page ２",
            'Pages are numbered 1, 2, 3 and so on; "２" is not a page number. "２" (U+FF12, '
            "fullwidth digit two) is not a character I read in a command: names, times and "
            "options are written with plain letters, digits and punctuation.",
        ),
        ("list page 1000001", "Page numbers go up to 1,000,000."),
        ("list page " + "9" * 3000, "Page numbers go up to 1,000,000."),
        ("list page 2 server-01", 'list page takes one number, but got "server-01" as well.'),
        (
            "list server-01 page 2",
            "Pages are for the whole list; list server-01 shows the newest operations of "
            "server-01 without pages.",
        ),
    ],
)
def test_list_page_refusals(text: str, reason: str) -> None:
    refused = refusal(text)
    assert refused.reason == reason
    assert refused.example == "list page 2"


def test_status() -> None:
    assert parse("status txn_123", tz="UTC", now=NOW) == StatusQuery(operation_id="txn_123")
    assert parse("status " + "a" * 64, tz="UTC", now=NOW) == StatusQuery(operation_id="a" * 64)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("status", "Which operation? Give its id after status."),
        (
            "status bad/id",
            '"bad/id" is not an operation id: ids are letters, digits, "_" and "-", '
            "at most 64 characters.",
        ),
        ("status " + "a" * 65, f'"{"a" * 65}" is not an operation id'),
        ("status a b", 'status takes one operation id, but got "b" as well.'),
    ],
)
def test_status_refusals(text: str, reason: str) -> None:
    found = refusal(text)
    assert found.reason.startswith(reason)
    assert found.example == "status txn_1001"  # the API's own id shape


def test_empty_refused_with_help_example() -> None:
    for text in ("", "   ", "/ops"):
        found = refusal(text)
        assert found.example == "help"


# --- the three operations ---


def test_restart() -> None:
    result = plan("restart nginx on server-02 at 14:00")
    assert summary(result) == [
        (
            "server-02",
            "restart_service",
            "2026-11-25T14:00:00Z",
            {"service_name": "nginx", "verify_status": True},
        )
    ]
    assert result.immediate is False
    assert result.tz == "UTC"
    assert result.notes == ()


def test_restart_with_service_word_and_case() -> None:
    result = plan("Restart service Nginx on Server-01")
    assert summary(result) == [
        (
            "Server-01",
            "restart_service",
            "2026-11-25T10:45:00Z",
            {"service_name": "Nginx", "verify_status": True},
        )
    ]
    assert result.immediate is True


def test_restart_a_service_called_service() -> None:
    result = plan("restart service on server-01")
    assert result.operations[0].parameters["service_name"] == "service"


def test_reboot_defaults_and_now() -> None:
    result = plan("reboot server-01")
    assert summary(result) == [("server-01", "reboot", "2026-11-25T10:45:00Z", REBOOT)]
    assert result.immediate is True
    assert plan("REBOOT server-01 now") == result


@pytest.mark.parametrize(
    ("text", "force", "timeout"),
    [
        ("reboot server-01 force", True, 300),
        ("reboot force server-01", True, 300),
        ("Reboot server-01 at 14:00 FORCE", True, 300),
        ("reboot server-01 timeout 600", False, 600),
        ("reboot server-01 timeout 90s", False, 90),
        ("reboot server-01 timeout 10m", False, 600),
        ("reboot server-01 timeout 10 min", False, 600),
        ("reboot server-01 timeout 1h force", True, 3600),
        ("reboot server-01 at 14:00 timeout 600", False, 600),
    ],
)
def test_reboot_force_and_timeout(text: str, force: bool, timeout: int) -> None:
    result = plan(text)
    assert [op.parameters for op in result.operations] == [{"force": force, "timeout": timeout}]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("reboot server-01 timeout 0", 'The timeout must be more than 0 seconds, not "0".'),
        ("reboot server-01 timeout -5", 'The timeout must be more than 0 seconds, not "-5".'),
        ("reboot server-01 timeout 25h", 'The timeout "25h" is too long: at most 24 h (86400 s).'),
        ("reboot server-01 timeout 86401", 'The timeout "86401" is too long'),
        ("reboot server-01 timeout abc", '"abc" is not a timeout I can read'),
        ("reboot server-01 timeout", '"timeout" needs a length after it: seconds (600)'),
        ("reboot server-01 timeout 60 timeout 90", '"timeout" is given twice; give it once.'),
    ],
)
def test_reboot_timeout_refusals(text: str, reason: str) -> None:
    found = refusal(text)
    assert found.reason.startswith(reason)
    assert "timeout 600" in found.example or found.example.endswith("at 14:00")


def test_timeout_with_unknown_unit_word_is_not_swallowed() -> None:
    # nor offered as a device: a word right after the number is its unit
    found = refusal("reboot server-01 timeout 10 parsecs")
    assert found.reason.startswith('"10 parsecs" is not a timeout I can read')
    assert found.example == "reboot server-01 timeout 600"


@pytest.mark.parametrize(
    ("text", "reason", "example"),
    [
        (
            "update server-03",
            'Which packages? Name at least one after "with": '
            "without packages, nobody can tell what update would do.",
            "update server-03 with security-updates",
        ),
        (
            "update server-03 at 14:00",
            'Which packages? Name at least one after "with"',
            "update server-03 with security-updates at 14:00",
        ),
        (
            "update server-03 curl at 14:00",
            'Which packages? If "curl" is one, put "with" before it.',
            "update server-03 with curl at 14:00",
        ),
    ],
)
def test_update_without_packages_is_refused(text: str, reason: str, example: str) -> None:
    # An empty package_list would leave nobody knowing what the update installs.
    found = refusal(text)
    assert found.reason.startswith(reason)
    assert found.example == example


def test_update_with_packages() -> None:
    result = plan("update server-01,server-02 with openssl, curl and libc6:amd64 tomorrow at 3am")
    assert summary(result) == [
        (d, "update", "2026-11-26T03:00:00Z", {"package_list": ["openssl", "curl", "libc6:amd64"]})
        for d in ("server-01", "server-02")
    ]
    # each operation has its own list
    assert (
        result.operations[0].parameters["package_list"]
        is not (result.operations[1].parameters["package_list"])
    )


def test_update_time_before_with() -> None:
    result = plan("update server-01 at 14:00 with curl")
    assert summary(result) == [
        ("server-01", "update", "2026-11-25T14:00:00Z", {"package_list": ["curl"]})
    ]


def test_update_duplicate_package_noted() -> None:
    assert plan("update server-01 with curl, curl").notes == (
        "curl was listed twice; it is included once.",
    )


def test_update_refusals() -> None:
    found = refusal("update server-01 with")
    assert found.reason == 'Which packages? Put the names after "with".'
    assert found.example == "update server-01 with security-updates"
    found = refusal("update server-01 with curl;rm")
    assert found.reason.startswith('"curl;rm" can\'t be a package name: it contains ";".')
    found = refusal("update server-01 with openssl redis")
    assert found.reason == (
        '"redis" is not a time I can read. If "redis" is one more of the packages, '
        'separate the names with commas or "and".'
    )
    assert found.example == "update server-01 with openssl, redis"


def test_restart_refusals() -> None:
    found = refusal("restart nginx server-01")
    assert found.reason == 'Put "on" between the service and the devices.'
    assert found.example == "restart nginx on server-01"
    found = refusal("restart nginx")
    assert found.reason == 'On which devices? Add "on" and their names after "nginx".'
    assert found.example == "restart nginx on server-01"
    found = refusal("restart nginx apache on server-02 at 14:00")
    assert found.reason == (
        'If "apache" is one more service, separate the services with commas or "and", '
        'and put "on" before the devices.'
    )
    assert found.example == "restart nginx, apache on server-02 at 14:00"
    assert refusal("restart on server-01").reason == "Which service? Put its name after restart."
    assert refusal("restart ngi/nx on server-01").reason.startswith(
        '"ngi/nx" can\'t be a service name: it contains "/".'
    )
    assert refusal("restart nginx on").reason == (
        'Which devices? Put their names after "restart nginx on".'
    )


# --- devices ---


@pytest.mark.parametrize(
    "text",
    [
        "reboot server-01, server-02 and server-03",
        "reboot server-01,server-02,server-03",
        "reboot server-01 and server-02 and server-03",
        "reboot server-01, server-02, and server-03",
    ],
)
def test_device_lists_keep_order(text: str) -> None:
    assert [op.device_name for op in plan(text).operations] == [
        "server-01",
        "server-02",
        "server-03",
    ]


def test_duplicate_devices_dropped_with_note() -> None:
    result = plan("reboot server-01, server-02, server-01 and server-01 at 14:00")
    assert [op.device_name for op in result.operations] == ["server-01", "server-02"]
    assert result.notes == ("server-01 was listed 3 times; it is included once.",)


def test_fifty_devices_allowed_fifty_one_refused() -> None:
    names = [f"host-{i}" for i in range(51)]
    assert len(plan("reboot " + ", ".join(names[:50]), naming=SMALL).operations) == 50
    # a duplicate does not count
    assert len(plan("reboot " + ", ".join([*names[:50], "host-0"]), naming=SMALL).operations) == 50
    found = refusal("reboot " + ", ".join(names), naming=SMALL)
    assert found.reason == (
        "That is 51 devices; one request can take at most 50. Split it into several requests."
    )


def test_devices_without_separator_refused() -> None:
    found = refusal("reboot server-01 server-02")
    assert found.reason == (
        '"server-02" is not a time I can read. If "server-02" is another device, '
        'separate the devices with commas or "and".'
    )
    assert found.example == "reboot server-01, server-02"
    found = refusal("reboot server-01 server-02 at 14:00")
    assert found.reason.startswith('"server-02 at 14:00" is not a time I can read.')
    assert found.example == "reboot server-01, server-02 at 14:00"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "reboot <!channel>",
            '"<!channel>" can\'t be a device name: it contains "<", "!", ">". '
            'A device name uses only letters, digits, ".", "_" and "-".',
        ),
        (
            "reboot server-01, <@U123>",
            '"<@U123>" can\'t be a device name: it contains "<", "@", ">".',
        ),
        ("reboot -rf", '"-rf" can\'t be a device name: it must start with a letter or a digit.'),
        (
            "reboot " + "a" * 64,
            f'A device name can be at most 63 characters; this one is 64: "{"a" * 64}".',
        ),
        ("reboot server-01 and", 'A device name should follow "and".'),
        ("reboot server-01,", 'A device name should follow ",".'),
        ("reboot server-01, at 14:00", 'A device name should follow ",".'),
        ("reboot", 'Which devices? Put their names after "reboot".'),
        (
            "reboot at 14:00",
            'Which devices? "at" is a word I read as part of a time or an option, '
            'not a device name: put the device names after "reboot".',
        ),
        # Time words are never device names: the device was left out, not called "fri".
        *(
            (
                f"reboot {word} at 10:00",
                f'Which devices? "{word}" is a word I read as part of a time or an option',
            )
            for word in ("fri", "tue", "3pm", "9:30am", "midday", "right")
        ),
        (
            "reboot sérver",
            '"sérver" can\'t be a device name: it contains "é" (U+00E9, latin small letter e '
            "with acute).",
        ),
    ],
)
def test_device_refusals(text: str, reason: str) -> None:
    found = refusal(text)
    assert found.reason.startswith(reason)
    assert found.example == "reboot server-01 at 14:00"


def test_a_time_word_after_on_is_not_a_device() -> None:
    assert refusal("restart nginx on 3pm").reason == (
        'Which devices? "3pm" is a word I read as part of a time or an option, '
        'not a device name: put the device names after "restart nginx on".'
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("restart nginx on web-01 force", 'restart takes no options, so "force" does not belong'),
        ("restart nginx on web-01 timeout 10m", 'restart takes no options, so "timeout"'),
        ("update web-01 with curl timeout 5", 'update has no "timeout" option; it takes "with".'),
        ("reboot web-01 with curl", 'reboot has no "with" option; it takes "force" or "timeout".'),
    ],
)
def test_an_option_of_another_operation_is_named_as_such(text: str, reason: str) -> None:
    assert refusal(text).reason.startswith(reason)


def test_devices_differing_only_in_case_are_one_device() -> None:
    result = plan("reboot server-01, Server-01 and SERVER-01")
    assert [op.device_name for op in result.operations] == ["server-01"]
    assert result.notes == (
        "server-01 was listed 3 times (also as SERVER-01, Server-01); it is included once.",
    )


def test_timeout_digits_must_be_ascii() -> None:
    assert refusal("reboot web-01 timeout ５").reason.startswith('"５" is not a timeout I can read')


def test_check_device_name() -> None:
    assert check_device_name("server-01.example_2") is None
    assert check_device_name("a" * 63) is None
    assert check_device_name("tomorrow") == (
        '"tomorrow" can\'t be a device name: it is a word I read as part of a command.'
    )
    assert check_device_name("") == "The device name is empty."
    assert check_device_name("a b") is not None


# --- time in commands ---


@pytest.mark.parametrize(
    ("tz", "text", "expected"),
    [
        ("UTC", "reboot server-01 at 14:00", "2026-11-25T14:00:00Z"),
        ("UTC", "reboot server-01 at 3pm", "2026-11-25T15:00:00Z"),
        ("UTC", "reboot server-01 at noon", "2026-11-25T12:00:00Z"),
        ("UTC", "reboot server-01 tomorrow at 3am", "2026-11-26T03:00:00Z"),
        ("UTC", "reboot server-01 in 2 hours", "2026-11-25T12:45:00Z"),
        ("UTC", "reboot server-01 in 30 minutes", "2026-11-25T11:15:00Z"),
        ("UTC", "reboot server-01 on saturday at 23:00", "2026-11-28T23:00:00Z"),
        ("UTC", "reboot server-01 14:00 tomorrow", "2026-11-26T14:00:00Z"),
        ("UTC", "reboot server-01 today at 17:30", "2026-11-25T17:30:00Z"),
        ("UTC", "reboot server-01 at 9:30pm", "2026-11-25T21:30:00Z"),
        (LA, "reboot server-01 at 9:00", "2026-11-25T17:00:00Z"),
        (LA, "reboot server-01 at 14:00", "2026-11-25T22:00:00Z"),
        (MADRID, "reboot server-01 at 14:00", "2026-11-25T13:00:00Z"),
        (MADRID, "restart nginx on server-02 on saturday at 23:00", "2026-11-28T22:00:00Z"),
    ],
)
def test_times_in_commands(tz: str, text: str, expected: str) -> None:
    result = plan(text, tz=tz)
    assert [op.scheduled_at for op in result.operations] == [utc(expected)]
    assert result.tz == tz
    assert result.immediate is False


def test_date_in_command() -> None:
    now = datetime(2024, 1, 15, 8, 0, tzinfo=UTC)
    result = plan("reboot server-01 on 2024-01-20 at 09:30", now=now)
    assert result.operations[0].scheduled_at == utc("2024-01-20T09:30:00Z")


def test_now_is_truncated_and_immediate() -> None:
    now = datetime(2026, 11, 25, 2, 45, 7, 654_321, tzinfo=timezone(timedelta(hours=-8)))
    result = plan("reboot server-01 now", tz=LA, now=now)
    assert result.operations[0].to_api()["scheduled_at"] == "2026-11-25T10:45:07Z"
    assert result.immediate is True


def test_notes_in_order_time_then_devices() -> None:
    result = plan("reboot server-01, server-01 at 16:00 CET", tz=LA)
    assert result.operations[0].scheduled_at == utc("2026-11-25T15:00:00Z")
    assert result.notes == (
        "The time is in CET (UTC+01:00), as written.",
        "server-01 was listed twice; it is included once.",
    )
    result = plan("reboot server-01 at 9:00")
    assert result.notes == ("09:00 has passed today, so this is tomorrow, Thu 26 Nov.",)
    assert result.operations[0].scheduled_at == utc("2026-11-26T09:00:00Z")


def test_named_zone_in_command() -> None:
    result = plan("reboot server-01 2pm UTC", tz=LA)
    assert result.operations[0].scheduled_at == utc("2026-11-25T14:00:00Z")
    assert result.notes == ("The time is in UTC, as written.",)
    assert result.tz == LA


def test_dst_in_command() -> None:
    now = utc("2026-03-07T15:00:00Z")
    ny = "America/New_York"
    result = plan("reboot server-01 tomorrow at 3am", tz=ny, now=now)
    assert result.operations[0].scheduled_at == utc("2026-03-08T07:00:00Z")
    found = refusal("reboot server-01 tomorrow at 2:30am", tz=ny, now=now)
    assert found.reason.startswith("02:30 does not exist on Sun 8 Mar in America/New_York")
    assert found.example == "reboot server-01 tomorrow at 03:30"


@pytest.mark.parametrize(
    ("text", "reason", "example"),
    [
        (
            "reboot server-01 at 25:99",
            '"25:99" is not a time of day: hours go from 0 to 23 and minutes go from 00 to 59.',
            "reboot server-01 at 14:00",
        ),
        (
            "reboot server-01 at 13pm",
            '"13pm" is not a time of day: with am or pm the hour goes from 1 to 12.',
            "reboot server-01 at 14:00",
        ),
        (
            "reboot server-01 on 2024-02-30 at 10:00",
            '"2024-02-30" is not a date: February 2024 has 29 days.',
            "reboot server-01 at 14:00",
        ),
        (
            "reboot server-01 tomorrow",
            "Tomorrow at what time? Add a time of day such as 09:00, 3pm or noon.",
            "reboot server-01 tomorrow at 09:00",
        ),
        (
            "reboot server-01 force on saturday",
            "On saturday at what time? Add a time of day such as 09:00, 3pm or noon.",
            "reboot server-01 force on saturday at 09:00",
        ),
        (
            "reboot server-01 on 2024-01-20 at 09:30",
            '"on 2024-01-20 at 09:30" is in the past: it is now 10:45 Wed 25 Nov 2026 (UTC).',
            "reboot server-01 tomorrow at 09:30",
        ),
        (
            "restart nginx on server-01 at 9.30",
            '"at 9.30" is not a time I can read.',
            "restart nginx on server-01 at 14:00",
        ),
        (
            "update server-01, server-02 with curl at sometime",
            '"at sometime" does not say when. Give a time, such as at 14:00 or in 2 hours',
            "update server-01, server-02 with curl in 2 hours",
        ),
        (
            # "reboot server-01, gibberish" would drop "words": no name is offered
            "reboot server-01 gibberish words",
            '"gibberish words" is not a time I can read. Try a time such as 14:00',
            "reboot server-01 at 14:00",
        ),
    ],
)
def test_time_refusals_have_command_examples(text: str, reason: str, example: str) -> None:
    found = refusal(text)
    assert found.reason.startswith(reason)
    assert found.example == example


# --- input hygiene ---


def test_whitespace_is_collapsed() -> None:
    assert plan("  /ops   reboot\tserver-01\n  at 14:00 \r\n") == plan("reboot server-01 at 14:00")


def test_text_over_4000_refused() -> None:
    text = "reboot server-01 at 14:00" + " " * 100 + "x" * 3976
    found = refusal(text)
    assert found.reason == "That is 4101 characters; a command can be at most 4000."
    assert found.example == "restart nginx on server-02 at 14:00"


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\u202e", "\u200b"])
def test_control_characters_refused(char: str) -> None:
    found = refusal(f"reboot server-01{char} at 14:00")
    assert found.reason.startswith(
        f"The command contains an invisible control character (U+{ord(char):04X})."
    )


def test_unknown_operation() -> None:
    found = refusal("reload nginx on server-01")
    assert found.reason == (
        'I don\'t know "reload". I can restart, reboot or update, and also list, status and help.'
    )
    assert found.example == DEFAULT_CATALOG.kinds[0].example


def test_unknown_zone_and_naive_now_are_errors() -> None:
    with pytest.raises(ValueError):
        parse("reboot server-01", tz="Nowhere/Atlantis", now=NOW)
    with pytest.raises(ValueError):
        parse("reboot server-01", tz="UTC", now=datetime(2026, 11, 25, 10, 45))


# --- the modal ---


def test_plan_from_fields_valid() -> None:
    result = plan_from_fields(
        operation_type="restart_service",
        devices="server-01, server-02 and server-01",
        values={"service_name": " nginx ", "force": True},  # force: not a restart field
        when=utc("2026-11-25T14:00:00Z"),
        tz=LA,
        now=NOW,
    )
    assert result == Plan(
        operations=tuple(
            OperationSpec(
                device_name=d,
                operation_type="restart_service",
                scheduled_at=utc("2026-11-25T14:00:00Z"),
                parameters={"service_name": "nginx", "verify_status": True},
            )
            for d in ("server-01", "server-02")
        ),
        notes=("server-01 was listed twice; it is included once.",),
        tz=LA,
        immediate=False,
    )


def test_plan_from_fields_reboot_and_update() -> None:
    result = plan_from_fields(
        operation_type="reboot",
        devices="server-01",
        values={"force": True, "timeout": "10m"},
        when=None,
        tz="UTC",
        now=NOW,
    )
    assert summary(result) == [
        ("server-01", "reboot", "2026-11-25T10:45:00Z", {"force": True, "timeout": 600})
    ]
    assert result.immediate is True
    result = plan_from_fields(
        operation_type="reboot", devices="a1", values={"timeout": 90}, when=None, tz="UTC", now=NOW
    )
    assert result.operations[0].parameters == {"force": False, "timeout": 90}
    for packages in ("curl, openssl", ["curl", "openssl"]):
        result = plan_from_fields(
            operation_type="update",
            devices="a1",
            values={"package_list": packages},
            when=None,
            tz="UTC",
            now=NOW,
        )
        assert result.operations[0].parameters == {"package_list": ["curl", "openssl"]}


def test_plan_from_fields_reports_every_bad_field() -> None:
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type="restart_service",
            devices="server-01 <!channel>",
            values={"service_name": ""},
            when=utc("2026-11-25T10:00:00Z"),
            tz="UTC",
            now=NOW,
        )
    assert caught.value.errors == {
        "devices": 'I can\'t read "<!channel>" as a device list: '
        'separate the devices with commas or "and".',
        "service_name": "Service is required.",
        "when": "10:00 Wed 25 Nov is in the past: it is now 10:45 Wed 25 Nov 2026 (UTC). "
        "Pick a later time.",
    }
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type="reboot",
            devices="",
            values={"force": "yes", "timeout": "0"},
            when=None,
            tz="UTC",
            now=NOW,
        )
    assert caught.value.errors == {
        "devices": "Enter at least one device name.",
        "force": "Force has a value I can't use.",
        "timeout": 'The timeout must be more than 0 seconds, not "0".',
    }
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type="update",
            devices=", ".join(f"h{i}" for i in range(51)),
            values={"package_list": "curl wget"},
            when=None,
            tz="UTC",
            now=NOW,
            naming=SMALL,
        )
    assert set(caught.value.errors) == {"devices", "package_list"}
    assert caught.value.errors["devices"].startswith("That is 51 devices")


def test_plan_from_fields_picker_past_refused() -> None:
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type="reboot",
            devices="server-01",
            values={},
            when=NOW - timedelta(seconds=1),
            tz="UTC",
            now=NOW,
        )
    assert list(caught.value.errors) == ["when"]


def test_plan_from_fields_unknown_type() -> None:
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type="format_disk", devices="a1", values={}, when=None, tz="UTC", now=NOW
        )
    assert caught.value.errors == {"operation_type": '"format_disk" is not an operation I know.'}


# --- catalog and help ---


def test_catalog_lookup() -> None:
    assert DEFAULT_CATALOG.by_keyword("REBOOT") is DEFAULT_CATALOG.kinds[1]
    assert DEFAULT_CATALOG.by_type("restart_service") is DEFAULT_CATALOG.kinds[0]
    assert DEFAULT_CATALOG.by_keyword("restart_service") is None
    assert DEFAULT_CATALOG.by_type("restart") is None


def test_catalog_examples_work() -> None:
    for kind in DEFAULT_CATALOG.kinds:
        result = plan(kind.example)
        assert {op.operation_type for op in result.operations} == {kind.operation_type}


def test_catalog_is_data() -> None:
    catalog = Catalog(
        kinds=(
            OperationKind(
                keyword="drain",
                operation_type="drain_node",
                label="Drain a node",
                syntax="drain <devices> [grace <seconds>] [now]",
                example="drain node-1 at 14:00",
                fields=(
                    ParamField(
                        name="grace_period",
                        label="Grace",
                        kind="duration",
                        required=False,
                        default=30,
                        word="grace",
                    ),
                ),
                fixed={"evict": True},
            ),
        )
    )
    result = parse("drain node-1, node-2 grace 2m", tz="UTC", now=NOW, catalog=catalog)
    assert isinstance(result, Plan)
    assert [op.parameters for op in result.operations] == [{"grace_period": 120, "evict": True}] * 2
    with pytest.raises(Refusal) as caught:
        parse("reboot node-1", tz="UTC", now=NOW, catalog=catalog)
    assert caught.value.reason.startswith('I don\'t know "reboot". I can drain,')
    with pytest.raises(ValueError):
        Catalog(kinds=())


def test_help_text() -> None:
    text = help_text(DEFAULT_CATALOG.kinds, max_devices=500)
    for kind in DEFAULT_CATALOG.kinds:
        escaped = kind.syntax.replace("<", "&lt;").replace(">", "&gt;")
        assert f"`{escaped}`" in text
        assert f"`{kind.example}`" in text
    for phrase in (
        "`at 14:00`",
        "`tomorrow at 3am`",
        "`in 2 hours`",
        "`at 16:00 Europe/Berlin`",
        "`now`",
    ):
        assert phrase in text
    assert "`list`" in text and "`status &lt;operation id&gt;`" in text and "`help`" in text
    assert "<" not in text and ">" not in text
    assert "&" not in text.replace("&lt;", "").replace("&gt;", "").replace("&amp;", "")


# --- what a new user trips over (issue 8) ---


@pytest.mark.parametrize(
    ("text", "force"),
    [
        ("force reboot server-01", True),
        ("FORCE Reboot server-01 at 14:00", True),
        ("/ops force reboot server-01 timeout 10m", True),
    ],
)
def test_a_flag_may_come_before_its_operation(text: str, force: bool) -> None:
    result = plan(text)
    assert [op.device_name for op in result.operations] == ["server-01"]
    assert result.operations[0].parameters["force"] is force


def test_a_flag_before_an_operation_without_it_is_named_as_such() -> None:
    assert refusal("force restart nginx on server-01").reason.startswith(
        'restart takes no options, so "force" does not belong here.'
    )


@pytest.mark.parametrize(
    "text",
    [
        "restart the nginx service on server-02",
        "restart service nginx on server-02",
        "restart nginx service on server-02",
        "restart the service nginx on server-02",
        "Restart The Nginx Service on server-02",
        "restart nginx on the server-02",
    ],
)
def test_ways_of_naming_the_service(text: str) -> None:
    result = plan(text)
    assert [(op.device_name, op.parameters["service_name"]) for op in result.operations] == [
        ("server-02", "nginx" if "Nginx" not in text else "Nginx")
    ]


def test_several_services_make_one_operation_per_service_per_device() -> None:
    result = plan("restart nginx, apache on server-02 and server-03 at 14:00")
    # Device by device, each service in the order written.
    assert [(op.device_name, op.parameters) for op in result.operations] == [
        ("server-02", {"service_name": "nginx", "verify_status": True}),
        ("server-02", {"service_name": "apache", "verify_status": True}),
        ("server-03", {"service_name": "nginx", "verify_status": True}),
        ("server-03", {"service_name": "apache", "verify_status": True}),
    ]
    assert {op.scheduled_at for op in result.operations} == {utc("2026-11-25T14:00:00Z")}
    assert plan("restart the nginx and apache services on server-02") == plan(
        "restart nginx, apache on server-02"
    )
    assert plan("restart nginx, Nginx on server-02").notes == (
        "nginx was listed twice (also as Nginx); it is included once.",
    )


def test_services_times_devices_is_capped_at_fifty_operations() -> None:
    devices = ", ".join(f"host-{i}" for i in range(26))
    short = devices.rsplit(", ", 1)[0]
    assert len(plan(f"restart nginx, apache on {short}", naming=SMALL).operations) == 50
    found = refusal(f"restart nginx, apache on {devices}", naming=SMALL)
    assert found.reason == (
        "That is 2 services on 26 devices, 52 operations; one request can make at most 50. "
        "Split it into several requests."
    )


def test_the_modal_service_field_takes_a_list() -> None:
    for services in ("nginx, apache", ["nginx", "apache"], "nginx and apache"):
        result = plan_from_fields(
            operation_type="restart_service",
            devices="a1, a2",
            values={"service_name": services},
            when=None,
            tz="UTC",
            now=NOW,
        )
        assert [(op.device_name, op.parameters["service_name"]) for op in result.operations] == [
            ("a1", "nginx"),
            ("a1", "apache"),
            ("a2", "nginx"),
            ("a2", "apache"),
        ]
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type="restart_service",
            devices=", ".join(f"h{i}" for i in range(26)),
            values={"service_name": "nginx, apache"},
            when=None,
            tz="UTC",
            now=NOW,
            naming=SMALL,
        )
    assert caught.value.errors == {
        "devices": "That is 2 services on 26 devices, 52 operations; one request can make at "
        "most 50. Split it into several requests."
    }
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type="restart_service",
            devices="a1",
            values={"service_name": "nginx apache"},
            when=None,
            tz="UTC",
            now=NOW,
        )
    assert list(caught.value.errors) == ["service_name"]


@pytest.mark.parametrize(
    ("text", "reason", "example"),
    [
        (
            "restart nginx on server-02 yesterday",
            '"yesterday" is in the past, and I only schedule from now on.',
            "restart nginx on server-02 now",
        ),
        (
            "reboot server-01 last friday",
            '"last friday" is in the past',
            "reboot server-01 now",
        ),
        ("reboot server-01 2 hours ago", '"2 hours ago" is in the past', "reboot server-01 now"),
        (
            "reboot server-01 asap",
            'For "asap", write "now", or leave the time out: '
            "the operation starts as soon as you confirm.",
            "reboot server-01 now",
        ),
        *(
            (
                f"reboot server-01 {word}",
                f'"{word}" does not say when. Give a time, such as at 14:00 or in 2 hours',
                "reboot server-01 in 2 hours",
            )
            for word in ("soon", "later", "whenever")
        ),
        (
            "reboot server-01 eod",
            '"eod" is a different hour for different people: write the time you mean, '
            "such as 17:00.",
            "reboot server-01 at 17:00",
        ),
        (
            "reboot server-01 tonight",
            "Tonight at what time? Add a time of day, such as 22:00.",
            "reboot server-01 tonight at 22:00",
        ),
        (
            "reboot server-01 tomorrow morning",
            "Tomorrow morning at what time? Add a time of day, such as 09:00.",
            "reboot server-01 tomorrow at 09:00",
        ),
        (
            "update server-01 with curl every day at 3am",
            '"every day at 3am" asks for a repeat, but a request runs once',
            "update server-01 with curl tomorrow at 03:00",
        ),
    ],
)
def test_vague_and_past_time_words_get_a_sentence(text: str, reason: str, example: str) -> None:
    found = refusal(text)
    assert found.reason.startswith(reason)
    assert "not a time I can read" not in found.reason and "device" not in found.reason
    assert found.example == example


def test_tonight_late_in_the_evening_suggests_a_time_still_to_come() -> None:
    late = utc("2026-11-25T22:30:00Z")
    assert refusal("reboot server-01 tonight", now=late).example == (
        "reboot server-01 tonight at midnight"
    )


@pytest.mark.parametrize(
    "text",
    [
        "reboot server-01 december",
        "reboot server-01 hours",
        "reboot server-01 pm",
        "reboot server-01 CET",
        "update server-01 with curl june",
    ],
)
def test_time_words_are_never_offered_as_names(text: str) -> None:
    found = refusal(text)
    assert "If " not in found.reason  # no "If "december" is another device"
    assert found.reason.endswith('or "in 2 hours".')


@pytest.mark.parametrize(
    "word", ["yesterday", "asap", "soon", "later", "whenever", "eod", "tonight", "last"]
)
def test_time_words_are_not_device_names(word: str) -> None:
    found = refusal(f"reboot {word}")
    assert found.reason.startswith(f'Which devices? "{word}" is a word I read as part of a time')
    assert check_device_name(word) is not None


@pytest.mark.parametrize(
    ("text", "shown", "example"),
    [
        ("reboot all servers", "all servers", "reboot server-01, server-02"),
        ("reboot all", "all", "reboot server-01, server-02"),
        ("reboot everything", "everything", "reboot server-01, server-02"),
        ("reboot every server at 14:00", "every server", "reboot server-01, server-02"),
        ("reboot server-01 and all", "all", "reboot server-01, server-02"),
        ("update all devices with x", "all devices", "update server-01, server-02 with x"),
        ("update all", "all", "update server-01, server-02 with security-updates"),
        ("restart nginx on all servers", "all servers", "restart nginx on server-01, server-02"),
    ],
)
def test_no_device_groups(text: str, shown: str, example: str) -> None:
    found = refusal(text)
    assert found.reason == (
        f'"{shown}" is not a device: there are no groups of devices yet, '
        'so name each one, separated by commas or "and", or a range like server-01..server-20.'
    )
    assert found.example == example


@pytest.mark.parametrize("devices", ["all", "all servers", "server-01, all"])
def test_the_modal_refuses_groups_and_an_update_without_packages(devices: str) -> None:
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type="update", devices=devices, values={}, when=None, tz="UTC", now=NOW
        )
    assert caught.value.errors == {
        "devices": '"all" is not a device: there are no groups of devices yet, '
        'so name each one, separated by commas or "and", or a range like server-01..server-20.',
        "package_list": "Packages is required.",
    }


@pytest.mark.parametrize(
    ("text", "word", "example"),
    [
        ("cancel txn_1001", "cancel", "status txn_1001"),
        ("Cancel txn_1001", "cancel", "status txn_1001"),
        ("/ops abort txn_1001", "abort", "status txn_1001"),
        ("delete txn_77", "delete", "status txn_77"),
        ("unschedule txn_1001", "unschedule", "status txn_1001"),
        ("cancel", "cancel", "status txn_1001"),
        ("cancel reboot server-01", "cancel", "status txn_1001"),
    ],
)
def test_cancel_says_the_api_cannot(text: str, word: str, example: str) -> None:
    found = refusal(text)
    assert found.reason.startswith(f"I can't {word} ")
    assert "the Zequenze API offers no way to cancel a scheduled operation" in found.reason
    assert "I don't know" not in found.reason
    assert found.example == example
    assert parse(example, tz="UTC", now=NOW) == StatusQuery(operation_id=example.split()[1])


@pytest.mark.parametrize(
    "name", ["server-01.", "server-01:", "server-01-", "server-01_", "server-01;", "web.example."]
)
def test_a_device_name_ends_with_a_letter_or_a_digit(name: str) -> None:
    reason = f'"{name}" can\'t be a device name: it must end with a letter or a digit.'
    assert check_device_name(name) == reason
    assert refusal(f"reboot {name}").reason == reason
    assert refusal(f"reboot server-02, {name} at 14:00").reason == reason
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type="reboot", devices=name, values={}, when=None, tz="UTC", now=NOW
        )
    assert caught.value.errors == {"devices": reason}


def test_device_names_keep_their_spelling() -> None:
    assert [op.device_name for op in plan("REBOOT Server-01.Lab NOW").operations] == [
        "Server-01.Lab"
    ]


# Every refusal a person can meet, from the tests above and issue 8's list. Each must read as a
# sentence, not a parser's message, and its example must be a command the bot accepts.
BAD_INPUTS = [
    "",
    "/ops",
    "force restart nginx on server-01",
    "restart nginx server-01",
    "restart nginx",
    "restart nginx apache on server-02",
    "restart nginx, on server-02",
    "restart on server-01",
    "restart nginx on",
    "restart ngi/nx on server-01",
    "restart nginx on 3pm",
    "restart nginx on server-02 yesterday",
    "restart nginx on server-01 at 9.30",
    "restart nginx on web-01 force",
    "restart nginx on web-01 timeout 10m",
    "restart nginx on all servers",
    "restart nginx, apache, mysql on h1..h400",
    "restart nginx on h1..h400, h500..h700",
    "restart nginx on h0001..h1000",
    "restart nginx on h20..h1 at 14:00",
    "restart nginx on web-01..db-05",
    "restart nginx on h1..h010",
    "restart nginx on h..h9",
    "restart nginx on @web",
    "reboot",
    "reboot all servers",
    "reboot all",
    "reboot everything",
    "reboot at 14:00",
    "reboot fri at 10:00",
    "reboot server-01.",
    "reboot server-01:",
    "reboot server-01-",
    "reboot server-01_",
    "reboot server-01 server-02",
    "reboot server-01 server-02 at 14:00",
    "reboot server-01 gibberish words",
    "reboot server-01 any time",
    "restart nginx on the server-02 server-03",
    "reboot server-01 and",
    "reboot server-01,",
    "reboot server-01, at 14:00",
    "reboot <!channel>",
    "reboot -rf",
    "reboot sérver",
    "reboot " + "a" * 64,
    "reboot " + ", ".join(f"host-{i}" for i in range(501)),
    "reboot server-01 timeout",
    "reboot server-01 timeout 0",
    "reboot server-01 timeout 25h",
    "reboot server-01 timeout abc",
    "reboot server-01 timeout 10 parsecs",
    "reboot server-01 timeout 60 timeout 90",
    "reboot web-01 with curl",
    "reboot server-01 asap",
    "reboot server-01 soon",
    "reboot server-01 later",
    "reboot server-01 whenever",
    "reboot server-01 eod",
    "reboot server-01 tonight",
    "reboot server-01 last friday",
    "reboot server-01 every day",
    "reboot server-01 this evening",
    "reboot server-01 december",
    "reboot server-01 tomorrow",
    "reboot server-01 force on saturday",
    "reboot server-01 at 9",
    "reboot server-01 at 25:99",
    "reboot server-01 at 13pm",
    "reboot server-01 on 2024-02-30 at 10:00",
    "reboot server-01 on 2024-01-20 at 09:30",
    "reboot server-01 on 01/02 at 10:00",
    "reboot server-01 at 16:00 CST",
    "reboot server-01 at 16:00 IST",
    "reboot server-01 at 14:00 CET UTC",
    "reboot server-01 at 9:30 Europe/Berln",
    "reboot server-01 in 0 minutes",
    "reboot server-01 in 400 days",
    "update server-03",
    "update server-03 curl",
    "update server-03 at 14:00",
    "update all devices with x",
    "update server-01 with",
    "update server-01 with curl;rm",
    "update server-01 with openssl redis",
    "update server-01 server-02",
    "update web-01 with curl timeout 5",
    "update server-01, server-02 with curl at sometime",
    "cancel txn_1001",
    "cancel",
    "abort txn_1001",
    "status",
    "status bad/id",
    "status a b",
    "reload nginx on server-01",
    "reboot server-01" + "\x07",
    "reboot server-01 at 14:00" + " " * 100 + "x" * 3976,
]
# Words of a parser's messages, outside what is quoted from the input.
PARSER_WORDS = re.compile(r"\b(expected|but found|token|parser?|syntax|unexpected)\b", re.I)


@pytest.mark.parametrize("tz", ["UTC", MADRID, "Asia/Shanghai"])
def test_every_refusal_is_a_sentence_with_an_example_that_works(tz: str) -> None:
    for text in BAD_INPUTS:
        try:
            parse(text, tz=tz, now=NOW)
        except Refusal as refused:
            reason, example = refused.reason, refused.example
        else:
            assert tz == "Asia/Shanghai" and text.endswith(("CST", "IST")), text  # read in Asia
            continue
        assert not PARSER_WORDS.search(re.sub(r'"[^"]*"', "", reason)), (text, reason)
        assert reason.endswith((".", "?")), (text, reason)
        try:
            accepted = parse(example, tz=tz, now=NOW)
        except Refusal as error:
            pytest.fail(f"{text!r} → example {example!r} is refused: {error.reason}")
        assert isinstance(accepted, Plan | ListQuery | StatusQuery | HelpQuery), (text, example)


# --- value fields: TR-069 set parameter values ---

PATH = "Device.ManagementServer.PeriodicInformInterval"


def tr069(text: str) -> list[tuple[str, str, str, dict]]:
    result = parse(text, tz="UTC", now=NOW, catalog=TR069_CATALOG)
    assert isinstance(result, Plan)
    return summary(result)


def tr069_refusal(text: str) -> Refusal:
    with pytest.raises(Refusal) as caught:
        parse(text, tz="UTC", now=NOW, catalog=TR069_CATALOG)
    parse(caught.value.example, tz="UTC", now=NOW, catalog=TR069_CATALOG)  # an example that works
    return caught.value


NOW_Z = "2026-11-25T10:45:00Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"set {PATH} to 300 on cpe-0042",
            [("cpe-0042", "set_parameter_values", NOW_Z, {"parameter_name": PATH, "value": 300})],
        ),
        (
            f"set {PATH} to 300 on cpe-0042, cpe-0043 tomorrow at 02:00",
            [
                (
                    d,
                    "set_parameter_values",
                    "2026-11-26T02:00:00Z",
                    {"parameter_name": PATH, "value": 300},
                )
                for d in ("cpe-0042", "cpe-0043")
            ],
        ),
        # the value after the devices, like a timeout; signs; the article
        (
            "/ops SET the Device.WiFi.SSID.1.SSID on cpe-1 to -5 at 14:00",
            [
                (
                    "cpe-1",
                    "set_parameter_values",
                    "2026-11-25T14:00:00Z",
                    {"parameter_name": "Device.WiFi.SSID.1.SSID", "value": -5},
                )
            ],
        ),
        (
            "set Device.NAT.PortMapping. to +7 on cpe-1",
            [
                (
                    "cpe-1",
                    "set_parameter_values",
                    NOW_Z,
                    {"parameter_name": "Device.NAT.PortMapping.", "value": 7},
                )
            ],
        ),
        (
            "set Device.A, Device.B to 0 on cpe-1",
            [
                ("cpe-1", "set_parameter_values", NOW_Z, {"parameter_name": p, "value": 0})
                for p in ("Device.A", "Device.B")
            ],
        ),
        (
            "enable Device.WiFi.Radio.1.Enable to NO on cpe-1",
            [
                (
                    "cpe-1",
                    "set_enable",
                    NOW_Z,
                    {"parameter_name": "Device.WiFi.Radio.1.Enable", "enabled": False},
                )
            ],
        ),
        (
            "enable Device.WiFi.Radio.1.Enable on cpe-1",  # not required: its default
            [
                (
                    "cpe-1",
                    "set_enable",
                    NOW_Z,
                    {"parameter_name": "Device.WiFi.Radio.1.Enable", "enabled": True},
                )
            ],
        ),
        (
            'label cpe-1, cpe-2 as "rack 4, row 2" weight 2.5 in 2 hours',
            [
                (d, "set_label", "2026-11-25T12:45:00Z", {"text": "rack 4, row 2", "weight": 2.5})
                for d in ("cpe-1", "cpe-2")
            ],
        ),
        (
            "label cpe-1 weight .5 as “lab” ",
            [("cpe-1", "set_label", NOW_Z, {"text": "lab", "weight": 0.5})],
        ),
        # what follows a value's word is the value, even a word of another operation
        ("label cpe-1 as force", [("cpe-1", "set_label", NOW_Z, {"text": "force", "weight": 1.0})]),
        ('label cpe-1 as "on"', [("cpe-1", "set_label", NOW_Z, {"text": "on", "weight": 1.0})]),
    ],
)
def test_value_fields_read_by_type(text: str, expected: list) -> None:
    assert tr069(text) == expected


@pytest.mark.parametrize(
    ("text", "reason", "example"),
    [
        (
            f"set {PATH} to fast on cpe-0042",
            "The value must be a whole number, like 300.",
            f"set {PATH} to 300 on cpe-0042",
        ),
        (
            "set Device.A to 2.5 on cpe-1",
            "The value must be a whole number, like 300.",
            "set Device.A to 300 on cpe-1",
        ),
        (
            "set Device.A on cpe-1 at 14:00",
            'The value is missing: put a whole number after "to", like 300.',
            "set Device.A to 300 on cpe-1 at 14:00",
        ),
        (
            "set Device.A to on cpe-1",
            '"to" needs a value after it: a whole number, like 300.',
            "set Device.A to 300 on cpe-1",
        ),
        (
            "set Device.A to",
            '"to" needs a value after it: a whole number, like 300.',
            "set Device.A to 300 on server-01",
        ),
        (
            "set Device.A on cpe-1 to",
            '"to" needs a value after it: a whole number, like 300.',
            "set Device.A on cpe-1 to 300",
        ),
        (
            "set to 300 on cpe-1",
            "Which parameter? Put its name after set.",
            SET_KIND.example,
        ),
        (
            "set Device.A 300 on cpe-1",
            'If "300" is the value, put "to" before it.',
            "set Device.A to 300 on cpe-1",
        ),
        (
            "set Device.A to 300 cpe-1",
            'Put "on" between the parameter and the devices.',
            "set Device.A to 300 on cpe-1",
        ),
        (
            "set Device.A to 1 to 2 on cpe-1",
            '"to" is given twice; give it once.',
            SET_KIND.example,  # which one was meant is not for the bot to guess
        ),
        (
            "set Device.A to 99999999999999999999 on cpe-1",
            "The value is too large: at most 9223372036854775807 either side of 0.",
            "set Device.A to 300 on cpe-1",
        ),
        (
            "set Device.A to 300 on cpe-1.",  # devices stay as strict as ever
            '"cpe-1." can\'t be a device name: it must end with a letter or a digit.',
            SET_KIND.example,
        ),
        (
            "set Device.A to 300 on to",
            'Which devices? Put their names after "set Device.A to 300 on".',
            SET_KIND.example,
        ),
        (
            "set Device/A to 300 on cpe-1",
            '"Device/A" can\'t be a parameter name: it contains "/". A parameter name uses only '
            'letters, digits, ".", "_", "-", "+", "@" and ":".',
            SET_KIND.example,
        ),
        (
            "enable Device.A to on cpe-1",
            'The value for Enabled must be true or false (yes and no work too), not "on": '
            '"on" comes before the devices.',
            "enable Device.A to true on cpe-1",
        ),
        (
            "enable Device.A to off on cpe-1",
            'The value for Enabled must be true or false (yes and no work too), not "off": '
            '"on" comes before the devices.',
            "enable Device.A to false on cpe-1",
        ),
        (
            "enable Device.A to maybe on cpe-1",
            "The value for Enabled must be true or false (yes and no work too).",
            "enable Device.A to true on cpe-1",
        ),
        (
            "label cpe-1",
            'The value for Label is missing: put a word (or words between quotes) after "as", '
            'like "rack 4".',
            'label cpe-1 as "rack 4"',
        ),
        (
            'label cpe-1 as "rack 4',
            "The value for Label opens a quote but does not close it: "
            'put the words between two quotes, like "two words".',
            LABEL_KIND.example,  # where the quote ends is not for the bot to guess
        ),
        (
            "label cpe-1 as x weight 1e3",
            "The value for Weight must be a number, like 2.5 (with a dot for decimals).",
            "label cpe-1 as x weight 2.5",
        ),
        (
            "label cpe-1 as x force",
            'label has no "force" option; it takes "as" or "weight".',
            'label cpe-0042 as "rack 4"',
        ),
        (
            "reboot cpe-1 to 5",
            'reboot has no "to" option; it takes "force" or "timeout".',
            "reboot server-01 at 14:00",
        ),
    ],
)
def test_value_refusals(text: str, reason: str, example: str) -> None:
    refused = tr069_refusal(text)
    assert (refused.reason, refused.example) == (reason, example)


def test_to_is_never_a_device_name_with_a_value_field_in_the_catalog() -> None:
    assert (
        tr069_refusal("reboot to").reason
        == 'reboot has no "to" option; it takes "force" or "timeout".'
    )
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type="reboot",
            devices="cpe-1, to",
            values={},
            when=None,
            tz="UTC",
            now=NOW,
            catalog=TR069_CATALOG,
        )
    assert caught.value.errors == {"devices": 'A device name should follow ",".'}
    # The default catalog has no "to", so it reads as it always did.
    assert [op.device_name for op in plan("reboot to").operations] == ["to"]


def test_the_set_examples_work_and_the_default_catalog_has_no_set() -> None:
    for kind in TR069_CATALOG.kinds:
        result = parse(kind.example, tz="UTC", now=NOW, catalog=TR069_CATALOG)
        assert isinstance(result, Plan)
        assert {op.operation_type for op in result.operations} == {kind.operation_type}
    assert refusal(SET_KIND.example).reason.startswith('I don\'t know "set".')


@pytest.mark.parametrize(
    ("raw", "value"),
    [("300", 300), (" -5 ", -5), (300, 300), ("+0", 0)],
)
def test_the_modal_reads_a_value_by_type(raw: object, value: int) -> None:
    result = plan_from_fields(
        operation_type="set_parameter_values",
        devices="cpe-1",
        values={"parameter_name": "Device.WiFi.SSID.1.SSID", "value": raw},
        when=None,
        tz="UTC",
        now=NOW,
        catalog=TR069_CATALOG,
    )
    assert result.operations[0].parameters == {
        "parameter_name": "Device.WiFi.SSID.1.SSID",
        "value": value,
    }


@pytest.mark.parametrize(
    ("operation_type", "values", "errors"),
    [
        (
            "set_parameter_values",
            {"parameter_name": "Device.A", "value": "fast"},
            {"value": "The value must be a whole number, like 300."},
        ),
        (
            "set_parameter_values",
            {"parameter_name": "", "value": " "},
            {"parameter_name": "Parameter is required.", "value": "Value is required."},
        ),
        (
            "set_parameter_values",
            {"parameter_name": "Device.A", "value": True},
            {"value": "Value has a value I can't use."},
        ),
        (
            "set_enable",
            {"parameter_name": "Device.A", "enabled": "on"},
            {
                "enabled": "The value for Enabled must be true or false (yes and no work too), "
                'not "on": "on" comes before the devices.'
            },
        ),
        (
            "set_label",
            {"text": "x", "weight": "many"},
            {"weight": say.grammar.value_not_number("Weight", "2.5")},
        ),
    ],
)
def test_the_modal_refuses_a_value_of_the_wrong_type(
    operation_type: str, values: dict, errors: dict
) -> None:
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            operation_type=operation_type,
            devices="cpe-1",
            values=values,
            when=None,
            tz="UTC",
            now=NOW,
            catalog=TR069_CATALOG,
        )
    assert caught.value.errors == errors


def test_the_modal_keeps_quotes_as_typed_and_reads_booleans() -> None:
    def parameters(operation_type: str, values: dict) -> dict:
        result = plan_from_fields(
            operation_type=operation_type,
            devices="cpe-1",
            values=values,
            when=None,
            tz="UTC",
            now=NOW,
            catalog=TR069_CATALOG,
        )
        return result.operations[0].parameters

    # In the form the field itself marks where the value ends: quotes are part of it.
    assert parameters("set_label", {"text": '"rack 4"', "weight": "3"}) == {
        "text": '"rack 4"',
        "weight": 3,
    }
    assert parameters("set_enable", {"parameter_name": "Device.A", "enabled": "false"}) == {
        "parameter_name": "Device.A",
        "enabled": False,
    }
    assert parameters("set_enable", {"parameter_name": "Device.A", "enabled": None}) == {
        "parameter_name": "Device.A",
        "enabled": True,
    }


def _kind(*fields: ParamField) -> OperationKind:
    return OperationKind(
        keyword="x",
        operation_type="x",
        label="X",
        syntax="x <devices>",
        example="x a1",
        fields=fields,
        fixed={},
    )


def _value(**changes: object) -> ParamField:
    field = {
        "name": "v",
        "label": "V",
        "kind": "value",
        "required": True,
        "default": None,
        "word": "to",
        "value_type": "integer",
    } | changes
    return ParamField(**field)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ((_value(word=""),), "needs a word"),
        ((_value(value_type=""),), "value_type must be one of"),
        ((_value(value_type="float"),), "value_type must be one of"),
        ((_value(), _value(name="w")), "a word of its own"),
        ((_value(), _value(name="w", kind="duration", value_type="")), "a word of its own"),
        ((_value(kind="duration"),), "only a value field has a value_type"),
        ((_value(word="on"),), "is the grammar's word"),
        ((_value(word="and"),), "is the grammar's word"),
        ((_value(default="300"),), "the default must be a integer"),
        ((_value(default=True),), "the default must be a integer"),
        ((_value(value_type="boolean", default=1),), "the default must be a boolean"),
    ],
)
def test_catalog_refuses_a_malformed_value_field(fields: tuple, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Catalog(kinds=(_kind(*fields),))


def test_catalog_takes_well_formed_value_fields() -> None:
    Catalog(
        kinds=(
            _kind(_value(default=5), _value(name="n", word="by", value_type="number", default=2.5)),
        )
    )
    # A name field needs no word: "set <path> to 1 on ..." has none before the path.
    assert SET_KIND.fields[0].word == ""


def test_help_shows_the_set_kind_and_how_values_are_written() -> None:
    text = help_text(TR069_CATALOG.kinds, max_devices=500)
    for kind in TR069_CATALOG.kinds:
        escaped = kind.syntax.replace("<", "&lt;").replace(">", "&gt;")
        assert f"`{escaped}`" in text and f"`{kind.example}`" in text
    assert "`set &lt;parameter&gt; to &lt;value&gt; on &lt;devices&gt;`" in text
    assert 'goes between quotes: `to "two words"`' in text
    assert "`true` or `false`" in text
    assert "*Values*" not in help_text(DEFAULT_CATALOG.kinds, max_devices=500)


def test_every_value_refusal_is_a_sentence_with_an_example_that_works() -> None:
    for text in [
        "set",
        "set Device.A",
        "set Device.A to",
        "set Device.A to 1",
        "set Device.A to 1 on",
        "set Device.A to , on cpe-1",
        "set Device.A to 1 on all",
        "set Device.A to x y on cpe-1",
        "set Device.A Device.B to 1 on cpe-1",
        "set Device.A to 1 on cpe-1 whenever",
        "set Device.A to 1 on cpe-1 cpe-2",
        "enable Device.A to on on cpe-1",
        "label",
        "label as x",
        'label cpe-1 as "',
        "label cpe-1 as x weight",
        "label cpe-1 as " + "x" * 1025,
    ]:
        refused = tr069_refusal(text)
        assert not PARSER_WORDS.search(re.sub(r'"[^"]*"', "", refused.reason)), (text, refused)
        assert refused.reason.endswith((".", "?")), (text, refused.reason)
