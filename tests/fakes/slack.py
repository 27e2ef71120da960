"""A fake Slack Web API server over real HTTP on 127.0.0.1.

Point a real client at it with ``WebClient(token=..., base_url=fake.api_url)``.
Every request is recorded as a :class:`Call`; faults can be injected per method.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

TEAM_ID = "T0001"
TEAM_DOMAIN = "fake-workspace"
APP_ID = "A0OPSBOT"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
PERMALINK_BASE = "https://fake.slack.test"

# Form-encoded clients send these as JSON strings; tests want to assert on the structure.
_JSON_ARGS = ("blocks", "attachments", "view", "metadata")
# Slack's own ceilings (chat.postMessage docs); the fake answers like Slack when they are crossed.
_MAX_TEXT = 40_000
_MAX_MESSAGE_BLOCKS = 50
# Not documented: Slack answers msg_blocks_too_long once a message's blocks hold more than about
# 13,000 characters of text in all, each block being within its own limits (bolt-js #2509; see
# shared/field-notes.md).
_MAX_BLOCKS_TEXT = 13_000
# Message metadata (docs.slack.dev/messaging/message-metadata, and chat.postMessage's errors):
# a JSON object (or its JSON text) with a string event_type and an object event_payload. Not an
# object: invalid_metadata_format; either field missing or of another type:
# invalid_metadata_schema. An event type of other characters than letters, digits, _ and -
# "returns an invalid_metadata_schema warning and is ignored": the message is posted without
# it. metadata_too_large is documented without a number: the fake's is a guess, 4,000
# characters of the metadata as JSON, the bound the bot keeps to (bot/slack/metadata.py).
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_-]+")
_MAX_METADATA = 4_000

# chat.postMessage "generally allows posting one message per second per channel, while also
# maintaining a workspace-wide limit"; "short bursts >1 allowed" (docs.slack.dev/apis/web-api/
# rate-limits). Over it Slack answers HTTP 429 with "a Retry-After header containing the number of
# seconds until you can retry" and {"ok": false, "error": "ratelimited"}. The burst size is not
# published: 3 is our reading of "short bursts". The workspace-wide limit is not modelled.
SLACK_POST_RATE = 1.0
SLACK_POST_BURST = 3
# chat.update is Tier 3: "50+ per minute" for the workspace (Slack's rate-limit docs), with
# bursts tolerated but not sized; the fake takes 50 a minute with a burst of 10.
SLACK_UPDATE_RATE = 50 / 60
SLACK_UPDATE_BURST = 10
# A response_url takes up to 5 posts within 30 minutes (Slack's guide "Handling user interaction",
# docs.slack.dev/interactivity/handling-user-interaction). What Slack answers beyond that is not
# documented.
SLACK_RESPONSE_URL_USES = 5
SLACK_RESPONSE_URL_LIFETIME = 30 * 60.0

DEFAULT_USERS: dict[str, dict[str, Any]] = {
    "U123": {"name": "alice", "tz": "America/Los_Angeles"},
}

Payload = dict[str, Any] | str


@dataclass
class Call:
    """One request the fake received, in arrival order."""

    method: str  # Web API method ("chat.postMessage") or "response_url"
    args: dict[str, Any]  # query + body merged; JSON-string args (blocks, view, ...) decoded
    headers: dict[str, str]  # header names lower-cased
    at: float  # time.monotonic() on arrival
    status: int = 200  # HTTP status the fake answered
    response: Payload = field(default_factory=dict)  # what the fake answered


@dataclass
class _Fault:
    method: str
    error: str | None
    status: int
    retry_after: int | None
    times: int | None
    channel: str | None
    after_store: bool = False
    delay: float = 0.0

    @property
    def refuses(self) -> bool:
        """False for a fault that only delays the real answer."""
        return self.error is not None or self.status != 200


@dataclass
class _Group:
    users: list[str]
    disabled: bool = False


@dataclass
class _Bucket:
    """A channel's token bucket: `tokens` posts may go now; it refills at the post rate."""

    tokens: float
    at: float


@dataclass
class _ResponseUrl:
    uses: int
    first_at: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's listen backlog is 5: a burst of response_url answers (each a new
    # connection) overflowed it and waited for the kernel's SYN retry, a second; Slack does not.
    request_queue_size = 128
    fake: FakeSlack

    def verify_request(self, request: Any, client_address: Any) -> bool:
        # Returning False makes socketserver close the socket unanswered: "Slack is unreachable".
        return not self.fake.down


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self.server.fake._handle(self)

    def do_GET(self) -> None:
        self.server.fake._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeSlack:
    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        users: dict[str, dict[str, Any]] | None = None,
        team_id: str = TEAM_ID,
        bot_user_id: str = BOT_USER_ID,
        bot_id: str = BOT_ID,
        validate_blocks: bool = True,
        post_rate: float | None = SLACK_POST_RATE,
        post_burst: int = SLACK_POST_BURST,
        update_rate: float | None = SLACK_UPDATE_RATE,
        update_burst: int = SLACK_UPDATE_BURST,
        response_url_uses: int | None = SLACK_RESPONSE_URL_USES,
        response_url_lifetime: float | None = SLACK_RESPONSE_URL_LIFETIME,
    ) -> None:
        """`post_rate` (posts per second) and `post_burst` set chat.postMessage's per-channel
        limit (None: no limit); `update_rate` and `update_burst` chat.update's, for the whole
        workspace. One response_url takes `response_url_uses` posts, within
        `response_url_lifetime` seconds of its first one (None: no limit). The defaults are
        Slack's."""
        if post_rate is not None and (post_rate <= 0 or post_burst < 1):
            raise ValueError("post_rate must be above 0 and post_burst at least 1")
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.validate_blocks = validate_blocks
        self.post_rate = post_rate
        self.post_burst = post_burst
        self.update_rate = update_rate
        self.update_burst = update_burst
        self.response_url_uses = response_url_uses
        self.response_url_lifetime = response_url_lifetime
        self.calls: list[Call] = []
        self.down = False
        self.socket_mode_url: str | None = None
        initial = DEFAULT_USERS if users is None else users
        self._users = {uid: dict(u) for uid, u in initial.items()}
        self._groups: dict[str, _Group] = {}
        self._faults: list[_Fault] = []
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._homes: dict[str, dict[str, Any]] = {}  # user → their Home view (views.publish)
        self._used_triggers: set[str] = set()
        self._buckets: dict[str, _Bucket] = {}
        self.rate_limited = 0  # calls refused by a rate limit (not by fail())
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._ts_seq = 0
        self._view_seq = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()  # cuts delayed answers short at stop()

    # ---- lifecycle

    def start(self) -> FakeSlack:
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        # stop() waits for the loop's poll: every test with a fake Slack waits for it once.
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.01,), name="FakeSlack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, key: str = "") -> str:
        return f"{self.base_url}/response_url/{quote(key, safe='')}"

    # ---- inspection

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def turns(self, channel: str | None = None) -> float:
        """How many posts `channel` would take at once now, or (no channel) how many edits
        the workspace would: its bucket, refilled to this moment."""
        key, rate, burst = (
            ("update", self.update_rate, self.update_burst)
            if channel is None
            else (f"post:{channel}", self.post_rate, self.post_burst)
        )
        with self._lock:
            bucket = self._buckets.get(key)
            if rate is None or bucket is None:
                return float(burst) if rate is not None else math.inf
            return min(burst, bucket.tokens + (time.monotonic() - bucket.at) * rate)

    def wait_for(
        self, predicate: Callable[[list[Call]], bool], *, timeout: float = 20.0
    ) -> list[Call]:
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                snapshot = list(self.calls)
            # Outside the lock: a predicate may well call calls_to().
            if predicate(snapshot):
                return snapshot
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with self._changed:
                if len(self.calls) == len(snapshot):
                    self._changed.wait(remaining)
        seen = "\n".join(f"  {c.method} {c.status} {_short(c.args)}" for c in snapshot) or "  none"
        raise AssertionError(f"FakeSlack.wait_for timed out after {timeout}s; calls seen:\n{seen}")

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The latest state of a message posted (and maybe updated) through the fake."""
        with self._lock:
            msg = self._messages.get((channel, ts))
            return dict(msg) if msg is not None else None

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            v = self._views.get(view_id)
            return dict(v) if v is not None else None

    # ---- configuration

    def set_user(self, user_id: str, *, tz: str | None, name: str | None = None) -> None:
        with self._lock:
            user = self._users.setdefault(user_id, {})
            user["tz"] = tz
            user["name"] = name or user.get("name") or user_id.lower()

    def set_group(self, group_id: str, users: Iterable[str], *, disabled: bool = False) -> None:
        """A user group (S…) and its members, answered by usergroups.users.list."""
        with self._lock:
            self._groups[group_id] = _Group(users=list(users), disabled=disabled)

    def fail(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        times: int | None = 1,
        channel: str | None = None,
        after_store: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Make the next `times` calls to `method` (or "response_url") fail.

        status 200 answers {"ok": false, "error": error}; 429 adds Retry-After (1 s unless
        given) and defaults error to "ratelimited"; other statuses default the error to
        "internal_error". times=None keeps failing until clear_faults().
        after_store=True performs the call first (a message is stored and shows in
        conversations.replies/history) and only then answers the failure: Slack's 503 after it
        kept the message. delay=seconds waits that long before answering (after performing the
        call when after_store=True), longer than a client's timeout for a slow Slack; with no
        error and status 200 the answer, when it comes, is the real one.
        """
        if status == 200 and error is None and delay <= 0:
            raise ValueError("fail() with status 200 needs an error or a delay")
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = _Fault(method, error, status, retry_after, times, channel, after_store, delay)
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ---- HTTP handling

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        url = urlsplit(req.path)
        headers = {k.lower(): v for k, v in req.headers.items()}
        length = int(headers.get("content-length") or 0)
        raw = req.rfile.read(length) if length else b""
        try:
            args = _parse_args(url.query, raw, headers.get("content-type", ""))
            bad_body = False
        except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
            args, bad_body = {"_raw": raw.decode("utf-8", "replace")}, True
        if url.path.startswith("/api/"):
            method = unquote(url.path[len("/api/") :])
            token = _bearer(headers) or str(args.get("token", ""))
            args.pop("token", None)
        elif url.path.startswith("/response_url/"):
            method = "response_url"
            args["_key"] = unquote(url.path[len("/response_url/") :])
            token = ""
        else:
            req.send_error(404)
            return
        arrived = time.monotonic()
        with self._lock:
            fault = None if bad_body else self._take_fault(method, args)
        done = None
        if fault is not None and fault.after_store:
            with self._lock:
                done = self._perform(method, args, token)
        if fault is not None and fault.delay > 0:
            self._stopping.wait(fault.delay)
        with self._changed:
            if bad_body:
                status, body, extra_headers = 200, _err("invalid_json"), {}
            elif fault is not None and fault.refuses:
                status, body, extra_headers = _fault_answer(method, fault)
            else:
                status, body, extra_headers = done or self._perform(method, args, token)
            self.calls.append(Call(method, args, headers, arrived, status, body))
            self._changed.notify_all()
        if isinstance(body, str):
            data, ctype = body.encode(), "text/html"
        else:
            data, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        try:
            req.send_response(status)
            req.send_header("Content-Type", ctype)
            req.send_header("Content-Length", str(len(data)))
            for k, v in extra_headers.items():
                req.send_header(k, v)
            req.end_headers()
            req.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a delayed answer): so would Slack's be lost

    def _perform(
        self, method: str, args: dict[str, Any], token: str
    ) -> tuple[int, Payload, dict[str, str]]:
        """What Slack does with the call and answers, faults aside (under the lock)."""
        if method == "response_url":
            return self._response_url_post(args)

        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, _err("unknown_method"), {}
        auth_error = self._check_token(method, token)
        if auth_error is not None:
            return 200, _err(auth_error), {}
        if method == "chat.postMessage":
            wait = self._wait(f"post:{args.get('channel') or ''}", self.post_rate, self.post_burst)
        elif method == "chat.update":
            wait = self._wait("update", self.update_rate, self.update_burst)
        else:
            wait = None
        if wait is not None:
            self.rate_limited += 1
            return 429, _err("ratelimited"), {"Retry-After": str(wait)}
        return 200, handler(args), {}

    def _wait(self, key: str, rate: float | None, burst: int) -> int | None:
        """None when a call counted under `key` may go now (and takes its token); else the
        whole seconds until it may, as Slack's Retry-After says it."""
        if rate is None:
            return None
        now = time.monotonic()
        bucket = self._buckets.setdefault(key, _Bucket(float(burst), now))
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return max(1, math.ceil((1 - bucket.tokens) / rate))

    def _response_url_post(self, args: dict[str, Any]) -> tuple[int, Payload, dict[str, str]]:
        # A response_url answers plain text like Slack's incoming webhooks, not JSON: "ok", or
        # the error with a 4xx status (webhooks' documented shape; response_url's is not).
        key = str(args.get("_key", ""))
        if not args.get("delete_original"):
            problem = self._message_problem(args)
            if problem is not None:
                return 400, str(problem["error"]), {}
        now = time.monotonic()
        used = self._response_urls.setdefault(key, _ResponseUrl(0, now))
        if (
            self.response_url_lifetime is not None
            and now - used.first_at > self.response_url_lifetime
        ):
            # A guess: Slack documents no answer for an expired or used-up response_url.
            return 404, "expired_url", {}
        if self.response_url_uses is not None and used.uses >= self.response_url_uses:
            return 404, "used_url", {}  # also a guess, as above
        used.uses += 1
        return 200, "ok", {}

    def _take_fault(self, method: str, args: dict[str, Any]) -> _Fault | None:
        """The first matching fault, counted as used (under the lock)."""
        for fault in self._faults:
            if fault.method != method:
                continue
            if fault.channel is not None and args.get("channel") != fault.channel:
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    def _check_token(self, method: str, token: str) -> str | None:
        if not token:
            return "not_authed"
        if method == "apps.connections.open":
            if token.startswith("xoxb-"):
                return "not_allowed_token_type"
            return None if token.startswith("xapp-") else "invalid_auth"
        if token.startswith("xapp-"):
            return "not_allowed_token_type"
        return None if token == self.bot_token else "invalid_auth"

    # ---- methods (called under the lock)

    def _next_ts(self) -> str:
        self._ts_seq += 1
        micros = 1_700_000_000_000_000 + self._ts_seq * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Fake Workspace",
            "user": "opsbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user", ""))
        stored = self._users.get(user_id)
        if stored is None:
            return _err("user_not_found")
        extra = dict(stored)
        name = extra.pop("name", None) or user_id.lower()
        tz = extra.pop("tz", None)
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "real_name": name.title(),
            "is_bot": False,
            "profile": {"real_name": name.title(), "display_name": name},
        }
        if tz is not None:
            user.update(_tz_fields(tz))
        user.update(extra)
        return {"ok": True, "user": user}

    def _m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        # Tier 2 (20+ calls a minute) in Slack; not modelled here: a test makes a 429 with
        # fail("usergroups.users.list", status=429). Slack's answer for a disabled group without
        # include_disabled is not documented: the fake says it does not know it.
        group = self._groups.get(str(args.get("usergroup") or ""))
        with_disabled = str(args.get("include_disabled", "")).lower() in ("1", "true")
        if group is None or (group.disabled and not with_disabled):
            return _err("no_such_subteam")
        return {"ok": True, "users": list(group.users)}

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return _err("channel_not_found")
        problem = self._message_problem(args)
        if problem is not None:
            return problem
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": APP_ID,
            "team": self.team_id,
            "ts": ts,
            "text": args.get("text", ""),
        }
        for key in ("blocks", "attachments", "thread_ts"):
            if args.get(key) is not None:
                message[key] = args[key]
        metadata, warnings = _kept_metadata(args)
        if metadata is not None:
            message["metadata"] = metadata
        self._messages[(str(channel), ts)] = dict(message)
        return _warned({"ok": True, "channel": channel, "ts": ts, "message": message}, warnings)

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel"), args.get("ts")
        if not channel:
            return _err("channel_not_found")
        if not ts:
            return _err("message_not_found")
        problem = self._message_problem(args)
        if problem is not None:
            return problem
        # Lenient on purpose: tests often update a message_ts they made up in a payload.
        message = self._messages.setdefault((str(channel), str(ts)), {"type": "message", "ts": ts})
        for key in ("text", "blocks", "attachments"):
            if key in args:
                message[key] = args[key]
        metadata, warnings = _kept_metadata(args)
        if metadata is not None:  # edited with the message; an update without any keeps it
            message["metadata"] = metadata
        answer = {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message.get("text", ""),
            "message": dict(message),
        }
        return _warned(answer, warnings)

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            return _err("channel_not_found")
        if not args.get("user"):
            return _err("user_not_in_channel")
        problem = self._message_problem(args)
        if problem is not None:
            return problem
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel"), args.get("ts")
        if not channel or not ts:
            return _err("message_not_found")
        self._messages.pop((str(channel), str(ts)), None)
        return {"ok": True, "channel": channel, "ts": ts}

    def _m_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel"), args.get("message_ts")
        if not channel or not ts:
            return _err("message_not_found")
        link = f"{PERMALINK_BASE}/archives/{channel}/p{str(ts).replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        if not channel or not ts:
            return _err("thread_not_found")
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        oldest = float(args.get("oldest") or 0)
        thread = sorted(
            (
                dict(m)
                for (c, _), m in self._messages.items()
                if c == channel
                and (m.get("ts") == ts or m.get("thread_ts") == ts)
                and float(m.get("ts", 0)) >= oldest
            ),
            key=lambda m: float(m["ts"]),
        )
        if not with_metadata:
            for message in thread:
                _without_payload(message)
        return {"ok": True, "messages": thread, "has_more": False}

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel") or "")
        if not channel:
            return _err("channel_not_found")
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        limit = int(args.get("limit") or 100)
        # Top-level messages only, newest first, like Slack.
        top = sorted(
            (
                dict(m)
                for (c, _), m in self._messages.items()
                if c == channel and not m.get("thread_ts")
            ),
            key=lambda m: float(m["ts"]),
            reverse=True,
        )[:limit]
        if not with_metadata:
            for message in top:
                _without_payload(message)
        return {"ok": True, "messages": top, "has_more": False}

    def _m_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return _err("channel_not_found")
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": f"channel-{str(channel).lower()}",
                "is_channel": True,
                "is_private": False,
                "is_archived": False,
                "is_member": True,
                "context_team_id": self.team_id,
            },
        }

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._open_view(args, previous=None)

    def _m_views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._open_view(args, previous=args.get("view_id"))

    def _open_view(self, args: dict[str, Any], previous: Any) -> dict[str, Any]:
        trigger = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger:
            return _err("invalid_arguments")
        # Slack triggers are single-use: a second views.open on the same one fails.
        if trigger in self._used_triggers:
            return _err("exchanged_trigger_id")
        problem = self._view_problem(args.get("view"))
        if problem is not None:
            return problem
        self._used_triggers.add(str(trigger))
        view_id = f"V{self._view_seq + 1:08d}"
        view = self._store_view(view_id, args["view"], root=view_id, previous=previous)
        return {"ok": True, "view": view}

    def _m_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            wanted = args["external_id"]
            matches = [v for v in self._views.values() if v.get("external_id") == wanted]
            view_id = matches[0]["id"] if matches else None
        if not view_id:
            return _err("not_found")
        current = self._views.get(str(view_id))
        if current is not None and args.get("hash") and args["hash"] != current["hash"]:
            return _err("hash_conflict")
        problem = self._view_problem(args.get("view"))
        if problem is not None:
            return problem
        # Unknown view ids are accepted: tests click buttons in modals the fake never opened.
        root = current["root_view_id"] if current else str(view_id)
        previous = current.get("previous_view_id") if current else None
        view = self._store_view(str(view_id), args["view"], root=root, previous=previous)
        return {"ok": True, "view": view}

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        """A user's Home tab: one view per user, its id kept from one publish to the next."""
        user = str(args.get("user_id") or "")
        if not user:
            return _err("invalid_arguments")
        if user not in self._users:
            return _err("user_not_found")
        spec = args.get("view")
        if not isinstance(spec, dict) or spec.get("type") != "home":
            return _invalid("invalid_arguments", "a published view must be of type home")
        current = self._homes.get(user)
        if current is not None and args.get("hash") and args["hash"] != current["hash"]:
            return _err("hash_conflict")
        problem = self._view_problem(spec)
        if problem is not None:
            return problem
        view_id = current["id"] if current else f"V{self._view_seq + 1:08d}"
        view = self._store_view(view_id, spec, root=view_id, previous=None)
        self._homes[user] = view
        return {"ok": True, "view": view}

    def home(self, user_id: str) -> dict[str, Any] | None:
        """The Home view last published for this user."""
        with self._lock:
            v = self._homes.get(user_id)
            return dict(v) if v is not None else None

    def _store_view(
        self, view_id: str, spec: dict[str, Any], *, root: str, previous: Any
    ) -> dict[str, Any]:
        self._view_seq += 1
        view = {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec.get("type", "modal"),
            "blocks": spec.get("blocks", []),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "external_id": spec.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{1_700_000_000 + self._view_seq}.fake{self._view_seq:04d}",
            "title": spec.get("title"),
            "close": spec.get("close"),
            "submit": spec.get("submit"),
            "clear_on_close": spec.get("clear_on_close", False),
            "notify_on_close": spec.get("notify_on_close", False),
            "previous_view_id": previous,
            "root_view_id": root,
            "app_id": APP_ID,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self._views[view_id] = view
        return dict(view)

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode_url is None:
            return _err("fake_socket_mode_url_not_set")
        return {"ok": True, "url": self.socket_mode_url}

    # ---- validation like Slack's

    def _message_problem(self, args: dict[str, Any]) -> dict[str, Any] | None:
        text, blocks = args.get("text"), args.get("blocks")
        if not text and not blocks and not args.get("attachments"):
            return _err("no_text")
        if text and len(str(text)) > _MAX_TEXT:
            return _err("msg_too_long")
        problem = _metadata_problem(args.get("metadata"))
        if problem is not None:
            return problem
        if not self.validate_blocks or not blocks:
            return None
        if not isinstance(blocks, list):
            return _err("invalid_blocks_format")
        if len(blocks) > _MAX_MESSAGE_BLOCKS:
            return _invalid("invalid_blocks", f"no more than {_MAX_MESSAGE_BLOCKS} items allowed")
        for i, block in enumerate(blocks):
            try:
                parsed = Block.parse(block)
                if parsed is not None:
                    parsed.validate_json()
            except (SlackObjectFormationError, KeyError, TypeError, AttributeError) as e:
                return _invalid("invalid_blocks", f"{e} [json-pointer:/blocks/{i}]")
        if sum(_text_length(block) for block in blocks) > _MAX_BLOCKS_TEXT:
            return _err("msg_blocks_too_long")
        return None

    def _view_problem(self, spec: Any) -> dict[str, Any] | None:
        if not isinstance(spec, dict):
            return _err("invalid_arguments")
        if not self.validate_blocks:
            return None
        try:
            View(**spec).validate_json()
        except (SlackObjectFormationError, KeyError, TypeError, AttributeError) as e:
            return _invalid("invalid_arguments", f"{e} [json-pointer:/view]")
        return None


def _metadata_problem(metadata: Any) -> dict[str, Any] | None:
    """Slack's refusal of a message's metadata, or None (no metadata is no problem)."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        return _err("invalid_metadata_format")
    event_type, payload = metadata.get("event_type"), metadata.get("event_payload")
    if not isinstance(event_type, str) or not event_type or not isinstance(payload, dict):
        return _err("invalid_metadata_schema")
    if len(json.dumps(metadata)) > _MAX_METADATA:
        return _err("metadata_too_large")
    return None


def _kept_metadata(args: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """The metadata a message keeps (checked by _metadata_problem first), and the warnings
    Slack answers: an event type of characters it does not take is dropped."""
    metadata = args.get("metadata")
    if metadata is None:
        return None, []
    if not _EVENT_TYPE.fullmatch(metadata["event_type"]):
        return None, ["invalid_metadata_schema"]
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}, []


def _warned(answer: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    if warnings:
        answer["response_metadata"] = {"warnings": warnings}
    return answer


def _without_payload(message: dict[str, Any]) -> None:
    """conversations.history and .replies without include_all_metadata: the event type is
    returned, its payload is not (unless the app's manifest declares its schema, which the
    bot's does not; reported in python-slack-sdk #1501)."""
    metadata = message.get("metadata")
    if isinstance(metadata, dict):
        message["metadata"] = {"event_type": metadata.get("event_type")}


def _fault_answer(method: str, fault: _Fault) -> tuple[int, Payload, dict[str, str]]:
    extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    default = "ratelimited" if fault.status == 429 else "internal_error"
    error = fault.error or default
    if method == "response_url":
        return fault.status, error, extra
    return fault.status, {"ok": False, "error": error}, extra


def _text_length(block: dict[str, Any]) -> int:
    """The characters of text a block shows, as Slack counts them for msg_blocks_too_long:
    section text and fields, context elements, header text, button labels (an actions block's
    or a section's accessory)."""

    def text_of(obj: Any) -> int:
        return len(str(obj.get("text") or "")) if isinstance(obj, dict) else 0

    def button(element: Any) -> int:
        is_button = isinstance(element, dict) and element.get("type") == "button"
        return text_of(element.get("text")) if is_button else 0

    kind = block.get("type")
    if kind == "section":
        fields = block.get("fields") or []
        return (
            text_of(block.get("text"))
            + sum(text_of(f) for f in fields)
            + button(block.get("accessory"))
        )
    if kind == "context":
        return sum(text_of(e) for e in block.get("elements") or [])
    if kind == "header":
        return text_of(block.get("text"))
    if kind == "actions":
        return sum(button(e) for e in block.get("elements") or [])
    return 0


def _err(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}


def _invalid(error: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": error, "response_metadata": {"messages": [f"[ERROR] {message}"]}}


def _bearer(headers: dict[str, str]) -> str:
    value = headers.get("authorization", "")
    return value[len("Bearer ") :] if value.startswith("Bearer ") else ""


def _parse_args(query: str, raw: bytes, content_type: str) -> dict[str, Any]:
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if raw:
        text = raw.decode("utf-8")
        if content_type.startswith("application/json"):
            body = json.loads(text)
            if isinstance(body, dict):
                args.update(body)
        else:
            args.update(parse_qsl(text, keep_blank_values=True))
    for key in _JSON_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            # Left as sent if it does not parse: a test may be checking that garbage is rejected.
            with contextlib.suppress(json.JSONDecodeError):
                args[key] = json.loads(value)
    return args


def _tz_fields(tz: str) -> dict[str, Any]:
    try:
        now = datetime.now(ZoneInfo(tz))
    except (KeyError, ValueError):
        # Slack stores whatever the profile says; an unknown zone still comes back as a string.
        return {"tz": tz, "tz_label": tz, "tz_offset": 0}
    offset = now.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    return {"tz": tz, "tz_label": now.tzname() or tz, "tz_offset": seconds}


def _short(args: dict[str, Any]) -> str:
    text = json.dumps(args, default=str)
    return text if len(text) <= 200 else text[:197] + "..."
