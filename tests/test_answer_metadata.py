"""A public answer refused by Slack for its metadata alone is posted again with the ids only,
as the outbox's posts are (bot/slack/notifier.py `_with_metadata`): the channel is still told
(a freeze, say), never left with the asker's private copy. A slash command's answer for the
channel, refused at its response_url for another reason, is posted in the channel instead and
logged, never dropped (Bolt's respond() does not raise for a refusal)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.slack.notifier import ChannelPoster, web_client
from bot.track.pacing import ChannelPacer
from tests.conftest import Bot, eventually
from tests.fakes import BOT_TOKEN, FakeSlack
from tests.test_policy_flow import FREEZES

pytestmark = pytest.mark.xdist_group("ports")

CHANNEL = "C0001"
FREEZE = {"event_type": "opsbot_freeze_started", "event_payload": {"freeze_id": 4, "x": "y"}}


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(post_rate=None, update_rate=None) as slack:
        yield slack


def test_an_answer_refused_for_its_metadata_goes_to_the_channel_with_its_ids(
    fake: FakeSlack,
) -> None:
    poster = ChannelPoster(
        client=web_client(token=BOT_TOKEN, base_url=fake.api_url), pacer=ChannelPacer(gap=0)
    )
    fake.fail("chat.postMessage", error="metadata_too_large")
    poster.post(
        channel=CHANNEL, thread_ts=None, user="U1", message={"text": "froze", "metadata": FREEZE}
    )
    first, second = fake.calls_to("chat.postMessage")
    assert first.response["error"] == "metadata_too_large"
    assert second.response["ok"] and second.args["text"] == "froze"
    assert second.args["metadata"]["event_payload"] == {"freeze_id": 4, "truncated": True}
    assert fake.calls_to("chat.postEphemeral") == []


def freeze(bot: Bot, slack: FakeSlack) -> None:
    slack.set_group("S0LEADS", ["U789"])
    bot.command("freeze server-* for 1h release night", user="U789", channel=CHANNEL)


def test_a_freeze_refused_at_its_response_url_for_its_metadata_goes_with_its_ids(
    policy_bot: Any, slack: FakeSlack
) -> None:
    bot = policy_bot(FREEZES)
    slack.fail("response_url", status=400, error="invalid_metadata_schema")
    freeze(bot, slack)
    eventually(lambda: len(slack.calls_to("response_url")) >= 2, what="the announcement sent again")
    refused, told = slack.calls_to("response_url")
    assert refused.status == 400
    assert told.status == 200 and told.args["response_type"] == "in_channel"
    assert "froze `server-*`" in told.args["text"]
    assert told.args["metadata"]["event_payload"]["truncated"] is True
    assert slack.calls_to("chat.postMessage") == []


def test_a_freeze_refused_at_its_response_url_otherwise_is_posted_in_the_channel(
    policy_bot: Any, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    bot = policy_bot(FREEZES)
    slack.fail("response_url", status=404, error="used_url")
    freeze(bot, slack)
    (posted,) = eventually(
        lambda: slack.calls_to("chat.postMessage"), what="the freeze posted in the channel"
    )
    assert posted.args["channel"] == CHANNEL and "froze `server-*`" in posted.args["text"]
    assert posted.args["metadata"]["event_type"] == "opsbot_freeze_started"
    assert "refused at its response_url (used_url)" in caplog.text
