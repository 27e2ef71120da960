"""Settings from the environment, or from a `.env` file beside where the bot runs.

A missing or malformed setting stops the bot at once with a message naming it. Tokens are
kept out of `repr()` so they cannot leak into a log line by accident.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_ZEQUENZE_API_URL = "https://control.zequenze.com/api/v1"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and says what it should be."""


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
    outage_notice: float = 300.0
    channel_gap: float = 1.0

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
            raise SettingsError(f"{file}: line {number} is not KEY=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()  # `KEY=value  # a note`
        values[key.strip()] = value
    return values


def load(environ: Mapping[str, str] | None = None, *, dotenv: str | Path = ".env") -> Settings:
    """The environment wins over `.env`."""
    env = {**read_dotenv(dotenv), **(environ if environ is not None else os.environ)}

    def required(name: str, *, prefix: str | None = None) -> str:
        value = env.get(name, "").strip()
        if not value:
            raise SettingsError(f"{name} is not set: see the README's Settings section.")
        if prefix and not value.startswith(prefix):
            raise SettingsError(
                f"{name} should start with {prefix!r}: check you copied the right token."
            )
        return value

    app_token = env.get("SLACK_APP_TOKEN", "").strip() or None
    if app_token and not app_token.startswith("xapp-"):
        raise SettingsError(
            "SLACK_APP_TOKEN should start with 'xapp-' (an app-level token with connections:write)."
        )
    return Settings(
        slack_bot_token=required("SLACK_BOT_TOKEN", prefix="xoxb-"),
        slack_signing_secret=required("SLACK_SIGNING_SECRET"),
        slack_app_token=app_token,
        slack_api_url=_url(env, "SLACK_API_URL", DEFAULT_SLACK_API_URL, trailing_slash=True),
        zequenze_api_url=_url(env, "ZEQUENZE_API_URL", DEFAULT_ZEQUENZE_API_URL),
        zequenze_api_token=required("ZEQUENZE_API_TOKEN"),
        db_path=env.get("OPSBOT_DB", "").strip() or "opsbot.db",
        poll_interval=_number(env, "OPSBOT_POLL_INTERVAL", 15.0, low=0.05, high=3600),
        port=int(_number(env, "PORT", 3000, low=1, high=65535, whole=True)),
        reconcile_delay=_number(env, "OPSBOT_RECONCILE_DELAY", 10.0, low=0, high=3600),
        outage_notice=_number(env, "OPSBOT_OUTAGE_NOTICE", 300.0, low=0, high=86400),
        channel_gap=_number(env, "OPSBOT_CHANNEL_GAP", 1.0, low=0, high=60),
    )


def _url(env: Mapping[str, str], name: str, default: str, *, trailing_slash: bool = False) -> str:
    value = env.get(name, "").strip() or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http(s) URL, like {default}")
    if trailing_slash and not value.endswith("/"):
        value += "/"
    return value


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    low: float,
    high: float,
    whole: bool = False,
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise SettingsError(
            f"{name} must be a {'whole ' if whole else ''}number, not {raw!r}"
        ) from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, not {raw}")
    return value
