"""Every message and view the bot builds passes Slack's own offline checks, and typed text
stays data."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot import say
from bot.answers import Failed, Helped, Listed, Looked, OperationList, Proposed, Refused
from bot.model import OperationSpec, Plan
from bot.say import common_blocks, lists_blocks, modal_blocks, track_blocks
from bot.understand.catalog import DEFAULT_CATALOG
from bot.understand.fields import FieldErrors, plan_from_fields
from bot.understand.grammar import parse
from handlers import views
from store import RequestRecord, Store
from tests.catalogs import TR069_CATALOG

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
    blocks = track_blocks.confirmation(request, now=NOW)
    valid(blocks)
    text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "09:00 (Europe/Madrid)" in text and "08:00 UTC" in text and "in 21 h 15 min" in text
    valid(track_blocks.status_message(request))


def test_fifty_devices_fit_within_block_kit_limits(store: Store) -> None:
    devices = ", ".join(f"server-{i:02d}" for i in range(1, 51))
    request = make_request(store, f"update {devices} with openssl now")
    valid(track_blocks.confirmation(request, now=NOW))
    valid(track_blocks.status_message(request))


def test_typed_text_cannot_inject_markup(store: Store) -> None:
    request = make_request(store, "update server-01 with openssl now")
    request = request.__class__(**{**request.__dict__, "text": "<!channel> <https://evil|ok> & co"})
    rendered = str(track_blocks.confirmation(request, now=NOW)) + str(
        track_blocks.status_message(request)
    )
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
        Helped(kinds=DEFAULT_CATALOG.kinds),
        Listed(listing=OperationList(items=items[:40], total=200), device=None),
        Listed(listing=OperationList(), device="server-01"),
        Looked(operation_id="txn_1", item=items[0]),
        Looked(operation_id="txn_404", item=None),
    ]
    for result in answers:
        valid(track_blocks.answer(result, now=NOW).message["blocks"])


def test_proposed_answer_is_private(store: Store) -> None:
    request = make_request(store, "reboot server-01 now")
    reply = track_blocks.answer(Proposed(request=request), now=NOW)
    assert reply.public is False
    valid(reply.message["blocks"])


def test_modal_is_a_valid_view_for_every_operation_kind() -> None:
    for kind in DEFAULT_CATALOG.kinds:
        view = modal_blocks.request_modal(
            DEFAULT_CATALOG.kinds, kind=kind, metadata={"channel": "C1"}
        )
        View(**view).validate_json()
        block_ids = [b["block_id"] for b in view["blocks"]]
        assert block_ids[:2] == ["operation_type", "devices"] and block_ids[-1] == "when"
        assert {f.name for f in kind.fields} <= set(block_ids)


def test_the_modal_of_a_value_field_is_a_valid_view_of_the_right_input() -> None:
    elements = {}
    for kind in TR069_CATALOG.kinds:
        view = modal_blocks.request_modal(
            TR069_CATALOG.kinds, kind=kind, metadata={"channel": "C1"}
        )
        View(**view).validate_json()
        elements |= {b["block_id"]: (b["element"], b.get("optional")) for b in view["blocks"]}
    number, optional = elements["value"]  # set's integer: Slack checks it is a whole number
    assert (number["type"], number["is_decimal_allowed"], optional) == (
        "number_input",
        False,
        False,
    )
    assert number["placeholder"]["text"] == "300"
    weight, optional = elements["weight"]
    assert (weight["type"], weight["is_decimal_allowed"], optional) == ("number_input", True, True)
    switch, optional = elements["enabled"]  # a checkbox could not tell false from "not given"
    assert switch["type"] == "static_select" and optional is True
    assert [o["value"] for o in switch["options"]] == ["true", "false"]
    assert switch["initial_option"]["value"] == "true"  # its default
    label, optional = elements["text"]
    assert label["type"] == "plain_text_input" and optional is False


def test_a_submitted_value_is_read_by_type() -> None:
    # The state Slack sends for these inputs: a number_input's value is text, as typed.
    state = {
        "operation_type": {
            "ops_modal_type": {
                "type": "static_select",
                "selected_option": {"value": "set_parameter_values"},
            }
        },
        "devices": {"value": {"type": "plain_text_input", "value": "cpe-0042, cpe-0043"}},
        "parameter_name": {
            "value": {
                "type": "plain_text_input",
                "value": "Device.ManagementServer.PeriodicInformInterval",
            }
        },
        "value": {"value": {"type": "number_input", "value": "300"}},
        "when": {"value": {"type": "datetimepicker", "selected_date_time": None}},
    }
    fields = views._values(state)
    plan = plan_from_fields(
        operation_type=fields.pop("operation_type"),
        devices=fields.pop("devices"),
        when=fields.pop("when"),
        values=fields,
        tz="UTC",
        now=NOW,
        catalog=TR069_CATALOG,
    )
    assert [op.parameters for op in plan.operations] == [
        {"parameter_name": "Device.ManagementServer.PeriodicInformInterval", "value": 300}
    ] * 2
    state["value"]["value"]["value"] = "3.5"  # what an altered or older client might send
    with pytest.raises(FieldErrors) as caught:
        fields = views._values(state)
        plan_from_fields(
            operation_type=fields.pop("operation_type"),
            devices=fields.pop("devices"),
            when=fields.pop("when"),
            values=fields,
            tz="UTC",
            now=NOW,
            catalog=TR069_CATALOG,
        )
    assert caught.value.errors == {"value": "The value must be a whole number, like 300."}


def test_the_form_says_its_service_and_packages_take_a_list() -> None:
    for keyword, field in (("restart", "service_name"), ("update", "package_list")):
        kind = DEFAULT_CATALOG.by_keyword(keyword)
        assert kind is not None
        view = modal_blocks.request_modal(
            DEFAULT_CATALOG.kinds, kind=kind, metadata={"channel": "C1"}
        )
        block = next(b for b in view["blocks"] if b["block_id"] == field)
        assert block["hint"]["text"].startswith("One or more, separated by commas")
        assert block["optional"] is False  # an update without packages is refused


# --- within Slack's limits, whatever goes in -----------------------------------------------

# The grammar's longest: 50 devices of 63 characters, 100 packages of 128.
LONG_DEVICES = [f"d{i:02d}-" + "x" * 59 for i in range(50)]
LONG_PACKAGES = [f"p{i:03d}-" + "y" * 123 for i in range(100)]
# Typed text whose every character grows when escaped for mrkdwn (& → &amp;, < → &lt;).
HOSTILE = ("<!channel> & <https://evil|ok> " * 200)[:4000]
ERROR = "refused: " + "<&>" * 700  # 2,109 characters from the API, 6,000 once escaped


def texts(node: object) -> list[str]:
    """Every text a block carries, as Slack counts them toward `msg_blocks_too_long`."""
    if isinstance(node, list):
        return [t for item in node for t in texts(item)]
    if not isinstance(node, dict):
        return []
    found = []
    for key, value in node.items():
        found += [value] if key == "text" and isinstance(value, str) else texts(value)
    return found


def within_limits(blocks: list[dict]) -> str:
    """Slack's limits, counted here on their own: 50 blocks, 3,000 characters a section, and
    12,000 of text with 50 for each block's container; every entity whole. Returns the text."""
    valid(blocks)
    for block in blocks:
        if block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
    every = texts(blocks)
    assert sum(map(len, every)) + 50 * len(blocks) <= 12000
    joined = "\n".join(every)
    assert not re.search(r"&(?!amp;|lt;|gt;)", joined), "half an entity, or an unescaped &"
    assert not re.search(r"<(?![@!#])", joined), "a < that is not Slack's own token"
    return joined


def record(store: Store, specs: list[OperationSpec], *, typed: str = HOSTILE) -> RequestRecord:
    return store.create_request(
        specs=specs,
        requester="U123",
        surface="command",
        text=typed,
        tz="UTC",
        immediate=False,
        notes=[f"note {i}: " + "&" * 300 for i in range(10)],
        channel="C1",
        thread_ts=None,
        response_url=None,
        now=NOW,
        expires_at=NOW + timedelta(minutes=15),
    )


def spec(device: str, operation_type: str = "update", **parameters: object) -> OperationSpec:
    return OperationSpec(
        device_name=device,
        operation_type=operation_type,
        scheduled_at=NOW + timedelta(hours=1),
        parameters=parameters,
    )


def test_a_legal_update_of_50_devices_and_100_packages_says_each_thing_once(store: Store) -> None:
    devices = ", ".join(f"server-{i:02d}" for i in range(1, 51))
    packages = ", ".join(f"package-with-a-long-name-{i:03d}" for i in range(100))
    request = make_request(store, f"update {devices} with {packages}")
    blocks = track_blocks.confirmation(request, now=NOW)
    shown = within_limits(blocks)  # it was 135,152 characters in 49 blocks
    assert common_blocks.message_size(blocks) < 4000
    assert "*update* on 50 devices: `server-01..server-50` (50)" in shown  # as a range
    assert shown.count("package-with-a-long-name-000") == 1  # the quote stops before it
    assert "*Parameters (all 50 devices):* package_list=[package-with-a-long-name-000, " in shown
    assert re.search(r", …and \d+ more\]", shown)


def test_the_largest_confirmation_keeps_every_device_its_heading_and_buttons(
    store: Store,
) -> None:
    request = record(store, [spec(d, package_list=LONG_PACKAGES) for d in LONG_DEVICES])
    blocks = track_blocks.confirmation(request, now=NOW)
    shown = within_limits(blocks)
    assert blocks[0]["text"]["text"].startswith("*Please confirm these 50 operations")
    assert "&lt;!channel&gt; &amp; &lt;https://evil|ok&gt;" in blocks[0]["text"]["text"]
    assert all(shown.count(f"`{d}`") == 1 for d in LONG_DEVICES)
    assert shown.count(LONG_PACKAGES[0]) == 1
    listed = re.search(r"package_list=\[(.*), …and (\d+) more\]", shown)
    assert listed and len(listed[1].split(", ")) + int(listed[2]) == 100
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["ops_confirm", "ops_cancel"]
    assert blocks[-1]["type"] == "context" and request.id in blocks[-1]["elements"][0]["text"]


def test_operations_that_differ_show_what_they_share_once_and_each_difference_once(
    store: Store,
) -> None:
    # `restart nginx, apache on …`: one operation per service per device.
    specs = [
        spec(d, "restart_service", service_name=service, verify_status=True)
        for service in ("nginx", "apache")
        for d in LONG_DEVICES
    ]
    request = record(store, specs)
    shown = within_limits(track_blocks.confirmation(request, now=NOW))
    assert "*Parameters (all 100 operations):* verify_status=true" in shown
    assert "*On each device:*\n• service_name=nginx\n• service_name=apache" in shown
    assert all(shown.count(f"`{d}`") == 1 for d in LONG_DEVICES)
    status = within_limits(track_blocks.status_message(request))
    assert status.count("verify_status=true") == 1
    lines = status.count("· service_name=nginx") + status.count("· service_name=apache")
    left = re.search(r"…and (\d+) more\.", status)
    assert lines + (int(left[1]) if left else 0) == 100


def test_operations_that_each_differ_in_a_long_list_stay_within_limits(store: Store) -> None:
    specs = [
        spec(d, package_list=[f"{i}-{p}" for p in LONG_PACKAGES], force=True)
        for i, d in enumerate(LONG_DEVICES)
    ]
    request = record(store, specs)
    shown = within_limits(track_blocks.confirmation(request, now=NOW))
    assert "*Parameters (all 50 devices):* force=true" in shown and "*Per operation:*" in shown
    within_limits(track_blocks.status_message(request))


def test_a_status_message_of_fifty_long_errors_names_every_device(store: Store) -> None:
    base = record(store, [spec(d, package_list=LONG_PACKAGES) for d in LONG_DEVICES])
    states = [
        {"state": "rejected", "error": ERROR},
        {"state": "unknown", "error": ERROR},
        {"state": "sent", "api_id": "txn_" + "9" * 60, "status": "failed" * 100, "final": True},
        {"state": "sending"},
    ]
    ops = tuple(replace(op, **states[i % 4]) for i, op in enumerate(base.operations))
    blocks = track_blocks.status_message(replace(base, operations=ops))
    shown = within_limits(blocks)
    assert all(shown.count(f"`{d}`") == 1 for d in LONG_DEVICES)
    assert shown.count("refused: &lt;&amp;&gt;") == 26  # every error, each in part
    assert "…and" not in shown.split("package_list=")[-1].split("]")[-1]  # no line left out
    every_error = replace(base, operations=tuple(replace(o, **states[0]) for o in ops))
    assert within_limits(track_blocks.status_message(every_error)).count("refused") == 50


def test_a_status_message_of_a_hundred_operations_says_how_many_it_left_out(
    store: Store,
) -> None:
    specs = [
        spec(d, "restart_service", service_name=s * 30)
        for s in ("nginx", "apache")
        for d in LONG_DEVICES
    ]
    base = record(store, specs)
    ops = tuple(replace(op, state="rejected", error=ERROR) for op in base.operations)
    shown = within_limits(track_blocks.status_message(replace(base, operations=ops)))
    lines = shown.count("— not scheduled:")
    left = re.search(r"…and (\d+) more\.", shown)
    assert lines + (int(left[1]) if left else 0) == 100


def test_a_list_of_sixty_long_items_shows_or_counts_every_one() -> None:
    items = [
        {
            "id": f"txn_{i:02d}" + "7" * 60,
            "device_name": LONG_DEVICES[i % 50],
            "operation_type": "update" * 20,
            "status": "<failed> & " * 30,
            "scheduled_at": "2026-11-25T10:00:00Z",
        }
        for i in range(60)
    ]
    for device, searched in ((None, None), ("<&>" * 40, 1000)):
        listing = OperationList(items=items, total=200, searched=searched)
        shown = within_limits(lists_blocks.operation_list(listing, device=device))
        listed = sum(f"`txn_{i:02d}" in shown for i in range(60))
        left = re.search(r"…and (\d+) more\.", shown)
        assert listed + (int(left[1]) if left else 0) == 60


def test_the_detail_of_an_enormous_operation_fits() -> None:
    item = {
        "id": "txn_1",
        "device_name": LONG_DEVICES[0],
        "operation_type": "update",
        "status": "failed",
        "scheduled_at": "2026-11-25T10:00:00Z",
        "created_at": "2026-11-25T09:00:00Z",
        "parameters": {
            "package_list": LONG_PACKAGES,
            **{f"k{i}<&>": "v&" * 50 for i in range(300)},
        },
        "error": "&" * 5000,
    }
    shown = within_limits(lists_blocks.operation_detail(item))
    assert "package_list=[p000-" in shown and "Error: &amp;" in shown
    assert re.search(r"…and \d+ more", shown)  # of the 301 parameters


def test_every_answer_stays_within_limits_however_long_its_parts() -> None:
    long = Refused(reason="&" * 5000, example="<" * 5000)
    within_limits(track_blocks.answer(long, now=NOW).message["blocks"])
    within_limits(common_blocks.notice("&lt;" * 2000)["blocks"])


# --- the guard every builder passes through -------------------------------------------------


def actions() -> dict:
    button = {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "action_id": "go"}
    return {"type": "actions", "elements": [button]}


def test_fit_cuts_the_longest_sections_and_never_the_heading_or_the_buttons() -> None:
    heading = common_blocks.section("*Heading* " + "h" * 2900)
    short = common_blocks.section("a short line that matters")
    long = [common_blocks.section("\n".join(f"line {i} " + "z" * 90 for i in range(29)))] * 8
    blocks = common_blocks.fit([heading, short, *long, actions(), common_blocks.context("footer")])
    shown = within_limits(blocks)
    assert blocks[0] == heading and actions() in blocks and short in blocks
    assert common_blocks.context("footer") == blocks[-1]
    assert blocks[blocks.index(actions()) - 1] == common_blocks.context(say.track.CUT_TO_FIT)
    assert "line 28 " in shown  # the longest were cut at a line's end, not dropped wholesale
    assert all(not b["text"]["text"].endswith("z…") for b in blocks if b["type"] == "section")


def test_fit_keeps_at_most_fifty_blocks() -> None:
    blocks = common_blocks.fit(
        [common_blocks.section(f"line {i}") for i in range(80)] + [actions()]
    )
    within_limits(blocks)
    assert blocks[0] == common_blocks.section("line 0") and actions() in blocks
    assert common_blocks.context(say.track.CUT_TO_FIT) in blocks and len(blocks) == 50


def test_fit_leaves_a_message_within_limits_as_it_was() -> None:
    blocks = [common_blocks.section("x" * 2900) for _ in range(3)] + [actions()]
    assert common_blocks.fit(blocks) == blocks


def test_fit_never_leaves_half_an_entity_or_a_section_too_long() -> None:
    oversized = {"type": "section", "text": {"type": "mrkdwn", "text": "&amp;" * 1000}}
    blocks = common_blocks.fit([common_blocks.section("heading"), *[oversized] * 6])
    within_limits(blocks)
    assert common_blocks.context(say.track.CUT_TO_FIT) in blocks


def test_clip_never_splits_an_entity_or_a_token() -> None:
    for value in ("a&amp;b" * 50, "<@U123> <!date^1^{time}|x> " * 20):
        for limit in range(5, 120):
            cut = common_blocks.clip(value, limit)
            assert len(cut) <= limit and cut.endswith("…")
            assert not re.search(r"&(?!amp;)|<[^>]*…$", cut), cut


# --- hundreds of devices (ranges and groups) ----------------------------------------------

FLEET = [f"server-{i:03d}" for i in range(1, 501)]


def test_a_confirmation_of_500_devices_shows_them_as_ranges(store: Store) -> None:
    # 500 names: three runs and two alone
    names = [*FLEET[:200], "lb-01", *FLEET[250:500], "router-01", *FLEET[200:248]]
    request = record(store, [spec(d, package_list=["openssl"]) for d in names], typed="x")
    blocks = track_blocks.confirmation(request, now=NOW)
    shown = within_limits(blocks)
    assert (
        "*update* on 500 devices: `server-001..server-200` (200), `lb-01`, "
        "`server-251..server-500` (250), `router-01`, `server-201..server-248` (48)"
    ) in shown
    assert "…and" not in shown.split("*update* on 500 devices")[1].split("\n")[0]
    assert common_blocks.message_size(blocks) < 6000


def test_a_confirmation_of_500_scattered_devices_stays_within_limits(store: Store) -> None:
    # Nothing to write as a range: every other name, each 63 characters.
    names = [f"d{i:04d}-" + "x" * 57 for i in range(0, 1000, 2)]
    request = record(store, [spec(d, package_list=LONG_PACKAGES) for d in names])
    shown = within_limits(track_blocks.confirmation(request, now=NOW))
    more = re.search(r"…and (\d+) more\.", shown)
    assert more and shown.count("`d0") + int(more[1]) == 500
    (actions,) = [b for b in track_blocks.confirmation(request, now=NOW) if b["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == ["ops_confirm", "ops_cancel"]


def test_two_services_on_500_devices_say_each_difference_with_ranges(store: Store) -> None:
    specs = [
        spec(d, "restart_service", service_name=s, verify_status=True)
        for d in FLEET
        for s in ("nginx", "apache")
    ]
    shown = within_limits(track_blocks.confirmation(record(store, specs, typed="x"), now=NOW))
    assert "`server-001..server-500` (500)" in shown
    assert "*On each device:*\n• service_name=nginx\n• service_name=apache" in shown


def test_the_public_message_of_500_devices_counts_them_and_shows_what_went_wrong_first(
    store: Store,
) -> None:
    base = record(store, [spec(d, package_list=["openssl"]) for d in FLEET], typed="x")
    sent = {"state": "sent", "api_id": "txn_1", "status": "scheduled"}
    failed = {"state": "sent", "api_id": "txn_2", "status": "failed", "final": True}
    ops = tuple(
        replace(
            op,
            **(
                {"state": "rejected", "error": ERROR}
                if i == 400
                else failed
                if i in (300, 450)
                else sent
            ),
        )
        for i, op in enumerate(base.operations)
    )
    blocks = track_blocks.status_message(replace(base, operations=ops))
    shown = within_limits(blocks)
    assert "*500 operations:* 🕒 497 scheduled · ❌ 2 failed · ❌ 1 not scheduled" in shown
    lines = [line for line in shown.split("\n") if "`server-" in line]
    # those that went wrong first, then the first others, 50 in all
    assert [line.split("`")[1] for line in lines[:3]] == ["server-301", "server-401", "server-451"]
    assert lines[3].startswith("🕒 `server-001`")
    assert len(lines) == 50
    assert "…and 450 more." in shown
    assert "2 of 500 finished" in shown
