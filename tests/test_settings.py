"""Settings from an explicit environment and a `.env` file in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.run.settings import (
    DEFAULT_SLACK_API_URL,
    DEFAULT_ZEQUENZE_API_URL,
    HTTP_BACKLOG,
    HTTP_CONNECTIONS,
    HTTP_THREADS,
    Settings,
    SettingsError,
    load,
    read_dotenv,
)

BOT_TOKEN = "xoxb-111-222-SeCrEtBoT"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
APP_TOKEN = "xapp-1-A111-222-SeCrEtApP"
API_TOKEN = "zq-api-SeCrEtToKeN"
REQUIRED = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "ZEQUENZE_API_TOKEN")


def base_env(**extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "ZEQUENZE_API_TOKEN": API_TOKEN,
        **extra,
    }


@pytest.fixture
def no_dotenv(tmp_path: Path) -> Path:
    """A `.env` path that does not exist, so the developer's own `.env` is never read."""
    return tmp_path / "absent.env"


def dotenv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env"
    path.write_text(text, encoding="utf-8")
    return path


def refusal(environ: dict[str, str], path: Path) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        load(environ, dotenv=path)
    return caught.value


# ---------------------------------------------------------------------------- defaults


def test_defaults(no_dotenv: Path) -> None:
    settings = load(base_env(), dotenv=no_dotenv)
    assert settings.slack_bot_token == BOT_TOKEN
    assert settings.slack_signing_secret == SIGNING_SECRET
    assert settings.zequenze_api_token == API_TOKEN
    assert settings.slack_api_url == "https://slack.com/api/" == DEFAULT_SLACK_API_URL
    assert settings.zequenze_api_url == DEFAULT_ZEQUENZE_API_URL
    assert settings.zequenze_api_url == "https://control.zequenze.com/api/v1"
    assert settings.db_path == "opsbot.db"
    assert settings.poll_interval == 15
    assert settings.port == 3000 and isinstance(settings.port, int)
    assert settings.slack_app_token is None
    assert settings.socket_mode is False


def test_blank_optional_settings_take_the_defaults(no_dotenv: Path) -> None:
    blanks = {
        name: "  "
        for name in (
            "SLACK_APP_TOKEN",
            "SLACK_API_URL",
            "ZEQUENZE_API_URL",
            "OPSBOT_DB",
            "OPSBOT_POLL_INTERVAL",
            "PORT",
        )
    }
    settings = load(base_env(**blanks), dotenv=no_dotenv)
    assert settings.slack_app_token is None and not settings.socket_mode
    assert settings.slack_api_url == DEFAULT_SLACK_API_URL
    assert settings.zequenze_api_url == DEFAULT_ZEQUENZE_API_URL
    assert (settings.db_path, settings.poll_interval, settings.port) == ("opsbot.db", 15, 3000)


def test_explicit_values(no_dotenv: Path) -> None:
    settings = load(
        base_env(
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL="http://127.0.0.1:9999/api",
            ZEQUENZE_API_URL="http://127.0.0.1:8888/api/v1",
            OPSBOT_DB="/var/lib/opsbot/state.db",
            OPSBOT_POLL_INTERVAL="0.5",
            PORT="8080",
        ),
        dotenv=no_dotenv,
    )
    assert settings.socket_mode is True
    assert settings.slack_app_token == APP_TOKEN
    assert settings.slack_api_url == "http://127.0.0.1:9999/api/"  # the slash slack_sdk needs
    assert settings.zequenze_api_url == "http://127.0.0.1:8888/api/v1"
    assert settings.db_path == "/var/lib/opsbot/state.db"
    assert settings.poll_interval == 0.5
    assert settings.port == 8080


def test_http_server_limits(no_dotenv: Path) -> None:
    """Enough for 200 requests at once by default (issue 16): Slack retries neither a slash
    command nor a click, so a connection the server does not take is a request lost."""
    defaults = load(base_env(), dotenv=no_dotenv)
    assert (defaults.http_threads, defaults.http_connections, defaults.http_backlog) == (
        HTTP_THREADS,
        HTTP_CONNECTIONS,
        HTTP_BACKLOG,
    )
    assert defaults.http_connections >= 200 + HTTP_THREADS
    given = load(
        base_env(
            OPSBOT_HTTP_THREADS="8", OPSBOT_HTTP_CONNECTIONS="2000", OPSBOT_HTTP_BACKLOG="4096"
        ),
        dotenv=no_dotenv,
    )
    assert (given.http_threads, given.http_connections, given.http_backlog) == (8, 2000, 4096)


def test_values_are_trimmed(no_dotenv: Path) -> None:
    settings = load(base_env(SLACK_BOT_TOKEN=f"  {BOT_TOKEN}\t", PORT=" 4000 "), dotenv=no_dotenv)
    assert settings.slack_bot_token == BOT_TOKEN
    assert settings.port == 4000


def test_os_environ_is_the_default_source(monkeypatch: pytest.MonkeyPatch, no_dotenv: Path) -> None:
    for name, value in base_env(PORT="4242").items():
        monkeypatch.setenv(name, value)
    assert load(dotenv=no_dotenv).port == 4242


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("how", ["absent", "empty", "blank"])
def test_missing_required_setting_is_named(no_dotenv: Path, name: str, how: str) -> None:
    environ = base_env()
    if how == "absent":
        del environ[name]
    else:
        environ[name] = "" if how == "empty" else "   "
    error = refusal(environ, no_dotenv)
    assert name in str(error)
    assert "not set" in str(error)


def test_nothing_set_names_a_required_setting(no_dotenv: Path) -> None:
    error = refusal({}, no_dotenv)
    assert any(name in str(error) for name in REQUIRED)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("PORT", "0"),
        ("PORT", "-1"),
        ("PORT", "3000.5"),
        ("OPSBOT_POLL_INTERVAL", "-1"),
        ("OPSBOT_POLL_INTERVAL", "0"),
        ("OPSBOT_POLL_INTERVAL", "soon"),
        ("OPSBOT_POLL_INTERVAL", "nan"),
        ("OPSBOT_POLL_INTERVAL", "inf"),
        ("OPSBOT_POLL_INTERVAL", "86400"),
        ("SLACK_API_URL", "ftp://x"),
        ("SLACK_API_URL", "slack.com/api"),
        ("SLACK_API_URL", "https://"),
        ("ZEQUENZE_API_URL", "ftp://control.zequenze.com/api/v1"),
        ("ZEQUENZE_API_URL", "control.zequenze.com"),
    ],
)
def test_malformed_value_is_named(no_dotenv: Path, name: str, value: str) -> None:
    error = refusal(base_env(**{name: value}), no_dotenv)
    assert name in str(error)
    for secret in (BOT_TOKEN, SIGNING_SECRET, API_TOKEN):
        assert secret not in str(error)


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("OPSBOT_HTTP_THREADS", "0", "must be between 1 and 256, not 0."),
        ("OPSBOT_HTTP_THREADS", "1000", "must be between 1 and 256, not 1000."),
        ("OPSBOT_HTTP_THREADS", "4.5", "must be a whole number, not '4.5'."),
        ("OPSBOT_HTTP_CONNECTIONS", "5", "must be between 10 and 10000, not 5."),
        ("OPSBOT_HTTP_CONNECTIONS", "100000", "must be between 10 and 10000, not 100000."),
        ("OPSBOT_HTTP_CONNECTIONS", "many", "must be a whole number, not 'many'."),
        ("OPSBOT_HTTP_BACKLOG", "0", "must be between 1 and 65535, not 0."),
        ("OPSBOT_HTTP_BACKLOG", "-5", "must be between 1 and 65535, not -5."),
    ],
)
def test_malformed_http_server_limit_is_named(
    no_dotenv: Path, name: str, value: str, said: str
) -> None:
    assert refusal(base_env(**{name: value}), no_dotenv).problems == (f"{name} {said}",)


@pytest.mark.parametrize(
    "value",
    ["xoxp-111-222-SeCrEtUsEr", "xapp-1-A111-SeCrEtWrOnG", "SeCrEtNoPrEfIx", "XOXB-111-SeCrEt"],
)
def test_bot_token_of_the_wrong_kind(no_dotenv: Path, value: str) -> None:
    error = refusal(base_env(SLACK_BOT_TOKEN=value), no_dotenv)
    assert "SLACK_BOT_TOKEN" in str(error)
    assert "xoxb-" in str(error)
    assert value not in str(error)
    assert "SeCrEt" not in str(error)


@pytest.mark.parametrize("value", ["xoxb-111-222-SeCrEtBoT2", "SeCrEtNoPrEfIx"])
def test_app_token_of_the_wrong_kind(no_dotenv: Path, value: str) -> None:
    error = refusal(base_env(SLACK_APP_TOKEN=value), no_dotenv)
    assert "SLACK_APP_TOKEN" in str(error)
    assert "xapp-" in str(error)
    assert value not in str(error)
    assert "SeCrEt" not in str(error)


# ------------------------------------------------------------------------------ .env


def test_dotenv_supplies_settings(tmp_path: Path) -> None:
    path = dotenv(
        tmp_path,
        "# opsbot settings\n"
        "\n"
        f"SLACK_BOT_TOKEN={BOT_TOKEN}\n"
        "   # an indented comment\n"
        f'SLACK_SIGNING_SECRET="{SIGNING_SECRET}"\n'
        f"export ZEQUENZE_API_TOKEN='{API_TOKEN}'\n"
        "export PORT = 4000\n"
        "OPSBOT_DB=\"/tmp/with # hash and 'quotes'.db\"\n"
        "SLACK_APP_TOKEN=\n",
    )
    settings = load({}, dotenv=path)
    assert settings.slack_bot_token == BOT_TOKEN
    assert settings.slack_signing_secret == SIGNING_SECRET  # double quotes stripped
    assert settings.zequenze_api_token == API_TOKEN  # export prefix and single quotes
    assert settings.port == 4000
    assert settings.db_path == "/tmp/with # hash and 'quotes'.db"
    assert settings.slack_app_token is None


def test_read_dotenv_parsing(tmp_path: Path) -> None:
    path = dotenv(
        tmp_path,
        "# comment=not a setting\n"
        "A=1\n"
        "B = spaced \n"
        'C="quoted value"\n'
        "D='single'\n"
        'E="unbalanced\n'
        "F=a=b=c\n"
        'G=""\n'
        "export H=exported\n"
        "I=\r\n"
        "J=last\n",
    )
    assert read_dotenv(path) == {
        "A": "1",
        "B": "spaced",
        "C": "quoted value",
        "D": "single",
        "E": '"unbalanced',
        "F": "a=b=c",
        "G": "",
        "H": "exported",
        "I": "",
        "J": "last",
    }


def test_read_dotenv_missing_file_or_directory_is_empty(tmp_path: Path) -> None:
    assert read_dotenv(tmp_path / "nope.env") == {}
    assert read_dotenv(tmp_path) == {}


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    path = dotenv(
        tmp_path,
        "SLACK_BOT_TOKEN=xoxb-from-dotenv\n"
        "SLACK_SIGNING_SECRET=from-dotenv\n"
        "ZEQUENZE_API_TOKEN=from-dotenv\n"
        "PORT=4000\n"
        "OPSBOT_DB=dotenv.db\n",
    )
    settings = load({"SLACK_BOT_TOKEN": BOT_TOKEN, "PORT": "5000"}, dotenv=path)
    assert settings.slack_bot_token == BOT_TOKEN
    assert settings.port == 5000
    assert settings.slack_signing_secret == "from-dotenv"  # not in the environment
    assert settings.db_path == "dotenv.db"


@pytest.mark.parametrize(
    ("bad_line", "number"),
    [
        ("xoxb-999-leaked-SeCrEt", 3),  # a value pasted without its KEY=
        ("=SeCrEtWithoutKey", 3),
        ("BAD-KEY=SeCrEt", 3),
        ("TWO WORDS=SeCrEt", 3),
        ("export", 3),
    ],
)
def test_malformed_dotenv_line_is_named_by_number(
    tmp_path: Path, bad_line: str, number: int
) -> None:
    path = dotenv(tmp_path, f"# settings\nSLACK_BOT_TOKEN={BOT_TOKEN}\n{bad_line}\nPORT=1\n")
    with pytest.raises(SettingsError) as caught:
        load(base_env(), dotenv=path)
    message = str(caught.value)
    assert f"line {number}" in message
    assert str(path) in message
    assert "SeCrEt" not in message  # the line itself is never echoed
    assert BOT_TOKEN not in message


def test_dotenv_error_counts_blank_and_comment_lines(tmp_path: Path) -> None:
    path = dotenv(tmp_path, "\n\n# one\n\n  # two\nA=1\n\noops\n")
    with pytest.raises(SettingsError, match=r"line 8\b"):
        read_dotenv(path)


def test_dotenv_token_of_the_wrong_kind_is_not_echoed(tmp_path: Path) -> None:
    path = dotenv(
        tmp_path,
        "SLACK_BOT_TOKEN=xoxp-SeCrEtUserToken\n"
        f"SLACK_SIGNING_SECRET={SIGNING_SECRET}\n"
        f"ZEQUENZE_API_TOKEN={API_TOKEN}\n",
    )
    error = refusal({}, path)
    assert "SLACK_BOT_TOKEN" in str(error)
    assert "SeCrEt" not in str(error)


# ----------------------------------------------------------------------------- secrecy


def test_repr_shows_no_token(no_dotenv: Path) -> None:
    settings = load(base_env(SLACK_APP_TOKEN=APP_TOKEN, PORT="4000"), dotenv=no_dotenv)
    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        for secret in (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, API_TOKEN):
            assert secret not in text
        assert "SeCrEt" not in text
    assert "4000" in repr(settings)  # the harmless settings are still shown
    assert "slack.com" in repr(settings)
    assert set(settings.secrets()) == {BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, API_TOKEN}


def test_secrets_without_app_token(no_dotenv: Path) -> None:
    settings = load(base_env(), dotenv=no_dotenv)
    assert isinstance(settings, Settings)
    assert settings.secrets() == (BOT_TOKEN, SIGNING_SECRET, API_TOKEN)
