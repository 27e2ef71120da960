"""`kill -9` at each step of the flow: the bot runs as a real process (`python -m bot run`, HTTP
mode), dies by SIGKILL at a named failpoint, and is started again on the same database.

After the restart every confirmed request is exactly one operation in the API or a clear
message to the requester; every status change is announced once, in order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.zequenze.simulator.endpoint import Simulator
from bot.zequenze.simulator.faults import Fault
from tests.conftest import CHANNEL_GAP, SECRET, eventually
from tests.fakes import FakeSlack
from tests.processes import FAST_SETTINGS, ROOT, BotProcess

# These tests pick free ports for processes that bind them later: in one group, the suite's
# parallel workers never race each other for a port between picking and binding.
pytestmark = pytest.mark.xdist_group("ports")

STEPS = ("is now *running*", "is now *completed*")


def bot_process(
    slack: FakeSlack, simulator: Simulator, db: Path, *, repo: Path = ROOT
) -> BotProcess:
    """`opsbot run` on the SQLite file `db` (its log beside it), on the tests' time scale."""
    return BotProcess(
        folder=db.parent,
        slack_url=slack.base_url,
        api_url=simulator.url,
        api_token=simulator.token,
        secret=SECRET,
        database=db,
        env={**FAST_SETTINGS, "OPSBOT_CHANNEL_GAP": str(CHANNEL_GAP)},
        repo=repo,
    )


@pytest.fixture
def crashable(slack: FakeSlack, simulator: Simulator, tmp_path: Path) -> Iterator[BotProcess]:
    bot = bot_process(slack, simulator, tmp_path / "crash.db")
    yield bot
    bot.close()


def propose(bot: BotProcess, slack: FakeSlack, text: str, key: str) -> str:
    """Sends `/ops TEXT`, returns the request id from the confirmation."""
    bot.command(text, key=key)
    shown = slack.wait_for(
        lambda cs: any(c.method == "response_url" and c.args.get("_key") == key for c in cs),
        timeout=10,
    )
    answer = next(c.args for c in shown if c.method == "response_url" and c.args["_key"] == key)
    return next(
        e["value"]
        for b in answer["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "ops_confirm"
    )


def click(bot: BotProcess, request_id: str, key: str) -> None:
    # A SIGKILL mid-request breaks the connection: what matters is what the bot did before.
    bot.click("ops_confirm", request_id, key=key)


def replies(slack: FakeSlack) -> list[str]:
    return [
        c.args.get("text", "")
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") and c.status == 200
    ]


def said(slack: FakeSlack, key: str) -> list[str]:
    return [
        c.args.get("text", "") for c in slack.calls_to("response_url") if c.args.get("_key") == key
    ]


def assert_finished_once_in_order(slack: FakeSlack) -> list[str]:
    lines = eventually(
        lambda: (r := replies(slack)) and any(STEPS[-1] in x for x in r) and r,
        timeout=20,
        what="the completion to be announced",
    )
    for step in STEPS:
        assert sum(step in line for line in lines) <= 1, lines
    assert sum(STEPS[-1] in line for line in lines) == 1
    return lines


def roots(slack: FakeSlack) -> list[str]:
    return [
        c.response["ts"]
        for c in slack.calls_to("chat.postMessage")
        if not c.args.get("thread_ts") and c.status == 200
    ]


@pytest.mark.parametrize("failpoint", ["after_confirm", "after_root_posted"])
def test_killed_after_the_click_posts_once_and_sends_once(
    crashable: BotProcess, slack: FakeSlack, simulator: Simulator, failpoint: str
) -> None:
    """The click confirmed the request in one transaction; the bot dies before its public
    message went out, or after it went out but before its id was kept. After the restart
    there is one public message (found by its tag, not posted again) and one operation."""
    simulator.run_seconds = 1.0
    crashable.start(failpoint=failpoint)
    click(crashable, propose(crashable, slack, "reboot server-01 now", "cmd"), "click")
    crashable.died()
    assert simulator.operations() == []
    if failpoint == "after_root_posted":
        assert len(roots(slack)) == 1

    crashable.start()
    eventually(lambda: len(simulator.operations()) == 1, what="the operation")
    lines = assert_finished_once_in_order(slack)
    assert len(roots(slack)) == 1, "the public message was posted twice"
    (root,) = roots(slack)
    assert all(
        c.args.get("thread_ts") == root
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts")
    ), lines
    assert simulator.post_count == 1
    crashable.stop()


def test_killed_after_the_post_adopts_what_the_api_created(
    crashable: BotProcess, slack: FakeSlack, simulator: Simulator
) -> None:
    simulator.run_seconds = 1.0
    crashable.start(failpoint="after_post")
    click(crashable, propose(crashable, slack, "restart nginx on server-02 now", "cmd"), "click")
    crashable.died()

    crashable.start()
    lines = assert_finished_once_in_order(slack)
    assert len(simulator.operations()) == 1
    assert any("the API did create it" in line for line in lines), lines
    crashable.stop()


def test_killed_before_the_post_asks_the_requester_rather_than_guess(
    crashable: BotProcess, slack: FakeSlack, simulator: Simulator
) -> None:
    """Claimed but not sent when the bot died: it cannot know that, so the list is read, and
    the requester is asked; only their Send again sends it."""
    simulator.run_seconds = 1.0
    crashable.start(failpoint="before_post")
    click(crashable, propose(crashable, slack, "restart nginx on server-02 now", "cmd"), "click")
    crashable.died()

    crashable.start()
    question = asked(slack)
    assert simulator.operations() == []
    send_again(crashable, question)
    assert_finished_once_in_order(slack)
    assert simulator.post_count == 1
    crashable.stop()


def asked(slack: FakeSlack) -> dict:
    """The question to the requester about an unknown outcome, once it is in the thread."""
    calls = slack.wait_for(
        lambda cs: any(
            b.get("block_id") == "ops_unknown"
            for c in cs
            if c.method == "chat.postMessage"
            for b in c.args.get("blocks") or []
        ),
        timeout=20,
    )
    return next(
        c.args
        for c in calls
        if any(b.get("block_id") == "ops_unknown" for b in c.args.get("blocks") or [])
    )


def send_again(crashable: BotProcess, question: dict) -> None:
    (button,) = [
        e
        for b in question["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "ops_send_again"
    ]
    crashable.click("ops_send_again", button["value"], key="answer")


def test_killed_right_after_a_send_again_reached_the_api_sends_nothing_more(
    crashable: BotProcess, slack: FakeSlack, simulator: Simulator
) -> None:
    """The first create call fails (502: nothing made); the requester says Send again; the bot
    dies right after the API created it, before keeping its answer. After the restart the
    list shows it: adopted, and no third call."""
    simulator.run_seconds = 1.0
    simulator.faults.add(Fault(method="POST", kind="status", status=502))
    crashable.start(failpoint="after_post")
    click(crashable, propose(crashable, slack, "reboot server-05 now", "cmd"), "click")
    send_again(crashable, asked(slack))
    crashable.died()
    assert len(simulator.operations()) == 1

    crashable.start()
    lines = assert_finished_once_in_order(slack)
    assert any("the API did create it" in line for line in lines), lines
    assert simulator.post_count == 1
    crashable.stop()


def test_killed_between_a_status_change_and_its_message_announces_it_once(
    crashable: BotProcess, slack: FakeSlack, simulator: Simulator
) -> None:
    simulator.run_seconds = 1.5
    crashable.start(failpoint="after_status_recorded")
    click(crashable, propose(crashable, slack, "reboot server-03 now", "cmd"), "click")
    crashable.died()  # at the first status change the poller recorded

    crashable.start()
    lines = assert_finished_once_in_order(slack)
    assert len(simulator.operations()) == 1
    assert sum("scheduled as" in line for line in lines) == 1
    output = crashable.stop()
    assert "opsbot stopped" in output


def test_sigterm_finishes_in_flight_work_and_flushes_before_exiting(
    crashable: BotProcess, slack: FakeSlack, simulator: Simulator
) -> None:
    crashable.start()
    simulator.faults.add(Fault(method="POST", kind="latency", seconds=1.5))
    click(crashable, propose(crashable, slack, "reboot server-04 in 1 hour", "cmd"), "click")
    eventually(
        lambda: any(method == "POST" for method, _ in simulator.requests),
        what="the create call to be in flight",
    )
    output = crashable.stop()  # SIGTERM while the API is still answering
    assert crashable.process is not None and crashable.process.returncode == 0, output
    assert "opsbot stopped" in output
    assert len(simulator.operations()) == 1
    assert any("scheduled as" in line for line in replies(slack))  # flushed on the way out
    db = sqlite3.connect(crashable.database)
    assert db.execute("SELECT state FROM operations").fetchall() == [("submitted",)]
    assert db.execute("SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone() == (0,)
