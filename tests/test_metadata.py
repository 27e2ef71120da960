"""Slack message metadata (bot/slack/metadata.py, docs/metadata.md): every public message
carries an event type and a bounded payload that other apps read without parsing its text;
editing the public message edits its metadata; the fake Slack checks metadata as Slack does;
and the bot still finds its own messages by it when a post's answer was lost."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answers import Frozen
from bot.slack import metadata
from bot.slack.notifier import SlackNotifier, web_client
from store import Freeze, OperationRecord, OutboxEvent, RequestRecord
from tests.conftest import Bot, eventually, is_root_post
from tests.fakes import BOT_TOKEN, Call, FakeSlack
from tests.test_flow import confirm_button
from tests.test_manifest import MANIFEST, _validate

T0 = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
CHANNEL = "C123"


# ---------------------------------------------------------------- what the tests read


def metadata_of(call: Call) -> dict[str, Any]:
    return call.args.get("metadata") or {}


def posted_types(bot: Bot, thread_ts: str) -> list[tuple[str, dict[str, Any]]]:
    """The thread's lines as posted, by their event type and payload, in order."""
    return [
        (metadata_of(c)["event_type"], metadata_of(c)["event_payload"])
        for c in bot.slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") == thread_ts and c.response.get("ok")
    ]


def root_payload(bot: Bot, ts: str, channel: str = CHANNEL) -> dict[str, Any]:
    """The public message's metadata as Slack holds it now (after its edits)."""
    message = bot.slack.message(channel, ts)
    assert message is not None
    assert message["metadata"]["event_type"] == metadata.REQUEST
    return message["metadata"]["event_payload"]


def slack_shaped(payload: object) -> bool:
    """@slack/types' MessageMetadata: values are strings, numbers, booleans, objects of
    those, or lists of such objects; no null."""

    def plain(value: object) -> bool:
        return isinstance(value, str | int | float | bool)

    def flat(value: object) -> bool:
        return isinstance(value, dict) and all(
            isinstance(k, str) and plain(v) for k, v in value.items()
        )

    return isinstance(payload, dict) and all(
        isinstance(key, str)
        and (plain(value) or flat(value) or (isinstance(value, list) and all(map(flat, value))))
        for key, value in payload.items()
    )


# ---------------------------------------------------------------- records built by hand


def operation(n: int, **changes: Any) -> OperationRecord:
    op = OperationRecord(
        id=n,
        request_id="r_meta",
        seq=n,
        device_name=f"host-{n:03d}",
        operation_type="update",
        parameters={"package_list": "openssl"},
        scheduled_at=T0,
        state="submitted",
        api_id=f"txn_{n}",
        status="scheduled",
        final=False,
        estimated_duration=60,
        error=None,
    )
    return dataclasses.replace(op, **changes)


def request(ops: list[OperationRecord], **changes: Any) -> RequestRecord:
    record = RequestRecord(
        id="r_meta",
        state="confirmed",
        requester="U123",
        confirmed_by="U123",
        surface="command",
        text="update @fleet with openssl tomorrow at 23:00",
        tz="UTC",
        immediate=False,
        notes=(),
        channel=CHANNEL,
        thread_ts=None,
        status_ts=None,
        response_url=None,
        created_at=T0 - timedelta(hours=1),
        expires_at=T0,
        confirmed_at=T0 - timedelta(minutes=59),
        operations=tuple(ops),
    )
    return dataclasses.replace(record, **changes)


def failed(n: int, error: str = "Device did not come back online") -> OperationRecord:
    return operation(n, status="failed", final=True, error=error)


def size(value: object) -> int:
    return len(json.dumps(value))


# ---------------------------------------------------------------- the types and their bounds


def test_every_type_is_one_another_app_can_subscribe_to() -> None:
    """Slack's manifest schema: a consumer subscribes to at most 20 event types of at most 50
    characters. A consumer's manifest naming every one of the bot's types is valid."""
    for event_type in metadata.EVENT_TYPES:
        assert re.fullmatch(r"opsbot_[a-z][a-z0-9_]*", event_type), event_type
    consumer = {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {"name": "incident-bot"},
        "features": {"bot_user": {"display_name": "incident-bot"}},
        "oauth_config": {"scopes": {"bot": ["metadata.message:read", "channels:history"]}},
        "settings": {
            "event_subscriptions": {
                "bot_events": ["message_metadata_posted", "message_metadata_updated"],
                "metadata_subscriptions": [
                    {"app_id": "A0OPSBOT", "event_type": t} for t in metadata.EVENT_TYPES
                ],
            }
        },
    }
    assert _validate(consumer) == []
    # The check bites: a 51-character type, or a 21st, is refused.
    subscriptions = consumer["settings"]["event_subscriptions"]["metadata_subscriptions"]
    subscriptions.append({"app_id": "A0OPSBOT", "event_type": "opsbot_" + "x" * 44})
    subscriptions.extend({"app_id": "A1", "event_type": f"t{n}"} for n in range(2))
    assert len(_validate(consumer)) == 2


def test_the_manifest_asks_for_what_metadata_needs() -> None:
    """Posting it takes chat:write; reading the bot's own back (its messages' recovery) the
    history scopes, in public and private channels."""
    scopes = set(
        yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["oauth_config"]["scopes"]["bot"]
    )
    assert {"chat:write", "channels:history", "groups:history"} <= scopes


def test_a_request_of_500_devices_is_counted_whole_and_listed_within_bounds() -> None:
    """The counts cover all 500; the operations listed are those that went wrong first (their
    errors clipped), then those still going; the whole within Slack's size."""
    ops = [operation(n) for n in range(1, 501)]
    for n in (7, 250, 499):
        ops[n - 1] = failed(n, error="E" * 5000)
    ops[9] = operation(10, status="running")
    ops[10] = operation(11, status="completed", final=True)
    md = metadata.request_metadata(request(ops))
    payload = md["event_payload"]
    assert md["event_type"] == "opsbot_request"
    assert size(md) <= metadata.MAX_BYTES and slack_shaped(payload)
    assert payload["total"] == 500 and sum(payload["counts"].values()) == 500
    assert payload["counts"] == {"scheduled": 495, "failed": 3, "running": 1, "completed": 1}
    assert (payload["failed"], payload["succeeded"], payload["ended"]) == (3, 1, 4)
    assert payload["truncated"] is True
    listed = payload["operations"]
    assert 3 < len(listed) <= metadata.OPERATIONS_SHOWN
    assert [op["device"] for op in listed[:4]] == ["host-007", "host-250", "host-499", "host-010"]
    assert len(listed[0]["error"]) < 300 and listed[0]["error"].endswith("…")
    assert payload["parameters"] == {"package_list": "openssl"}
    assert payload["request_id"] == "r_meta" and payload["schema_version"] == 1


def test_a_small_request_lists_every_operation_and_says_nothing_was_left_out() -> None:
    payload = metadata.request_metadata(request([operation(1), operation(2)]))["event_payload"]
    assert [op["api_id"] for op in payload["operations"]] == ["txn_1", "txn_2"]
    assert payload["truncated"] is False
    assert "approvals" not in payload and "waves" not in payload


TEXT = st.text(min_size=0, max_size=400)


@settings(max_examples=40)  # each example builds up to 40 operations of long texts
@given(
    devices=st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=40),
    errors=st.lists(TEXT, max_size=40),
    statuses=st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=30),
    typed=TEXT,
)
def test_any_request_gives_metadata_within_bounds_and_of_slacks_shape(
    devices: list[str], errors: list[str], statuses: list[str], typed: str
) -> None:
    """Whatever the names, errors and status words (the API invents its own), the metadata
    of the public message and of its thread's lines fits, and keeps the ids the bot finds its
    messages by."""
    ops = [
        operation(
            n,
            device_name=name,
            status=statuses[n % len(statuses)],
            final=True,
            error=errors[n % len(errors)] if errors else None,
            wave=1,
        )
        for n, name in enumerate(devices, start=1)
    ]
    record = request(ops, text=typed, waves=1, wave=1, wave_state="halted")
    events = [
        OutboxEvent(id=9, request_id="r_meta", kind=kind, data=data, attempts=0, thread="t")
        for kind, data in (
            ("finished", {}),
            ("wave_halted", {"wave": 1, "failed": [op.id for op in ops]}),
            ("status", {"operation_id": 1, "old": typed, "new": statuses[0], "error": typed}),
        )
    ]
    for md in [
        metadata.request_metadata(record),
        *(metadata.line_metadata(e, record) for e in events),
    ]:
        assert size(md) <= metadata.MAX_BYTES
        assert slack_shaped(md["event_payload"]), md
        assert md["event_payload"]["request_id"] == "r_meta"
        assert metadata.is_request_message({"metadata": md}, "r_meta") == (
            md["event_type"] == "opsbot_request"
        )


@pytest.mark.parametrize(
    ("kind", "data", "event_type"),
    [
        ("submitted", {"operation_id": 1}, "opsbot_operation_scheduled"),
        ("status", {"operation_id": 1, "new": "running"}, "opsbot_operation_status_changed"),
        ("status", {"operation_id": 1, "new": "Completed"}, "opsbot_operation_status_changed"),
        ("status", {"operation_id": 1, "new": "failed"}, "opsbot_operation_failed"),
        ("unsent", {"operation_id": 1, "error": "400"}, "opsbot_operation_failed"),
        ("unsent", {"operation_id": 1, "unknown": True}, "opsbot_operation_updated"),
        ("vanished", {"operation_id": 1}, "opsbot_operation_failed"),
        ("held", {"operation_id": 1, "freeze": 3, "reason": "x"}, "opsbot_operation_updated"),
        ("ask_unknown", {"operation_id": 1, "held": [{}]}, "opsbot_operation_updated"),
        ("approved", {"by": "U2", "count": 1, "needed": 2}, "opsbot_request_approved"),
        ("rejected", {"by": "U2"}, "opsbot_request_rejected"),
        ("approval_expired", {}, "opsbot_request_rejected"),
        ("policy_refused", {"reason": "x"}, "opsbot_request_rejected"),
        ("approval_needed", {"needed": 2, "count": 1}, "opsbot_request_updated"),
        ("outside_moved", {"by": "U2", "count": 3}, "opsbot_request_updated"),
        ("finished", {}, "opsbot_request_finished"),
        ("wave_started", {"wave": 1}, "opsbot_wave_started"),
        ("wave_halted", {"wave": 1, "failed": [1]}, "opsbot_wave_halted"),
        ("wave_continued", {"wave": 2, "by": "U2"}, "opsbot_wave_continued"),
        ("waves_stopped", {"by": "U2", "count": 1}, "opsbot_waves_stopped"),
    ],
)
def test_each_line_has_the_type_of_what_it_tells(
    kind: str, data: dict[str, Any], event_type: str
) -> None:
    event = OutboxEvent(id=5, request_id="r_meta", kind=kind, data=data, attempts=0, thread="t")
    md = metadata.line_metadata(event, request([operation(1, wave=1)], waves=1, wave=1))
    assert md["event_type"] == event_type
    payload = md["event_payload"]
    assert (payload["event"], payload["outbox_id"]) == (kind, "5")
    assert ("operation" in payload) == ("operation_id" in data)
    assert metadata.is_line_message({"metadata": md}, event)


def test_a_status_line_says_the_status_it_announces_and_counts_a_list() -> None:
    event = OutboxEvent(
        id=5,
        request_id="r_meta",
        kind="status",
        data={"operation_id": 1, "old": "Scheduled", "new": "FAILED", "error": "Disk full"},
        attempts=0,
        thread="t",
    )
    payload = metadata.line_metadata(event, request([failed(1, error="Disk full")]))[
        "event_payload"
    ]
    assert payload["detail"] == {
        "status": "failed",
        "previous_status": "scheduled",
        "error": "Disk full",
    }
    assert payload["operation"] == {
        "id": 1,
        "device": "host-001",
        "type": "update",
        "status": "failed",
        "scheduled_at": int(T0.timestamp()),
        "api_id": "txn_1",
        "error": "Disk full",
    }
    halted = OutboxEvent(
        id=6,
        request_id="r_meta",
        kind="wave_halted",
        data={"wave": 1, "failed": [1]},
        attempts=0,
        thread="t",
    )
    payload = metadata.line_metadata(halted, request([failed(1, error="Disk full")]))[
        "event_payload"
    ]
    assert payload["detail"] == {"wave": 1, "failed": 1}
    assert [op["device"] for op in payload["operations"]] == ["host-001"]


def test_a_freeze_and_its_end_are_told_with_what_they_cover() -> None:
    freeze = Freeze(
        id=4,
        devices=("server-*", "db-01"),
        reason="release night",
        frozen_by="U789",
        channel=CHANNEL,
        created_at=T0,
        until=T0 + timedelta(hours=1),
    )
    started = metadata.answer_metadata(Frozen(freeze=freeze, held=({"id": "txn_1"},)), user="U789")
    assert started is not None and started["event_type"] == "opsbot_freeze_started"
    assert started["event_payload"] == {
        "schema_version": 1,
        "freeze_id": 4,
        "frozen_by": "U789",
        "reason": "release night",
        "every_device": False,
        "created_at": int(T0.timestamp()),
        "until": int(T0.timestamp()) + 3600,
        "already_at_api": 1,
        "devices": [{"device": "server-*"}, {"device": "db-01"}],
        "truncated": False,
    }
    lifted = dataclasses.replace(freeze, lifted_at=T0, lifted_by="U789")
    ended = metadata.answer_metadata(Frozen(lifted=(lifted,)), user="U789")
    assert ended is not None and ended["event_type"] == "opsbot_freeze_ended"
    assert ended["event_payload"]["freezes"][0]["freeze_id"] == 4
    assert ended["event_payload"]["lifted_by"] == "U789"


# ---------------------------------------------------------------- the fake, as strict as Slack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(post_rate=None, update_rate=None) as slack:
        yield slack


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake.api_url)


def refused(client: WebClient, value: object) -> str:
    with pytest.raises(SlackApiError) as raised:
        client.chat_postMessage(channel=CHANNEL, text="hi", metadata=value)  # type: ignore[arg-type]
    return str(raised.value.response["error"])


def test_the_fake_refuses_metadata_as_slack_does(fake: FakeSlack, client: WebClient) -> None:
    assert refused(client, "not json") == "invalid_metadata_format"
    assert refused(client, ["opsbot_request"]) == "invalid_metadata_format"
    assert refused(client, {"event_type": "opsbot_request"}) == "invalid_metadata_schema"
    assert refused(client, {"event_payload": {}}) == "invalid_metadata_schema"
    assert refused(client, {"event_type": "t", "event_payload": []}) == "invalid_metadata_schema"
    assert refused(client, {"event_type": "", "event_payload": {}}) == "invalid_metadata_schema"
    big = {"event_type": "t", "event_payload": {"x": "y" * metadata.MAX_BYTES}}
    assert refused(client, big) == "metadata_too_large"
    assert client.conversations_history(channel=CHANNEL)["messages"] == []  # none was posted
    # An event type of other characters: posted, the metadata ignored, with a warning.
    answer = client.chat_postMessage(
        channel=CHANNEL, text="hi", metadata={"event_type": "opsbot.request", "event_payload": {}}
    )
    assert answer["response_metadata"]["warnings"] == ["invalid_metadata_schema"]
    assert "metadata" not in (fake.message(CHANNEL, answer["ts"]) or {})
    # As JSON text, as a form-encoded client sends it: taken.
    text = json.dumps({"event_type": "opsbot_request", "event_payload": {"request_id": "r1"}})
    answer = client.chat_postMessage(channel=CHANNEL, text="hi", metadata=text)  # type: ignore[arg-type]
    assert fake.message(CHANNEL, answer["ts"])["metadata"]["event_payload"] == {"request_id": "r1"}  # type: ignore[index]


def test_the_fake_returns_the_payload_only_to_who_asks_for_all_metadata(
    fake: FakeSlack, client: WebClient
) -> None:
    md = {"event_type": "opsbot_request", "event_payload": {"request_id": "r1", "total": 1}}
    root = client.chat_postMessage(channel=CHANNEL, text="root", metadata=md)["ts"]
    client.chat_postMessage(channel=CHANNEL, text="line", thread_ts=root, metadata=md)
    (bare,) = client.conversations_history(channel=CHANNEL)["messages"]
    assert bare["metadata"] == {"event_type": "opsbot_request"}
    (whole,) = client.conversations_history(channel=CHANNEL, include_all_metadata=True)["messages"]
    assert whole["metadata"] == md
    replies = client.conversations_replies(channel=CHANNEL, ts=root)["messages"]
    assert [m["metadata"] for m in replies] == [{"event_type": "opsbot_request"}] * 2
    # An edit with metadata replaces it; one without keeps it.
    edited = {"event_type": "opsbot_request", "event_payload": {"request_id": "r1", "total": 2}}
    client.chat_update(channel=CHANNEL, ts=root, text="root", metadata=edited)
    client.chat_update(channel=CHANNEL, ts=root, text="root again")
    assert fake.message(CHANNEL, root)["metadata"] == edited  # type: ignore[index]


# ---------------------------------------------------------------- the notifier over the fake


@pytest.fixture
def notifier(fake: FakeSlack) -> SlackNotifier:
    return SlackNotifier(client=web_client(token=BOT_TOKEN, base_url=fake.api_url))


def test_a_message_refused_for_its_metadata_goes_with_its_ids_and_is_found_again(
    fake: FakeSlack, notifier: SlackNotifier
) -> None:
    record = request([operation(1)])
    fake.fail("chat.postMessage", error="metadata_too_large")
    ts = notifier.post_root(record, retry=False)
    first, second = fake.calls_to("chat.postMessage")
    assert first.response["error"] == "metadata_too_large"
    assert metadata_of(second) == {
        "event_type": "opsbot_request",
        "event_payload": {"schema_version": 1, "request_id": "r_meta", "truncated": True},
    }
    # Its answer lost, it is found by those ids rather than posted twice.
    assert notifier.post_root(record, retry=True) == ts
    assert len(fake.calls_to("chat.postMessage")) == 2
    # The edit carries the whole metadata again.
    notifier.refresh(dataclasses.replace(record, status_ts=ts))
    assert fake.message(CHANNEL, ts)["metadata"]["event_payload"]["total"] == 1  # type: ignore[index]


def test_a_line_whose_answer_was_lost_is_found_by_its_metadata_old_or_new(
    fake: FakeSlack, client: WebClient, notifier: SlackNotifier
) -> None:
    root = client.chat_postMessage(channel=CHANNEL, text="root")["ts"]
    record = request([operation(1)], status_ts=root)
    # A line an older version posted (one type for all lines), then its answer lost.
    client.chat_postMessage(
        channel=CHANNEL,
        thread_ts=root,
        text="scheduled",
        metadata={
            "event_type": "opsbot_announcement",
            "event_payload": {"request_id": "r_meta", "outbox_id": "41"},
        },
    )
    old = OutboxEvent(
        id=41,
        request_id="r_meta",
        kind="submitted",
        data={"operation_id": 1},
        attempts=1,
        thread=root,
    )
    new = dataclasses.replace(old, id=42, kind="status", data={"operation_id": 1, "new": "running"})
    notifier.deliver(old, record)
    notifier.deliver(dataclasses.replace(new, attempts=0), record)
    notifier.deliver(new, record)  # tried again: found, not posted twice
    lines = [c for c in fake.calls_to("chat.postMessage") if c.args.get("thread_ts") == root]
    assert [metadata_of(c)["event_type"] for c in lines] == [
        "opsbot_announcement",
        "opsbot_operation_status_changed",
    ]


# ---------------------------------------------------------------- a request's life, end to end


@pytest.mark.xdist_group("ports")
def test_a_requests_life_is_read_from_its_metadata_as_an_incident_bot_would(bot: Bot) -> None:
    """Proposed (private: no metadata), confirmed (the public message), scheduled, running,
    completed; a request of two devices with a failure, and its end. Read from the calls the
    bot made, and from Slack as another app reads it (history with include_all_metadata)."""
    bot.simulator.run_seconds = 2.0  # the 0.1 s poller surely sees "running"
    bot.simulator.failing = {"server-04"}
    one = bot.wait_response(bot.command("restart nginx on server-01 now"))
    two = bot.wait_response(bot.command("reboot server-03, server-04 now"))
    assert "metadata" not in one and "metadata" not in two  # only the requester sees them
    ids = [confirm_button(shown)["value"] for shown in (one, two)]
    for request_id in ids:
        _, key = bot.click("ops_confirm", request_id)
        assert "Confirmed" in bot.wait_response(key)["text"]
    roots = [
        eventually(
            lambda r=request_id: [
                c for c in bot.slack.calls_to("chat.postMessage") if is_root_post(c, r)
            ],
            what="the public message",
        )[0]
        for request_id in ids
    ]
    posted = metadata_of(roots[0])["event_payload"]
    assert posted["state"] == "confirmed" and posted["confirmed_by"] == "U123"
    assert posted["operation_type"] == "restart_service" and posted["total"] == 1
    assert posted["parameters"] == {"service_name": "nginx", "verify_status": True}
    assert posted["operations"][0]["device"] == "server-01"
    ts = [root.response["ts"] for root in roots]

    # One device: each step a line of its own type, about its operation.
    lines = eventually(
        lambda: (
            (t := posted_types(bot, ts[0]))
            and t[-1][1].get("detail", {}).get("status") == "completed"
            and t
        ),
        what="the completed line",
    )
    assert [(kind, p.get("detail", {}).get("status")) for kind, p in lines] == [
        ("opsbot_operation_scheduled", None),
        ("opsbot_operation_status_changed", "running"),
        ("opsbot_operation_status_changed", "completed"),
    ]
    api_id = bot.simulator.operations()[0]["id"]
    assert {p["operation"]["api_id"] for _, p in lines} == {api_id}
    assert all(p["request_id"] == ids[0] and p["requester"] == "U123" for _, p in lines)

    # Two devices: routine steps only edit the summary; the failure and the end are lines.
    lines = eventually(
        lambda: (t := posted_types(bot, ts[1])) and t[-1][0] == "opsbot_request_finished" and t,
        what="the end of the second request",
    )
    assert [kind for kind, _ in lines] == ["opsbot_operation_failed", "opsbot_request_finished"]
    failure, end = lines[0][1], lines[1][1]
    assert failure["operation"]["device"] == "server-04" and failure["operation"]["error"]
    assert (end["total"], end["succeeded"], end["failed"], end["ended"]) == (2, 1, 1, 2)
    assert [op["device"] for op in end["operations"]] == ["server-04"]

    # The public messages' metadata edited with them, to the end.
    eventually(
        lambda: root_payload(bot, ts[1])["ended"] == 2 and root_payload(bot, ts[0])["ended"] == 1,
        what="the public messages' metadata to show the end",
    )
    assert root_payload(bot, ts[1])["counts"] == {"completed": 1, "failed": 1}
    assert any(
        metadata_of(c)["event_payload"]["request_id"] == ids[1]
        for c in bot.slack.calls_to("chat.update")
    )

    # Another app reading the channel: the requests' state without parsing a word of text.
    reader = WebClient(token=BOT_TOKEN, base_url=bot.slack.api_url)
    history = reader.conversations_history(channel=CHANNEL, include_all_metadata=True)
    seen = {
        m["metadata"]["event_payload"]["request_id"]: m["metadata"]["event_payload"]["counts"]
        for m in history["messages"]
        if (m.get("metadata") or {}).get("event_type") == "opsbot_request"
    }
    assert seen == {ids[0]: {"completed": 1}, ids[1]: {"completed": 1, "failed": 1}}

    # Answers the channel sees carry theirs; the same answer in private does not.
    bot.mention("list", ts="1700000900.000100", thread_ts=None)
    listed = eventually(
        lambda: [
            metadata_of(c)
            for c in bot.slack.calls_to("chat.postMessage")
            if metadata_of(c).get("event_type") == "opsbot_operations_listed"
        ],
        what="the list's answer in the channel",
    )[0]["event_payload"]
    assert listed["asked_by"] == "U123" and listed["total"] == 3
    assert {op["device"] for op in listed["operations"]} == {"server-01", "server-03", "server-04"}
    assert "metadata" not in bot.wait_response(bot.command("list"))
