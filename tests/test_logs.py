"""Logs: readable text by default, one JSON object a line with `OPSBOT_LOG_FORMAT=json`, and
no secret setting's value in either, tracebacks included."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.run.logs import Redactor, log_handler
from bot.run.settings import SettingsError, load
from tests.test_polling import make_harness

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-111-222-SeCrEtBoT",
    "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
    "SLACK_APP_TOKEN": "xapp-1-A111-222-SeCrEtApP",
    "ZEQUENZE_API_TOKEN": "zq-api-SeCrEtToKeN",
}
FORMATS = ("text", "json")


@pytest.fixture
def no_dotenv(tmp_path: Path) -> Path:
    return tmp_path / "absent.env"


@contextmanager
def captured(
    fmt: str, secrets: list[str], name: str = "opsbot.test.logs"
) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the bot's own handler into a string."""
    out = io.StringIO()
    logger = logging.getLogger(name)
    saved = (logger.propagate, logger.level)
    logger.propagate = False  # the record holds the secret until the handler formats it
    logger.setLevel(logging.INFO)
    handler = log_handler(Redactor(secrets=secrets), stream=out, fmt=fmt)
    logger.addHandler(handler)
    try:
        yield logger, out
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = saved


def json_lines(printed: str) -> list[dict[str, Any]]:
    """Each line on its own parses to one object: no line breaks inside a record."""
    lines = printed.splitlines()
    assert lines and all(line.strip() for line in lines)
    return [json.loads(line) for line in lines]


def fail_with(secret: str) -> None:
    raise RuntimeError(f"the server rejected {secret}")


# ------------------------------------------------------------------------------ JSON


def test_json_lines_parse_one_by_one_with_the_expected_keys() -> None:
    with captured("json", []) as (logger, out):
        logger.info("started on %s", "socket mode")
        logger.warning(
            "message %s for %s given up: %s",
            7,
            "r-1",
            "channel_not_found",
            extra={"request_id": "r-1"},
        )
        logger.warning(
            "could not check %s",
            "op-42",
            extra={"request_id": "r-2", "operation_id": 12, "api_id": "op-42"},
        )
    first, second, third = json_lines(out.getvalue())
    for record in (first, second, third):
        assert {"time", "level", "logger", "message"} <= record.keys()
        assert record["logger"] == "opsbot.test.logs"
        assert record["time"].endswith("+00:00")  # ISO 8601, UTC
    assert first["level"] == "INFO"
    assert first["message"] == "started on socket mode"
    assert not {"request_id", "operation_id", "api_id", "exc_info"} & first.keys()
    assert second["level"] == "WARNING"
    assert second["message"] == "message 7 for r-1 given up: channel_not_found"
    assert second["request_id"] == "r-1"
    assert (third["request_id"], third["operation_id"], third["api_id"]) == ("r-2", 12, "op-42")


def test_the_text_format_stays_readable_and_keeps_its_message() -> None:
    with captured("text", []) as (logger, out):
        logger.warning("could not check %s", "op-42", extra={"api_id": "op-42"})
    (line,) = out.getvalue().splitlines()
    assert line.endswith(" WARNING opsbot.test.logs: could not check op-42")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_a_traceback_is_in_the_json_line_and_redacted() -> None:
    secret = SECRETS["ZEQUENZE_API_TOKEN"]
    with captured("json", [secret]) as (logger, out):
        try:
            fail_with(secret)
        except RuntimeError:
            logger.exception("calling with %s failed", secret, extra={"request_id": "r-3"})
    printed = out.getvalue()
    (record,) = json_lines(printed)
    assert record["level"] == "ERROR"
    assert record["message"] == "calling with [redacted] failed"
    assert record["request_id"] == "r-3"
    assert record["exc_info"].startswith("Traceback (most recent call last)")
    assert "in fail_with" in record["exc_info"]
    assert record["exc_info"].endswith("RuntimeError: the server rejected [redacted]")
    assert secret not in printed


def test_a_secret_json_would_escape_is_redacted_in_its_escaped_form() -> None:
    # A quote, a backslash and a letter past ASCII each come out escaped in a JSON line:
    # replacing only the raw value would let this one through.
    secret = 'zq-"we\\ird"-Säkret'
    with captured("json", [secret]) as (logger, out):
        logger.warning("token %s", secret, extra={"detail": {"token": secret}})
    printed = out.getvalue()
    (record,) = json_lines(printed)
    assert record["message"] == "token [redacted]"
    assert record["detail"] == {"token": "[redacted]"}
    assert secret not in printed and json.dumps(secret)[1:-1] not in printed


# ------------------------------------------------------------------- every secret setting


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(SECRETS))
def test_no_secret_setting_reaches_a_log_line_or_a_traceback(
    name: str, fmt: str, no_dotenv: Path
) -> None:
    settings = load(dict(SECRETS), dotenv=no_dotenv)  # the bot's own list of its secrets
    secret = SECRETS[name]
    assert secret in settings.secrets()
    with captured(fmt, list(settings.secrets())) as (logger, out):
        logger.warning("the token was %s", secret)
        logger.info(f"formatted in: {secret}", extra={"api_id": secret})
        try:
            fail_with(secret)
        except RuntimeError:
            logger.exception("calling with %s failed", secret)
        logger.warning("where %s was", secret, stack_info=True)
    printed = out.getvalue()
    assert secret not in printed
    assert secret[6:] not in printed  # not even its tail
    assert "the server rejected [redacted]" in printed
    assert "Traceback (most recent call last)" in printed
    assert "Stack (most recent call last)" in printed
    if fmt == "json":
        records = json_lines(printed)
        assert len(records) == 4
        assert records[1]["api_id"] == "[redacted]"
        assert records[2]["exc_info"].endswith("RuntimeError: the server rejected [redacted]")
        assert "stack_info" in records[3]
    else:
        assert "the token was [redacted]" in printed


# ------------------------------------------------------------- ids from the bot's own calls


def test_the_pollers_failed_check_carries_its_ids_and_no_token(tmp_path: Path) -> None:
    token = SECRETS["ZEQUENZE_API_TOKEN"]
    for harness in make_harness(tmp_path):
        (op_id,) = harness.create([harness.clock()])
        (op,) = [op for op in harness.store.operations_to_poll() if op.id == op_id]
        assert op.api_id is not None

        def broken(*_args: object, **_kwargs: object) -> None:
            fail_with(token)

        harness.api.get_operation = broken  # type: ignore[method-assign]
        with captured("json", [token], name="bot.track.poller") as (_logger, out):
            harness.poller._check(op, False)
        (record,) = json_lines(out.getvalue())
        assert record["message"] == f"could not check {op.api_id}"
        assert record["request_id"] == op.request_id
        assert record["operation_id"] == op.id
        assert record["api_id"] == op.api_id
        assert "RuntimeError: the server rejected [redacted]" in record["exc_info"]
        assert token not in out.getvalue()


# ---------------------------------------------------------------------------- the setting


def test_the_log_format_is_text_unless_set(no_dotenv: Path) -> None:
    assert load(dict(SECRETS), dotenv=no_dotenv).log_format == "text"
    for raw in ("json", "JSON", " json "):
        env = {**SECRETS, "OPSBOT_LOG_FORMAT": raw}
        assert load(env, dotenv=no_dotenv).log_format == "json"


@pytest.mark.parametrize("raw", ["yaml", "jsonl", "1"])
def test_a_bad_log_format_is_refused_with_a_sentence(raw: str, no_dotenv: Path) -> None:
    with pytest.raises(SettingsError) as refused:
        load({**SECRETS, "OPSBOT_LOG_FORMAT": raw}, dotenv=no_dotenv)
    assert refused.value.problems == (f"OPSBOT_LOG_FORMAT must be 'text' or 'json', not {raw!r}.",)
