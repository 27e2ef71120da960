"""Every message and view the bot builds passes Slack's own offline checks, and typed text
stays data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot import messages
from bot.catalog import DEFAULT_CATALOG
from bot.grammar import parse
from bot.model import Plan
from bot.service import Failed, Helped, Listed, Looked, OperationList, Proposed, Refused
from store import RequestRecord, Store

NOW = datetime(2026, 11, 25, 10, 45, tzinfo=UTC)


def valid(blocks: list[dict]) -> None:
    assert 0 < len(blocks) <= 50
    for block in blocks:
        Block.parse(block).validate_json()  # raises SlackObjectFormationError when Slack would


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(path=tmp_path / "m.db")


def make_request(store: Store, text: str, *, tz: str = "Europe/Madrid") -> RequestRecord:
    plan = parse(text, tz=tz, now=NOW)
    assert isinstance(plan, Plan)
    return store.create_request(
        specs=plan.operations,
        requester="U123",
        surface="command",
        text=text,
        tz=tz,
        immediate=plan.immediate,
        notes=plan.notes,
        channel="C1",
        thread_ts=None,
        response_url=None,
        now=NOW,
        expires_at=NOW + timedelta(minutes=15),
    )


def test_confirmation_and_status_message_are_valid_block_kit(store: Store) -> None:
    request = make_request(store, "restart nginx on server-01, server-02 at 09:00")
    blocks = messages.confirmation(request, now=NOW)
    valid(blocks)
    text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "09:00 (Europe/Madrid)" in text and "08:00 UTC" in text and "in 21 h 15 min" in text
    valid(messages.status_message(request))


def test_fifty_devices_fit_within_block_kit_limits(store: Store) -> None:
    devices = ", ".join(f"server-{i:02d}" for i in range(1, 51))
    request = make_request(store, f"update {devices} with openssl now")
    valid(messages.confirmation(request, now=NOW))
    valid(messages.status_message(request))


def test_typed_text_cannot_inject_markup(store: Store) -> None:
    request = make_request(store, "update server-01 with openssl now")
    request = request.__class__(**{**request.__dict__, "text": "<!channel> <https://evil|ok> & co"})
    rendered = str(messages.confirmation(request, now=NOW)) + str(messages.status_message(request))
    assert "<!channel>" not in rendered and "<https://evil" not in rendered
    assert "&lt;!channel&gt; &lt;https://evil|ok&gt; &amp; co" in rendered


def test_every_answer_is_valid() -> None:
    items = [
        {
            "id": f"txn_{i}",
            "device_name": "server-01",
            "operation_type": "reboot",
            "status": "scheduled",
            "scheduled_at": "2026-11-25T10:00:00Z",
            "created_at": "2026-11-25T09:00:00Z",
            "parameters": {"force": False},
        }
        for i in range(200)
    ]
    answers = [
        Refused(reason="x <b>", example="reboot server-01 at 14:00"),
        Failed(message="The API is down."),
        Helped(catalog=DEFAULT_CATALOG),
        Listed(listing=OperationList(items=items[:40], total=200), device=None),
        Listed(listing=OperationList(), device="server-01"),
        Looked(operation_id="txn_1", item=items[0]),
        Looked(operation_id="txn_404", item=None),
    ]
    for result in answers:
        valid(messages.answer(result, now=NOW).message["blocks"])


def test_proposed_answer_is_private(store: Store) -> None:
    request = make_request(store, "reboot server-01 now")
    reply = messages.answer(Proposed(request=request), now=NOW)
    assert reply.public is False
    valid(reply.message["blocks"])


def test_modal_is_a_valid_view_for_every_operation_kind() -> None:
    for kind in DEFAULT_CATALOG.kinds:
        view = messages.request_modal(DEFAULT_CATALOG, kind=kind, metadata={"channel": "C1"})
        View(**view).validate_json()
        block_ids = [b["block_id"] for b in view["blocks"]]
        assert block_ids[:2] == ["operation_type", "devices"] and block_ids[-1] == "when"
        assert {f.name for f in kind.fields} <= set(block_ids)


def test_the_form_says_its_service_and_packages_take_a_list() -> None:
    for keyword, field in (("restart", "service_name"), ("update", "package_list")):
        kind = DEFAULT_CATALOG.by_keyword(keyword)
        assert kind is not None
        view = messages.request_modal(DEFAULT_CATALOG, kind=kind, metadata={"channel": "C1"})
        block = next(b for b in view["blocks"] if b["block_id"] == field)
        assert block["hint"]["text"].startswith("One or more, separated by commas")
        assert block["optional"] is False  # an update without packages is refused
