"""Reading the API's list costs a few GETs whatever its history: 100,000 operations in the
simulator, listed newest first (as the doc's example) or oldest first (as a default DRF
queryset), read over HTTP by the client and by the bot's `/ops list`."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.models.blocks import Block

from bot.answers import Listed, OperationList
from bot.model import OperationSpec
from bot.say import track_blocks
from bot.track.tuning import Tuning
from bot.zequenze.api import ZequenzeClient
from bot.zequenze.simulator.endpoint import DEFAULT_INVENTORY, Simulator
from bot.zequenze.simulator.faults import Fault
from tests.conftest import Bot, eventually, start_bot, stop_bot
from tests.fakes import FakeSlack
from tests.test_flow import all_text, request_and_confirm, thread_replies

HISTORY = 100_000
ORDERS = ["newest_first", "oldest_first"]
T0 = datetime(2024, 1, 15, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 10, 45, tzinfo=UTC)
# db-03 appears only here, counted from the newest: three within the newest 1,000, one beyond.
RARE = "db-03"
RARE_AT = (97, 498, 899, 4_999)


def history_devices() -> list[str]:
    """The device of each seeded operation, oldest first."""
    others = sorted(set(DEFAULT_INVENTORY) - {RARE})
    names = [others[n % len(others)] for n in range(HISTORY)]
    for newest_first in RARE_AT:
        names[HISTORY - 1 - newest_first] = RARE
    return names


def list_gets(simulator: Simulator, since: int = 0) -> int:
    """List GETs the simulator answered after its `since`-th request (reads of one id aside)."""
    return sum(
        method == "GET" and "id=" not in target for method, target in simulator.requests[since:]
    )


def spec(device: str = "server-02") -> OperationSpec:
    return OperationSpec(
        device_name=device,
        operation_type="reboot",
        scheduled_at=datetime(2030, 1, 1, tzinfo=UTC),
        parameters={"force": False, "timeout": 300},
    )


@pytest.fixture(scope="module", params=ORDERS)
def seeded(request: pytest.FixtureRequest) -> Iterator[tuple[Simulator, list[str], list[str]]]:
    """A simulator holding 100,000 past operations, one a second up to a second ago; their ids
    and devices, oldest first. Shared by the tests that only read."""
    devices = history_devices()
    with Simulator(run_seconds=0.4, seed=7, order=request.param) as simulator:
        ids = simulator.seed(HISTORY, device_names=devices)
        yield simulator, ids, devices


@pytest.fixture
def client(seeded: tuple[Simulator, list[str], list[str]]) -> Iterator[ZequenzeClient]:
    simulator = seeded[0]
    api = ZequenzeClient(base_url=simulator.url, token=simulator.token, retries=0)
    yield api
    api.close()


def created_at(simulator: Simulator, operation_id: str) -> datetime:
    with httpx.Client(headers={"Authorization": f"Bearer {simulator.token}"}) as http:
        page = http.get(
            f"{simulator.url}/inventory_device_name_headless_operation/",
            params={"id": operation_id},
        ).json()
    return datetime.fromisoformat(page["results"][0]["created_at"].replace("Z", "+00:00"))


# --- the client, over HTTP ----------------------------------------------------------------


def test_a_read_since_a_recent_moment_costs_a_few_gets(
    seeded: tuple[Simulator, list[str], list[str]], client: ZequenzeClient
) -> None:
    simulator, ids, _ = seeded
    since = created_at(simulator, ids[-150])  # the 150 newest were created at or after it
    before = len(simulator.requests)
    recent = client.recent_operations(since=since)
    assert [item["id"] for item in recent.items] == ids[-150:][::-1]
    assert recent.complete and recent.total >= HISTORY
    # Newest first: pages at 0 and 100. Oldest first: the oldest page, then two from the end.
    assert recent.requests == list_gets(simulator, before) <= 3


@pytest.mark.parametrize("order", ORDERS)
def test_operations_created_while_reading_are_read_once_each(order: str) -> None:
    with Simulator(order=order) as simulator:  # type: ignore[arg-type]
        ids = simulator.seed(HISTORY)
        read_while_creating(simulator, ids)


def read_while_creating(simulator: Simulator, ids: list[str]) -> None:
    since = created_at(simulator, ids[-250])
    writer = ZequenzeClient(base_url=simulator.url, token=simulator.token, retries=0)
    created: list[str] = []

    class CreateBetweenPages(httpx.HTTPTransport):
        """After each of the first GETs, three operations are created, as by other people."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.method == "GET" and len(created) < 9:
                created.extend(writer.create_operation(spec())["id"] for _ in range(3))
            return response

    reader = ZequenzeClient(
        base_url=simulator.url, token=simulator.token, retries=0, transport=CreateBetweenPages()
    )
    before = len(simulator.requests)
    try:
        recent = reader.recent_operations(since=since)
    finally:
        reader.close()
        writer.close()
    got = [item["id"] for item in recent.items]
    assert len(created) == 9
    assert got == [*reversed(created), *ids[-250:][::-1]]  # every one, once, newest first
    assert recent.complete
    assert recent.requests == list_gets(simulator, before) <= 6


# --- `/ops list` through the bot ----------------------------------------------------------


@pytest.fixture
def bot(
    seeded: tuple[Simulator, list[str], list[str]], slack: FakeSlack, tmp_path: Path
) -> Iterator[Bot]:
    running = start_bot(slack=slack, simulator=seeded[0], database=tmp_path / "list.db")
    yield running
    stop_bot(running)


def ask(bot: Bot, typed: str) -> tuple[str, int]:
    """The answer's text, and how many list GETs it cost."""
    before = len(bot.simulator.requests)
    answer = all_text(bot.wait_response(bot.command(typed)))
    return answer, list_gets(bot.simulator, before)


def shown_ids(answer: str) -> list[str]:
    return [word.strip("`") for word in answer.split() if word.startswith("`txn_")]


def test_ops_list_shows_the_newest_20_and_the_way_to_more_in_a_few_gets(
    seeded: tuple[Simulator, list[str], list[str]], bot: Bot
) -> None:
    _, ids, devices = seeded
    newest = ids[::-1]
    answer, gets = ask(bot, "list")
    assert "*The newest 20 of 100,000 operations*" in answer
    assert shown_ids(answer) == newest[:20]
    assert "`/ops list page 2` shows the next 20 (5,000 pages in all)." in answer
    assert gets <= 2

    answer, gets = ask(bot, "list page 2")
    assert "*Operations 21–40 of 100,000*, newest first" in answer
    assert shown_ids(answer) == newest[20:40]
    assert gets <= 2

    answer, gets = ask(bot, "list page 5000")
    assert "*Operations 99,981–100,000 of 100,000*" in answer
    assert shown_ids(answer) == newest[-20:]
    assert "page 5,001" not in answer and gets <= 2

    answer, gets = ask(bot, "list page 5001")
    assert "There is no page 5,001: the 100,000 operations make 5,000 pages of 20." in answer
    assert gets <= 2

    # A device's newest 20, searched for from the newest end, its name compared ignoring case.
    for typed in ("list server-01", "list SERVER-01"):
        answer, gets = ask(bot, typed)
        positions = [n for n, name in enumerate(devices[::-1]) if name == "server-01"][:20]
        assert shown_ids(answer) == [newest[n] for n in positions]
        searched = positions[-1] + 1
        # Named as the API spells it, whatever the case typed.
        assert f"*The newest 20 for `server-01`*, found among the newest {searched}" in answer
        first_page = 0 if seeded[0].order == "newest_first" else 1
        assert gets == math.ceil(searched / 100) + first_page

    answer, gets = ask(bot, f"list {RARE}")
    assert f"*3 for `{RARE}` among the newest 1,000 of 100,000 operations*" in answer
    assert shown_ids(answer) == [newest[n] for n in RARE_AT[:3]]
    assert gets <= 11  # ten pages of 100, and the oldest page when the list starts there

    answer, gets = ask(bot, "list router-99")
    assert "No operations for `router-99` among the newest 1,000 of 100,000 operations." in answer
    assert gets <= 11


@pytest.mark.parametrize("order", ORDERS)
def test_an_unknown_outcome_at_100000_operations_is_found_in_a_few_gets(
    order: str, slack: FakeSlack, tmp_path: Path
) -> None:
    with Simulator(run_seconds=0.4, seed=7, order=order) as simulator:  # type: ignore[arg-type]
        simulator.seed(HISTORY)  # the newest 300 created within the last 5 minutes
        simulator.faults.add(Fault(method="POST", kind="status_after_work", status=500))
        bot = start_bot(slack=slack, simulator=simulator, database=tmp_path / "r.db")
        try:
            _, root = request_and_confirm(bot, "reboot server-01 now")
            # A new bot learns the usual device names from the newest page, once; the
            # pre-flight looks at the newest 500 (6 pages when the list starts at the oldest).
            assert list_gets(simulator) <= 2 + 6
            sent = len(simulator.requests)
            eventually(
                lambda: any("did create it" in r for r in thread_replies(bot, root)),
                what="the operation to be adopted",
            )
            assert simulator.post_count == 1
            # Since the confirmation, less 5 minutes for the API's clock: about 300 operations.
            assert list_gets(simulator, since=sent) <= 5
        finally:
            stop_bot(bot)


def test_a_list_too_busy_to_read_back_to_the_confirmation_never_causes_a_second_send(
    slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """20 operations a second: the 5 minutes before the confirmation hold 6,000, more than the
    20 pages a reconcile reads. Not having seen the operation then proves nothing."""
    with Simulator(run_seconds=0.4, seed=7) as simulator:
        # 10,000 is enough: the newest 6,000 fall within the 5 minutes before the confirmation.
        simulator.seed(HISTORY // 10, spacing=timedelta(milliseconds=50))
        simulator.faults.add(Fault(method="POST", kind="status", status=502))
        tuning = Tuning(
            reconcile_delay=timedelta(seconds=0.3),
            send_backoff=0.1,
            list_backoff=0.2,
            list_max_backoff=0.2,
            look_every=0.2,
        )
        bot = start_bot(
            slack=slack, simulator=simulator, database=tmp_path / "busy.db", tuning=tuning
        )
        caplog.set_level(logging.INFO, logger="bot.track.reconcile")
        try:
            request_and_confirm(bot, "reboot server-01 now")
            eventually(
                lambda: caplog.text.count("could not be read whole") >= 2,
                timeout=30,  # each look is 20 GETs into a long list: slow on a loaded machine
                what="two looks, each saying it could not read back far enough",
            )
            assert simulator.post_count == 0  # the 502 came before the API did anything
            assert [m for m, _ in simulator.requests].count("POST") == 1
        finally:
            stop_bot(bot)


# --- the message ------------------------------------------------------------------------


def item(n: int, device: str = "server-01") -> dict[str, Any]:
    return {
        "id": f"txn_{n}",
        "device_name": device,
        "operation_type": "reboot",
        "status": "completed",
        "scheduled_at": "2026-11-25T10:00:00Z",
        "created_at": "2026-11-25T09:00:00Z",
    }


def rendered(listing: OperationList, device: str | None = None) -> str:
    reply = track_blocks.answer(Listed(listing=listing, device=device), now=NOW)
    for block in reply.message["blocks"]:
        Block.parse(block).validate_json()
    assert reply.public
    return all_text(reply.message)


@pytest.mark.parametrize(
    ("listing", "device", "said", "unsaid"),
    [
        pytest.param(
            OperationList(items=[item(3), item(2), item(1)], total=3),
            None,
            ["*3 operations*, newest first:"],
            ["page 2"],
            id="all of a short list",
        ),
        pytest.param(
            OperationList(items=[item(n) for n in range(20)], total=21),
            None,
            [
                "*The newest 20 of 21 operations*:",
                "`/ops list page 2` shows the next 1 (2 pages in all).",
            ],
            [],
            id="the newest of a longer list",
        ),
        pytest.param(
            OperationList(items=[item(n) for n in range(20)], total=100_000, page=3),
            None,
            ["*Operations 41–60 of 100,000*", "`/ops list page 4` shows the next 20"],
            [],
            id="a page further down",
        ),
        pytest.param(
            OperationList(items=[], total=100, page=6),
            None,
            [
                "There is no page 6: the 100 operations make 5 pages of 20. "
                "`/ops list page 5` shows the oldest."
            ],
            [],
            id="past the end",
        ),
        pytest.param(
            OperationList(),
            None,
            ["No scheduled operations."],
            ["page"],
            id="nothing at all",
        ),
        pytest.param(
            OperationList(items=[item(2), item(1)], total=40),
            "server-01",
            ["*2 operations for `server-01`*, newest first:"],
            ["among"],
            id="a device, the whole list searched",
        ),
        pytest.param(
            OperationList(items=[item(2), item(1)], total=100_000, searched=1000),
            "server-01",
            ["*2 for `server-01` among the newest 1,000 of 100,000 operations*"],
            ["page"],
            id="a device, the newest 1,000 searched",
        ),
        pytest.param(
            OperationList(items=[item(n) for n in range(20)], total=100_000, searched=680),
            "server-01",
            ["*The newest 20 for `server-01`*, found among the newest 680 of 100,000 operations"],
            ["page"],
            id="a device, 20 found",
        ),
        pytest.param(
            OperationList(total=100_000, searched=1000),
            "<!channel>",
            ["No operations for `&lt;!channel&gt;` among the newest 1,000 of 100,000 operations."],
            ["<!channel>"],
            id="a device, none found, escaped",
        ),
    ],
)
def test_the_list_says_what_it_shows_and_how_to_see_more(
    listing: OperationList, device: str | None, said: list[str], unsaid: list[str]
) -> None:
    text = rendered(listing, device)
    for words in said:
        assert words in text
    for words in unsaid:
        assert words not in text
