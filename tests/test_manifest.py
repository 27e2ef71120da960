"""manifest.yml is a valid Slack app manifest and declares what the bot uses."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import FormatChecker
from jsonschema.validators import validator_for

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "manifest.yml"
# Slack's own schema, kept in the repo under its MIT licence (LICENSE-manifest-schema beside it)
# so the test runs on any clone.
SCHEMA = REPO / "tests" / "data" / "slack" / "manifest.schema.1.0.0.json"
HTTP_URL = "https://YOUR-HOST/slack/events"

# Bot scope each subscribed bot event needs (Slack refuses the manifest otherwise).
# The scope each event needs (None: none, as app_home_opened).
EVENT_SCOPES: dict[str, str | None] = {"app_mention": "app_mentions:read", "app_home_opened": None}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _validate(instance: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    # The schema declares draft-07 in its "$schema"; validator_for honours that.
    cls = validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema, format_checker=FormatChecker())
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def _http_mode(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest after following the HTTP-mode instructions in its header comment."""
    http = copy.deepcopy(manifest)
    http["settings"]["socket_mode_enabled"] = False
    for command in http["features"]["slash_commands"]:
        command["url"] = HTTP_URL
    http["settings"]["interactivity"]["request_url"] = HTTP_URL
    http["settings"]["event_subscriptions"]["request_url"] = HTTP_URL
    return http


def test_manifest_matches_slack_schema(manifest: dict[str, Any]) -> None:
    assert _validate(manifest) == []


def test_http_mode_variant_matches_slack_schema(manifest: dict[str, Any]) -> None:
    assert _validate(_http_mode(manifest)) == []
    assert HTTP_URL in MANIFEST.read_text(encoding="utf-8")


def test_schema_catches_mistakes_inside_refs(manifest: dict[str, Any]) -> None:
    broken = copy.deepcopy(manifest)
    broken["features"]["slash_commands"][0]["command"] = "ops"  # must start with "/"
    broken["settings"]["interactivity"]["request_url"] = "YOUR-HOST/slack/events"
    broken["settings"]["socket_mode"] = True  # misspelt key
    errors = _validate(broken)
    assert len(errors) == 3, errors


def test_manifest_declares_what_the_bot_uses(manifest: dict[str, Any]) -> None:
    assert manifest["display_information"]["name"] == "opsbot"
    assert manifest["features"]["bot_user"] == {"display_name": "opsbot", "always_online": True}

    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert "/ops" in commands
    assert commands["/ops"]["usage_hint"] == "restart nginx on server-02 at 14:00"
    assert commands["/ops"]["should_escape"] is False

    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "users:read", "app_mentions:read"} <= scopes
    assert "usergroups:read" in scopes  # user groups named in the policy file

    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_mention", "app_home_opened"} <= set(events)
    for event in events:
        assert event in EVENT_SCOPES, f"{event}: which scope does it need?"
        scope = EVENT_SCOPES[event]
        assert scope is None or scope in scopes, f"{event} needs {scope}"
    home = manifest["features"]["app_home"]
    assert home == {"home_tab_enabled": True, "messages_tab_enabled": False}

    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False


def test_socket_mode_manifest_has_no_request_urls(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    # Slack rejects (or ignores and then confuses people with) request URLs in Socket Mode.
    assert all("url" not in c for c in manifest["features"]["slash_commands"])
    assert "request_url" not in settings["interactivity"]
    assert "request_url" not in settings["event_subscriptions"]
