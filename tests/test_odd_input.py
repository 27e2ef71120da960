"""Any text gets a plan or a plain refusal, never a crash (issue 15, section 2).

Emoji, typographic quotes and dashes, ellipses, invisible marks, full-width digits, other
scripts, numbers too large and very long words: through the grammar, the modal, the freeze
reader, the service, and over the real HTTP path with real signatures (forged buttons).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import say
from bot.answers import Frozen, Refused
from bot.model import ListQuery, Plan, Refusal, StatusQuery
from bot.policy import freezes
from bot.policy.freezes import read_freeze, read_unfreeze
from bot.run import audit
from bot.say import common_blocks
from bot.understand.fields import FieldErrors, plan_from_fields
from bot.understand.grammar import parse
from bot.understand.names import check_device_name
from bot.understand.when import warm_up
from tests.catalogs import TR069_CATALOG
from tests.conftest import Bot, eventually
from tests.fakes import app_mention_body, block_actions_body

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def setup_module() -> None:
    warm_up()


def refused(text: str, *, catalog: Any = None) -> Refusal:
    kwargs = {"catalog": catalog} if catalog else {}
    with pytest.raises(Refusal) as caught:
        parse(text, tz="UTC", now=NOW, **kwargs)
    # The example is a command that works.
    parse(caught.value.example, tz="UTC", now=NOW, **kwargs)
    return caught.value


def devices(text: str) -> list[str]:
    result = parse(text, tz="UTC", now=NOW)
    assert isinstance(result, Plan)
    return [op.device_name for op in result.operations]


# ---- a lone symbol word crashed the grammar (RecursionError)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("reboot server-01 🚀", "U+1F680"),
        ("reboot server-01 – now", "U+2013"),
        ("reboot server-01 — now", "U+2014"),
        ("reboot server-01 …", "U+2026"),
        ("reboot server-01 ✓ at 14:00", "U+2713"),
        ("reboot 🚀", "U+1F680"),
        ("reboot server-01🚀", "U+1F680"),
        ("reboot server-01 … at 14:00", "U+2026"),
        ("restart nginx on server-01 🚀", "U+1F680"),
        ("restart nginx🚀 on server-01", "U+1F680"),
        ("update server-01 with curl 🚀", "U+1F680"),
        ("list 🚀", "U+1F680"),
        ("list server-01 🚀", "U+1F680"),
        ("status 🚀", "U+1F680"),
        ("list page ２", "U+FF12"),
        ("🚀", "U+1F680"),
        ("rebооt server-01", "U+043E"),  # Cyrillic o: looks like "reboot"
        ("reboot server-01 at １４:００", "U+FF11"),
        ("reboot server-01 timeout ５", "U+FF15"),
        ("reboot server-01 in waves of ５", "U+FF15"),
        ("reboot server-01 with a can🚀ary", "U+1F680"),
        ("reboot сервер-01", "U+0441"),
        ("reboot server-0\u0301", "U+0301"),  # a combining accent: shown by its code only
        ("reboot server-01 “", "U+201C"),
        ("reboot “server-01", "U+201C"),
        ("reboot “server 01”", "U+201C"),
        ("reboot server-01 \U000e0041", "U+E0041"),  # a tag character (Cf)
        ("reboot server-01 \ue000", "U+E000"),  # private use
        ("reboot server-01 \U000fffff", "U+FFFFF"),
    ],
)
def test_a_character_outside_plain_text_is_named_in_the_refusal(text: str, code: str) -> None:
    found = refused(text)
    assert code in found.reason
    assert found.reason.endswith("."), found.reason


def test_the_refusal_names_the_character_in_plain_words() -> None:
    found = refused("reboot server-01 – now")
    assert found.reason == (
        '"– now" is not a time I can read. It contains "–" (U+2013, en dash); times are '
        "written with plain letters and digits, such as 14:00, 3pm, tomorrow or in 2 hours."
    )
    assert found.example == "reboot server-01 at 14:00"
    found = refused("rebооt server-01")
    assert found.reason.endswith(
        '"о" (U+043E, cyrillic small letter o) is not a character I read in a command: names, '
        "times and options are written with plain letters, digits and punctuation."
    )


def test_a_name_that_does_not_end_in_plain_text_is_checked_without_recursing() -> None:
    assert check_device_name("🚀") == (
        '"🚀" can\'t be a device name: it contains "🚀" (U+1F680, rocket). '
        'A device name uses only letters, digits, ".", "_" and "-".'
    )
    assert check_device_name("server-01🚀.") is not None
    assert check_device_name("server-01.") == (
        '"server-01." can\'t be a device name: it must end with a letter or a digit.'
    )


@pytest.mark.parametrize(
    "text",
    [
        "reboot “server-01”",
        "reboot ‘server-01’",
        'reboot "server-01"',
        "reboot 'server-01'",
        "reboot „server-01“",
        "reboot «server-01»",
        "reboot ”server-01”",
        "reboot\u00a0server-01",
        "reboot\u202fserver-01\u00a0now",
    ],
)
def test_typographic_quotes_around_a_name_and_non_breaking_spaces_read_as_plain(
    text: str,
) -> None:
    assert devices(text) == ["server-01"]


def test_quotes_are_read_around_each_name_wherever_names_are_read() -> None:
    assert devices("reboot “server-01”, “server-02” at 14:00") == ["server-01", "server-02"]
    result = parse("restart “nginx” on “web-01”", tz="UTC", now=NOW)
    assert isinstance(result, Plan)
    assert [(o.device_name, o.parameters["service_name"]) for o in result.operations] == [
        ("web-01", "nginx")
    ]
    result = parse("update server-01 with “curl”, ‘openssl’", tz="UTC", now=NOW)
    assert isinstance(result, Plan)
    assert result.operations[0].parameters["package_list"] == ["curl", "openssl"]
    assert parse("list “server-01”", tz="UTC", now=NOW) == ListQuery(device_name="server-01")
    assert parse("status ‘txn_1001’", tz="UTC", now=NOW) == StatusQuery(operation_id="txn_1001")
    assert refused("cancel “txn_1001”").example == "status txn_1001"
    assert devices("reboot “server-01..server-03”") == ["server-01", "server-02", "server-03"]


def test_a_quoted_group_word_is_refused_as_a_group_word() -> None:
    assert "is not a device: there are no groups of devices" in refused("reboot “all”").reason


def test_quotes_around_a_value_keep_their_meaning() -> None:
    # "on" between quotes is the value, never the word before the devices.
    result = parse('label cpe-1 as "on"', tz="UTC", now=NOW, catalog=TR069_CATALOG)
    assert isinstance(result, Plan) and result.operations[0].parameters["text"] == "on"
    # Any character is read in a value: it is data, sent as typed.
    result = parse('label cpe-1 as "rack 4 🚀"', tz="UTC", now=NOW, catalog=TR069_CATALOG)
    assert isinstance(result, Plan) and result.operations[0].parameters["text"] == "rack 4 🚀"
    result = parse("label cpe-1 as café", tz="UTC", now=NOW, catalog=TR069_CATALOG)
    assert isinstance(result, Plan) and result.operations[0].parameters["text"] == "café"


@pytest.mark.parametrize("char", ["\ud800", "\udfff", "\u00ad", "\ufeff", "\u2066", "\x85"])
def test_invisible_characters_and_lone_surrogates_are_refused_by_code(char: str) -> None:
    found = refused(f"reboot server-01{char} now")
    assert f"U+{ord(char):04X}" in found.reason
    assert char not in found.reason


# ---- numbers too large


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("reboot server-01 timeout 99999999999999999999", "is too long: at most 24 h"),
        ("reboot server-01 timeout " + "9" * 3900, "is too long: at most 24 h"),
        ("reboot server-1..server-99999999999999999999", "99,999,999,999,999,999,999 devices"),
        ("reboot server-01 in 99999999999999999999 minutes", "more than 366 days ahead"),
        ("reboot server-01 at 99999999999999999999:00", "hours go from 0 to 23"),
        ("list page 99999999999999999999", "Page numbers go up to 1,000,000."),
    ],
)
def test_a_number_too_large_is_refused_with_a_sentence(text: str, said: str) -> None:
    assert said in refused(text).reason


def test_a_wave_size_too_large_is_one_wave() -> None:
    result = parse(
        "reboot server-01, server-02 in waves of 99999999999999999999", tz="UTC", now=NOW
    )
    assert isinstance(result, Plan) and result.waves == [["server-01", "server-02"]]


def test_a_modal_timeout_of_any_length_is_refused_with_a_sentence() -> None:
    for typed in ("9" * 5000, "99999999999999999999"):
        with pytest.raises(FieldErrors) as caught:
            plan_from_fields(
                operation_type="reboot",
                devices="server-01",
                values={"timeout": typed},
                when=None,
                tz="UTC",
                now=NOW,
            )
        assert "is too long: at most 24 h" in caught.value.errors["timeout"]


# ---- a long input: the reason first, the echo clipped after it


def test_a_long_name_is_refused_reason_first_with_the_echo_clipped() -> None:
    found = refused("restart " + "n" * 3000 + " on server-01")
    assert found.reason == (
        "A service name can be at most 128 characters; this one is 3,000: "
        f'"{"n" * say.common.ECHO_LIMIT}…".'
    )
    assert found.example == "restart nginx on server-02 at 14:00"


def test_every_echo_of_a_long_word_is_clipped_with_its_length() -> None:
    found = refused("reboot server-01 " + "x" * 3000)
    assert found.reason.startswith(
        f'"{"x" * say.common.ECHO_LIMIT}…" (3,000 characters) is not a time'
    )
    assert len(found.reason) < 400
    found = refused("reboot " + "é" * 3000)
    assert len(found.reason) < 400 and "U+00E9" in found.reason


# ---- the modal


def fields(**kwargs: Any) -> dict[str, str]:
    with pytest.raises(FieldErrors) as caught:
        plan_from_fields(
            **{
                "operation_type": "reboot",
                "devices": "server-01",
                "values": {},
                "when": None,
                "tz": "UTC",
                "now": NOW,
            }
            | kwargs
        )
    return caught.value.errors


def test_the_modal_names_a_character_outside_plain_text() -> None:
    assert "U+1F680" in fields(devices="server-01 🚀")["devices"]
    assert "U+2013" in fields(devices="server-01 – server-02")["devices"]
    errors = fields(
        operation_type="restart_service", devices="web-01", values={"service_name": "nginx 🚀"}
    )
    assert "U+1F680" in errors["service_name"]


def test_the_modal_reads_quotes_around_names() -> None:
    result = plan_from_fields(
        operation_type="restart_service",
        devices="“web-01”, ‘web-02’",
        values={"service_name": "“nginx”"},
        when=None,
        tz="UTC",
        now=NOW,
    )
    assert [(o.device_name, o.parameters["service_name"]) for o in result.operations] == [
        ("web-01", "nginx"),
        ("web-02", "nginx"),
    ]


@pytest.mark.parametrize("char", ["\x00", "\u202e", "\ud800"])
def test_the_modal_refuses_invisible_characters_in_a_value(char: str) -> None:
    errors = fields(
        operation_type="set_label",
        devices="cpe-1",
        values={"text": f"rack{char}4"},
        catalog=TR069_CATALOG,
    )
    assert f"U+{ord(char):04X}" in errors["text"]


# ---- freezes


def test_a_freeze_too_long_to_count_is_refused_with_a_sentence() -> None:
    with pytest.raises(Refusal) as caught:
        read_freeze("server-01 for 9999999999 days migration", tz="UTC", now=NOW)
    # Read and counted in whole seconds, never an OverflowError: over the limit, said so.
    assert caught.value.reason == say.policy.freeze_too_long("9999999999 days", 30)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ("serv–01 for 2h migration", "U+2013"),
        ("server-01 for ２h migration", "U+FF12"),
        ("server-01 until １８:００ migration", "U+FF11"),
        ("server-01 for 2h\u200b migration", "U+200B"),
        ("сервер for 2h migration", "U+0441"),
    ],
)
def test_a_freeze_names_a_character_it_does_not_read(args: str, code: str) -> None:
    with pytest.raises(Refusal) as caught:
        read_freeze(args, tz="UTC", now=NOW)
    assert code in caught.value.reason


def test_a_freeze_reads_quoted_names_and_keeps_any_character_in_its_reason() -> None:
    order = read_freeze("“server-01” maintenance 🚀", tz="UTC", now=NOW)
    assert order.devices == ("server-01",) and order.reason == "maintenance 🚀"
    order = read_freeze("“db-*”\u00a0for 2h “big” release", tz="UTC", now=NOW)
    assert order.devices == ("db-*",) and order.reason == "“big” release"
    assert order.until == NOW + timedelta(hours=2)
    assert read_unfreeze("‘server-01’") == ("server-01",)
    with pytest.raises(Refusal) as caught:
        read_unfreeze("сервер")
    assert "U+0441" in caught.value.reason


def test_a_long_freeze_reads_only_a_time_long_phrase_after_until(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each run of words after `until` is read as a time afresh: 2,000 words once took 7 s
    (2,000 runs of up to 2,000 words). Now at most UNTIL_WORDS runs are read."""
    calls: list[str] = []
    real = freezes.resolve

    def counted(phrase: str, **kwargs: Any) -> Any:
        calls.append(phrase)
        return real(phrase, **kwargs)

    monkeypatch.setattr(freezes, "resolve", counted)
    with pytest.raises(Refusal) as caught:
        read_freeze("until " + "a " * 1990, tz="UTC", now=NOW)
    assert caught.value.reason == say.policy.FREEZE_BAD_UNTIL
    assert len(calls) == freezes.UNTIL_WORDS
    args = "until " + "a " * 30_000
    with pytest.raises(Refusal) as caught:
        read_freeze(args, tz="UTC", now=NOW)
    assert caught.value.reason == say.grammar.too_long(len(args.strip()), 4000)


# ---- the service: every surface's text


ADMINS = '[access]\nadmins = ["U123"]\n'


@pytest.mark.parametrize(
    "typed",
    ["freeze\u00a0server-01 for 2h migration", "freeze\tserver-01 for 2h migration"],
)
def test_a_freeze_typed_after_a_non_breaking_space_is_a_freeze(
    policy_bot: Callable[..., Bot], typed: str
) -> None:
    bot = policy_bot(ADMINS)
    answer = bot.runtime.service.handle_text(
        typed, requester="U123", tz="UTC", surface="command", channel="C123"
    )
    assert isinstance(answer, Frozen), answer
    assert answer.freeze is not None and answer.freeze.devices == ("server-01",)


def test_a_plan_typed_after_a_non_breaking_space_is_a_dry_run(bot: Bot) -> None:
    answer = bot.runtime.service.handle_text(
        "plan\u00a0reboot “server-01”", requester="U123", tz="UTC", surface="command", channel="C1"
    )
    assert not isinstance(answer, Refused), answer
    assert answer.dry_run and [o.device_name for o in answer.request.operations] == ["server-01"]


def test_a_control_character_after_freeze_is_refused(policy_bot: Callable[..., Bot]) -> None:
    bot = policy_bot(ADMINS)
    answer = bot.runtime.service.handle_text(
        "freeze\x1cserver-01 for 2h x", requester="U123", tz="UTC", surface="command", channel="C1"
    )
    assert isinstance(answer, Refused) and "U+001C" in answer.reason


# ---- over the real HTTP path


def audit_reasons(bot: Bot) -> list[str]:
    rows = bot.runtime.store.db.query("SELECT detail FROM audit WHERE event = 'refused'")
    return [json.loads(r["detail"])["reason"] for r in rows]


@pytest.mark.parametrize(
    "typed",
    ["reboot server-01 🚀", "reboot “server-01” – now", "reboot server-01 …"],
)
def test_a_symbol_word_is_refused_privately_and_audited(bot: Bot, typed: str) -> None:
    answer = bot.wait_response(bot.command(typed))
    assert answer["response_type"] == "ephemeral"
    assert "Something went wrong" not in answer["text"]
    assert "U+" in answer["text"] and "For example: `/ops " in answer["text"]
    eventually(lambda: audit_reasons(bot), what="the refusal's audit line")
    assert "U+" in audit_reasons(bot)[0]


def test_a_long_name_typed_in_slack_is_answered_reason_first(bot: Bot) -> None:
    answer = bot.wait_response(bot.command("restart " + "n" * 3000 + " on server-01"))
    said = answer["text"]
    assert said.split("A service name can be at most 128 characters; this one is 3,000")[0] in (
        "",
        "⚠️ ",
    ), said
    assert len(said) < 400 and "For example: `/ops restart nginx on server-02 at 14:00`" in said


def test_typographic_quotes_typed_in_slack_reboot_the_device_named(bot: Bot) -> None:
    answer = bot.wait_response(bot.command("reboot “server-01” now"))
    assert "server-01" in json.dumps(answer) and "Confirm" in json.dumps(answer)


def test_a_lone_surrogate_in_a_mention_is_refused_and_audited(bot: Bot) -> None:
    """JSON can carry "\\ud800", which no UTF-8 text (nor SQLite) can hold."""
    body = app_mention_body(
        text="<@U0BOT> reboot server-01 \ud800now", ts="1700000500.000100", event_id="EvSUR"
    )
    assert bot.send(body).status_code == 200
    (ephemeral,) = eventually(lambda: bot.slack.calls_to("chat.postEphemeral"), what="a refusal")
    assert "U+D800" in ephemeral.args["text"]
    assert "Something went wrong" not in ephemeral.args["text"]
    eventually(lambda: audit_reasons(bot), what="the refusal's audit line")
    # `opsbot audit` prints it in UTF-8, the lone surrogate as its escape.
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    for write in audit.WRITERS.values():
        write(out, audit.lines(bot.runtime.store.audit_rows(since=None), workspace_url=None))
    out.flush()
    assert "reboot server-01 \\\\ud800now" in out.buffer.getvalue().decode()


def test_a_lone_surrogate_in_a_freeze_reason_is_refused(policy_bot: Callable[..., Bot]) -> None:
    bot = policy_bot(ADMINS)
    body = app_mention_body(
        text="<@U0BOT> freeze server-01 for 2h \udfffx", ts="1700000600.000100", event_id="EvFZ"
    )
    assert bot.send(body).status_code == 200
    (ephemeral,) = eventually(lambda: bot.slack.calls_to("chat.postEphemeral"), what="a refusal")
    assert "U+DFFF" in ephemeral.args["text"]
    assert bot.runtime.store.active_freezes(now=datetime.now(UTC)) == []


def forged_click(bot: Bot, action_id: str, value: str) -> str:
    key = f"forged-{time.monotonic_ns()}"
    body = block_actions_body(
        action_id=action_id, value=value, response_url=bot.slack.response_url(key)
    )
    assert bot.send(body).status_code == 200
    return bot.wait_response(key)["text"]


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        (common_blocks.ACTION_SEND_AGAIN, "9" * 20),
        (common_blocks.ACTION_DROP, "18446744073709551616"),  # 2**64
        (common_blocks.ACTION_DROP, "9223372036854775808"),  # 2**63
        (common_blocks.ACTION_CONFIRM, "r_\ud800"),
        (common_blocks.ACTION_CANCEL, "\udfff"),
        (common_blocks.ACTION_APPROVE, "r_\ud800"),
        (common_blocks.ACTION_MOVE_TO_WINDOW, "r_\ud800"),
        (common_blocks.ACTION_CONTINUE, "r_\ud800:1"),
        (common_blocks.ACTION_STOP, "r_1:" + "9" * 20),
    ],
)
def test_a_forged_button_value_is_refused_as_not_found(
    bot: Bot, action_id: str, value: str
) -> None:
    said = forged_click(bot, action_id, value)
    assert said == say.track.click_refusal("not_found")
    assert bot.simulator.post_count == 0


def test_a_forged_wave_number_on_a_real_request_is_refused_as_not_found(bot: Bot) -> None:
    key = bot.command("reboot server-01 now")
    shown = bot.wait_response(key)
    request_id = next(
        e["value"]
        for b in shown["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == common_blocks.ACTION_CONFIRM
    )
    for action_id in (common_blocks.ACTION_CONTINUE, common_blocks.ACTION_STOP):
        said = forged_click(bot, action_id, f"{request_id}:{'9' * 20}")
        assert said == say.track.click_refusal("not_found")
    request = bot.runtime.store.get_request(request_id)
    assert request is not None and request.state == "pending"
