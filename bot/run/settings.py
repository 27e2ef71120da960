"""Settings from the environment, or from a `.env` file beside where the bot runs.

Every missing or malformed setting is found before the bot starts, and all of them are named
in one message. Tokens are kept out of `repr()` so they cannot leak into a log line by
accident, and no message quotes a token's value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot import say

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_ZEQUENZE_API_URL = "https://control.zequenze.com/api/v1"
DEFAULT_DB = "opsbot.db"
# HTTP mode's server (waitress). Its threads run the listeners, which only check, ack and hand
# the work on (about 0.3 ms of CPU each, on one interpreter): threads beyond a few only take
# turns at the interpreter's lock. At 100 clicks at once 8 acknowledged sooner than 16 or 32
# (p99 106-116 ms against 120-126, bench/ack_latency.py), 4 no sooner than 8; 8 leave room
# for a listener held up. Slack retries neither a slash command nor a click, so every
# connection of a burst must be accepted: 500 holds 200 at once with room for the idle
# connections a proxy keeps alive. The backlog is waitress's own default (the system may
# cap it: net.core.somaxconn).
HTTP_THREADS = 8
HTTP_CONNECTIONS = 500
HTTP_BACKLOG = 1024


class SettingsError(Exception):
    """Settings are missing or malformed; each problem names its setting and what it should be."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, kw_only=True)
class Settings:
    slack_bot_token: str = field(repr=False)
    slack_signing_secret: str = field(repr=False)
    slack_app_token: str | None = field(repr=False)
    slack_api_url: str
    zequenze_api_url: str
    zequenze_api_token: str = field(repr=False)
    db_path: str
    poll_interval: float
    port: int
    reconcile_delay: float = 10.0
    ask_after: float = 120.0
    outage_notice: float = 300.0
    channel_gap: float = 1.0
    config_path: str | None = None  # OPSBOT_CONFIG: the policy file; None: the open policy
    log_format: str = "text"  # OPSBOT_LOG_FORMAT: "text" for people, "json" a line an object
    # OPSBOT_HEALTH_PORT: Socket Mode's listener for /healthz, /readyz and /metrics; None: none
    # (HTTP mode serves them on PORT).
    health_port: int | None = None
    http_threads: int = HTTP_THREADS  # OPSBOT_HTTP_THREADS
    http_connections: int = HTTP_CONNECTIONS  # OPSBOT_HTTP_CONNECTIONS
    http_backlog: int = HTTP_BACKLOG  # OPSBOT_HTTP_BACKLOG
    # OPSBOT_DATABASE_URL: PostgreSQL (postgresql://…); None: the SQLite file db_path. It may
    # carry a password: shown only through redact_url().
    database_url: str | None = field(default=None, repr=False)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    def secrets(self) -> tuple[str, ...]:
        return tuple(
            s
            for s in (
                self.slack_bot_token,
                self.slack_signing_secret,
                self.slack_app_token,
                self.zequenze_api_token,
                urlsplit(self.database_url).password if self.database_url else None,
            )
            if s
        )


def read_dotenv(path: str | Path) -> dict[str, str]:
    """`KEY=value` lines; `#` comments and blank lines ignored; optional quotes stripped."""
    values: dict[str, str] = {}
    file = Path(path)
    if not file.is_file():
        return values
    # utf-8-sig: an editor's byte-order mark must not make line 1 unreadable.
    for number, raw in enumerate(file.read_text(encoding="utf-8-sig").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise SettingsError(say.terminal.dotenv_bad_line(str(file), number))
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()  # `KEY=value  # a note`
        values[key.strip()] = value
    return values


def load(environ: Mapping[str, str] | None = None, *, dotenv: str | Path = ".env") -> Settings:
    """The environment wins over `.env`. Raises SettingsError naming every problem found."""
    env = _Reader({**read_dotenv(dotenv), **(environ if environ is not None else os.environ)})
    settings = Settings(
        slack_bot_token=env.token(
            "SLACK_BOT_TOKEN", prefix="xoxb-", hint=say.terminal.BOT_TOKEN_HINT
        ),
        slack_signing_secret=env.required("SLACK_SIGNING_SECRET"),
        slack_app_token=env.token(
            "SLACK_APP_TOKEN", prefix="xapp-", hint=say.terminal.APP_TOKEN_HINT, optional=True
        )
        or None,
        slack_api_url=env.url("SLACK_API_URL", DEFAULT_SLACK_API_URL, trailing_slash=True),
        zequenze_api_url=env.url("ZEQUENZE_API_URL", DEFAULT_ZEQUENZE_API_URL),
        zequenze_api_token=env.required("ZEQUENZE_API_TOKEN"),
        db_path=env.optional("OPSBOT_DB") or DEFAULT_DB,
        poll_interval=env.number("OPSBOT_POLL_INTERVAL", 15.0, low=0.05, high=3600),
        port=int(env.number("PORT", 3000, low=1, high=65535, whole=True)),
        reconcile_delay=env.number("OPSBOT_RECONCILE_DELAY", 10.0, low=0, high=3600),
        ask_after=env.number("OPSBOT_ASK_AFTER", 120.0, low=0, high=86400),
        outage_notice=env.number("OPSBOT_OUTAGE_NOTICE", 300.0, low=0, high=86400),
        channel_gap=env.number("OPSBOT_CHANNEL_GAP", 1.0, low=0, high=60),
        config_path=env.optional("OPSBOT_CONFIG") or None,
        log_format=env.choice("OPSBOT_LOG_FORMAT", ("text", "json")),
        health_port=_whole(env.number("OPSBOT_HEALTH_PORT", 0, low=1, high=65535, whole=True)),
        http_threads=int(
            env.number("OPSBOT_HTTP_THREADS", HTTP_THREADS, low=1, high=256, whole=True)
        ),
        http_connections=int(
            env.number("OPSBOT_HTTP_CONNECTIONS", HTTP_CONNECTIONS, low=10, high=10000, whole=True)
        ),
        http_backlog=int(
            env.number("OPSBOT_HTTP_BACKLOG", HTTP_BACKLOG, low=1, high=65535, whole=True)
        ),
        database_url=env.database_url("OPSBOT_DATABASE_URL"),
    )
    if env.problems:
        raise SettingsError(*env.problems)
    return settings


DATABASE_URL_SCHEMES = ("postgresql", "postgres")
DATABASE_URL_EXAMPLE = "postgresql://opsbot:PASSWORD@db.example.com:5432/opsbot"


def check_database_url(url: str, *, name: str = "OPSBOT_DATABASE_URL") -> str | None:
    """The problem with a value of OPSBOT_DATABASE_URL (or of the setting `name`), or None
    when it is one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in DATABASE_URL_SCHEMES:
        return say.terminal.setting_not_database_url(name, DATABASE_URL_EXAMPLE)
    return None


def redact_url(url: str) -> str:
    """A database URL fit to print or log: its password, in the user part or in the query
    (`?password=`), replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{host}"
    query = parts.query
    if "password" in query.lower():
        query = urlencode(
            [(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(query)],
            safe="*",
        )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _whole(value: float) -> int | None:
    """A port read with default 0 (unset): None for unset."""
    return int(value) or None


class _Reader:
    """Reads one setting at a time; a bad one is noted and stood in for by its default, so
    reading goes on and every problem is found in one pass."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.problems: list[str] = []

    def optional(self, name: str) -> str:
        return self._env.get(name, "").strip()

    def required(self, name: str) -> str:
        value = self.optional(name)
        if not value:
            self.problems.append(say.terminal.setting_not_set(name))
        return value

    def token(self, name: str, *, prefix: str, hint: str, optional: bool = False) -> str:
        value = self.optional(name) if optional else self.required(name)
        if value and not value.startswith(prefix):
            self.problems.append(say.terminal.setting_wrong_prefix(name, prefix, hint))
        return value

    def url(self, name: str, default: str, *, trailing_slash: bool = False) -> str:
        value = self.optional(name) or default
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.problems.append(say.terminal.setting_not_url(name, default))
            return default
        if trailing_slash and not value.endswith("/"):
            value += "/"
        return value

    def database_url(self, name: str) -> str | None:
        value = self.optional(name)
        if not value:
            return None
        if problem := check_database_url(value):
            self.problems.append(problem)
            return None
        return value

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        """One of `choices`, the first by default; matched whatever its case."""
        raw = self.optional(name)
        if not raw:
            return choices[0]
        if raw.lower() not in choices:
            self.problems.append(say.terminal.setting_not_choice(name, raw, choices))
            return choices[0]
        return raw.lower()

    def number(
        self, name: str, default: float, *, low: float, high: float, whole: bool = False
    ) -> float:
        raw = self.optional(name)
        if not raw:
            return default
        try:
            value = int(raw) if whole else float(raw)
        except ValueError:
            self.problems.append(say.terminal.setting_not_number(name, raw, whole=whole))
            return default
        # `not low <= value <= high` also catches nan, which compares false with everything.
        if not low <= value <= high:
            self.problems.append(say.terminal.setting_out_of_range(name, raw, low, high))
            return default
        return value
