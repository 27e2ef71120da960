"""Socket Mode end to end: apps.connections.open answered by the fake Slack, envelopes over a
local websocket, the same handlers, the API simulator, and the thread updates."""

from __future__ import annotations

from pathlib import Path

from bot.run.runtime import Runtime
from bot.slack.app import build_app, socket_mode
from bot.slack.notifier import SlackNotifier, web_client
from bot.zequenze.simulator.endpoint import Simulator
from tests.conftest import SECRET, eventually
from tests.fakes import (
    APP_TOKEN,
    BOT_TOKEN,
    FakeSlack,
    FakeSocketMode,
    block_actions_payload,
    slash_command_payload,
)


def test_command_confirm_and_thread_updates_over_socket_mode(
    slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    client = web_client(token=BOT_TOKEN, base_url=slack.api_url)
    runtime = Runtime(
        database=str(tmp_path / "sm.db"),
        api_url=simulator.url,
        api_token=simulator.token,
        poll_interval=0.1,
        notifier=SlackNotifier(client=client),
    ).start()
    app = build_app(
        client=client, signing_secret=SECRET, service=runtime.service, pacer=runtime.pacer
    )
    with FakeSocketMode() as sm:
        slack.socket_mode_url = sm.url
        handler = socket_mode(app=app, app_token=APP_TOKEN)
        try:
            handler.connect()
            sm.wait_connected()
            opened = slack.calls_to("apps.connections.open")[0]
            assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"

            envelope = sm.send_envelope(
                type="slash_commands",
                payload=slash_command_payload(
                    text="restart nginx on server-03 now", response_url=slack.response_url("sm")
                ),
            )
            assert sm.wait_ack(envelope)["envelope_id"] == envelope
            shown = slack.wait_for(lambda cs: any(c.method == "response_url" for c in cs))[-1]
            button = next(
                e
                for b in shown.args["blocks"]
                if b["type"] == "actions"
                for e in b["elements"]
                if e["action_id"] == "ops_confirm"
            )

            click = sm.send_envelope(
                type="interactive",
                payload=block_actions_payload(
                    action_id="ops_confirm",
                    value=button["value"],
                    response_url=slack.response_url("sm-click"),
                ),
            )
            sm.wait_ack(click)
            root = eventually(
                lambda: [
                    c for c in slack.calls_to("chat.postMessage") if not c.args.get("thread_ts")
                ],
                what="the status message",
            )[0]
            eventually(
                lambda: any(
                    "completed" in c.args.get("text", "")
                    for c in slack.calls_to("chat.postMessage")
                    if c.args.get("thread_ts") == root.response["ts"]
                ),
                what="completion in the thread",
            )
            (op,) = simulator.operations()
            assert op["device_name"] == "server-03"
        finally:
            # Server first: the built-in client's close() otherwise waits out a 3 s recv timeout.
            sm.stop()
            handler.close()
            runtime.stop()
