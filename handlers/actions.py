"""The buttons (Confirm and Cancel; Send again and Drop; Approve and Reject; Continue and Stop
after a failed wave; Move and Drop for what waits outside its window) and the modal's
operation-type select."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import say
from bot.answers import Outcome, Proposed, Refused
from bot.say import common_blocks, modal_blocks, track_blocks
from bot.understand.typed import whole_number
from handlers.context import Deps, form_metadata
from store import LARGEST_ID

log = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    service = deps.service
    _on_click(app, deps, common_blocks.ACTION_CONFIRM, service.confirm, _confirmed)
    _on_click(
        app, deps, common_blocks.ACTION_CANCEL, service.cancel, lambda _, __: say.track.CANCELLED
    )
    _on_click(
        app,
        deps,
        common_blocks.ACTION_SEND_AGAIN,
        lambda value, *, user: service.send_again(_operation_id(value), user=user),
        lambda who, _: say.recovery.sent_again_answer(who),
    )
    _on_click(
        app,
        deps,
        common_blocks.ACTION_DROP,
        lambda value, *, user: service.drop(_operation_id(value), user=user),
        lambda who, _: say.recovery.dropped_answer(who),
    )

    approvals = service.approvals
    public = functools.partial(_on_click, public=True)
    public(app, deps, common_blocks.ACTION_APPROVE, approvals.approve, _voted(approve=True))
    public(app, deps, common_blocks.ACTION_REJECT, approvals.reject, _voted(approve=False))
    public(
        app,
        deps,
        common_blocks.ACTION_CONTINUE,
        service.halts.go_on,
        lambda *_: say.waves.CONTINUE_ANSWER,
    )
    public(
        app, deps, common_blocks.ACTION_STOP, service.halts.stop, lambda *_: say.waves.STOP_ANSWER
    )
    outside = service.outside
    public(
        app,
        deps,
        common_blocks.ACTION_MOVE_OUTSIDE,
        outside.move,
        lambda *_: say.policy.MOVED_ANSWER,
    )
    public(
        app,
        deps,
        common_blocks.ACTION_DROP_OUTSIDE,
        outside.drop,
        lambda *_: say.policy.DROPPED_ANSWER,
    )

    @app.action(common_blocks.ACTION_MOVE_TO_WINDOW)
    def move(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user = (body.get("user") or {}).get("id", "")

        def work() -> None:
            outcome = service.move_to_window(_value(action), user=user)
            if outcome.ok and outcome.request is not None:
                reply = track_blocks.answer(Proposed(request=outcome.request), now=service.clock())
                respond(replace_original=True, **reply.message)
            else:
                _refuse(
                    lambda m: respond(replace_original=False, response_type="ephemeral", **m),
                    outcome.reason,
                    outcome.request,
                    outcome.detail,
                )

        deps.later(lambda m: respond(replace_original=False, response_type="ephemeral", **m), work)

    @app.action(common_blocks.ACTION_MODAL_TYPE)
    def change_type(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        ack()
        option = action.get("selected_option")
        view = body.get("view")
        user = (body.get("user") or {}).get("id", "")

        def work() -> None:
            # Whatever the payload holds or Slack answers, it ends here, logged; the modal
            # keeps its fields and its submit is checked.
            kinds = deps.service.desk.kinds_for(user, channel=None)
            offered = () if isinstance(kinds, Refused) else kinds
            wanted = str(option.get("value", "")) if isinstance(option, dict) else ""
            kind = next((k for k in offered if k.operation_type == wanted), None)
            has_id = isinstance(view, dict) and bool(view.get("id"))
            metadata = form_metadata(view.get("private_metadata")) if has_id else None
            if kind is None or metadata is None:
                log.warning("type change ignored: no known type, or no view the bot opened")
                return
            try:
                client.views_update(
                    view_id=view["id"],
                    hash=view.get("hash"),
                    view=modal_blocks.request_modal(offered, kind=kind, metadata=metadata),
                )
            except SlackApiError as exc:
                # hash_conflict: the person changed the modal again, and the newer change wins.
                log.warning("modal not updated for a type change: %s", exc.response.get("error"))

        deps.later(lambda _: log.warning("modal not updated for a type change"), work)


def register_fallback(app: App, deps: Deps) -> None:
    """Registered last: a click on anything the bot does not know (an old message, a forged
    payload) is acknowledged and answered privately, never a 404 and a Slack error icon."""

    @app.action(re.compile(".*"))
    def unknown_action(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        if body.get("response_url"):
            deps.later(
                lambda _: log.warning("could not answer a click on an unknown action"),
                lambda: respond(
                    replace_original=False,
                    response_type="ephemeral",
                    text=say.recovery.UNKNOWN_ACTION,
                ),
            )


def _on_click(
    app: App,
    deps: Deps,
    action_id: str,
    act: Callable[..., Outcome],
    said: Callable[[str, Outcome], str],
    *,
    public: bool = False,
) -> None:
    """A button whose click changes the store: `act(value, user=…)` gives the outcome, and a
    click it refused is answered privately with the reason. On the requester's own message
    (Confirm, Cancel, Send again, Drop), a click that did what it says replaces the message with
    `said(<@clicker>, outcome)`. A `public` button, on the public message or its thread
    (Approve, Reject, Continue, Stop, Move, Drop), anyone may click and the act decides who may;
    the answer, `said(clicker, outcome)`, is private, and the public message and thread follow
    from the store through the outbox."""

    @app.action(action_id)
    def clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user = (body.get("user") or {}).get("id", "")
        private = _private(deps, body, respond, user)

        def work() -> None:
            outcome = act(_value(action), user=user)
            if not outcome.ok:
                _refuse(private, outcome.reason, outcome.request, outcome.detail)
            elif public:
                private({"text": said(user, outcome)})
                if not _in_home(body):
                    deps.home.changed(user)
            elif _in_home(body):
                private({"text": said(f"<@{user}>", outcome)})
            else:
                respond(replace_original=True, text=said(f"<@{user}>", outcome))
                deps.home.changed(user)

        deps.later(private, work)


def _voted(*, approve: bool) -> Callable[[str, Outcome], str]:
    def said(user: str, outcome: Outcome) -> str:
        withdrawn = outcome.request is not None and outcome.request.requester == user
        return say.track.vote_answer(approve=approve, withdrawn=withdrawn)

    return said


def _confirmed(_: str, outcome: Outcome) -> str:
    request = outcome.request
    if request is not None and request.state == "approving":
        return say.track.confirmed_awaiting(request.approvals_needed)
    return say.track.CONFIRMED


def _operation_id(value: str) -> int:
    """The button's value: the operation asked about; anything else names none (-1), a number
    no SQLite row id can be (a forged 20-digit one) too."""
    number = whole_number(value, at_most=LARGEST_ID)
    return -1 if number is None else number


def _value(action: dict[str, Any]) -> str:
    """The button's value as the bot wrote it: ids and numbers, in ASCII. Any other value is
    forged and names nothing (""): none reaches the store (SQLite cannot even hold a lone
    surrogate, which JSON can carry)."""
    value = action.get("value")
    return value if isinstance(value, str) and value.isascii() else ""


def _in_home(body: dict[str, Any]) -> bool:
    """A click in the person's Home tab: no message, no response_url to answer on."""
    view = body.get("view")
    return isinstance(view, dict) and view.get("type") == "home"


def _private(
    deps: Deps, body: dict[str, Any], respond: Respond, user: str
) -> Callable[[dict[str, Any]], None]:
    """How the clicker is answered: privately in the channel (the response_url), or, for a
    click in the Home tab, by publishing the Home again with the answer on top (it shows
    what the click changed, and a Home view has no response_url)."""
    if _in_home(body):
        return lambda message: deps.home.publish(user, notice=message.get("text"))
    return lambda message: respond(replace_original=False, response_type="ephemeral", **message)


def _refuse(
    private: Callable[[dict[str, Any]], None], reason: str, request: Any, detail: str
) -> None:
    requester = f"<@{request.requester}>" if request is not None else "the requester"
    private({"text": say.track.click_refusal(reason, requester=requester, detail=detail)})
