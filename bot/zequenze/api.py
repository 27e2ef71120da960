"""The Zequenze control API client (httpx).

Every failure becomes an `ApiError` whose `message` is a sentence a person can act on; the
token never appears in one.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import httpx

from bot import say
from bot.model import OperationSpec, parse_api_time

PATH = "inventory_device_name_headless_operation/"
PAGE_SIZE = 100
RECENT_MAX_PAGES = 20
MAX_RETRY_AFTER = 30.0
# Each client's connection pool (read when one is built): at least as many connections as may
# call at once, so that no thread queues for one: the Slack side's work pool
# (bot.slack.app.WORK_THREADS, 64), the poller's concurrency (16) and the sender's (8), with
# room. All kept alive, so a burst does not close and reopen them (httpx keeps 20 by default).
API_LIMITS = httpx.Limits(max_connections=96, max_keepalive_connections=96)


@functools.cache
def _trust() -> ssl.SSLContext:
    """What every client verifies the API's certificate with, as httpx builds it by default
    (SSL_CERT_FILE or SSL_CERT_DIR, else certifi's bundle): read once per process rather than
    once per client, as reading the bundle costs some 35 ms of CPU and the runtime builds two."""
    return httpx.create_ssl_context()


# The doc's example lists the newest first; a default DRF queryset lists the oldest first. The
# order is never documented, so each read tells it from `created_at`.
Order = Literal["newest_first", "oldest_first", "unknown"]
_PageOrder = Literal["newest_first", "oldest_first", "one_moment", "unordered"]


class ApiError(Exception):
    """The API did not do what was asked.

    `outcome_unknown` is True when a create may have happened anyway (the request was sent but
    no answer came back, or the server failed mid-way): such a POST must never be blindly retried.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        outcome_unknown: bool = False,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.message = message
        self.status = status
        self.outcome_unknown = outcome_unknown
        self.retryable = retryable


@dataclass(frozen=True, kw_only=True)
class Page:
    count: int
    results: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class Recent:
    """The operations created since a moment, newest first, each once."""

    items: list[dict[str, Any]]
    complete: bool  # False: some may be missing (pages ran out, or the order was unclear)
    total: int  # how many the API held at the last read
    requests: int  # GETs made


@dataclass(frozen=True, kw_only=True)
class Newest:
    """One page of the list counted from its newest end, newest first."""

    items: list[dict[str, Any]]
    total: int
    requests: int


@dataclass(frozen=True, kw_only=True)
class Found:
    """The newest operations that matched, newest first, and how far the search went."""

    items: list[dict[str, Any]]
    searched: int  # how many of the newest operations were looked at
    whole: bool  # True: that was every operation the API held
    total: int
    requests: int


# What a call came to, for metrics (a small fixed set: never a device or an id).
OK = "ok"  # a 2xx or 3xx
CLIENT_ERROR = "client_error"  # a 4xx other than these two: the API answered, and said no
REFUSED = "refused"  # 401 or 403: the token is not accepted
RATE_LIMITED = "rate_limited"  # 429
SERVER_ERROR = "server_error"  # 5xx
UNREACHABLE = "unreachable"
TIMEOUT = "timeout"
BROKEN = "broken"  # the connection broke mid-call
_ANSWERED = frozenset({OK, CLIENT_ERROR})

CallObserver = Callable[[str, str, float], None]  # (HTTP method, result, seconds)


class CallRecord:
    """What the API came to lately, shared by a runtime's clients: when it last answered, and
    since when it has been failing (None: not failing). A 4xx other than a refused token is an
    answer; a 429, a 5xx, a refused token or no answer at all is a failure. `observe` is told
    of every call (the metrics)."""

    def __init__(
        self, *, observe: CallObserver | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._observe = observe
        self._clock = clock
        self._lock = threading.Lock()
        self.last_success_at: float | None = None
        self.last_failure_at: float | None = None
        self.failing_since: float | None = None

    def record(self, method: str, result: str, seconds: float) -> None:
        now = self._clock()
        with self._lock:
            if result in _ANSWERED:
                self.last_success_at = now
                self.failing_since = None
            else:
                self.last_failure_at = now
                if self.failing_since is None:
                    self.failing_since = now
        if self._observe is not None:
            self._observe(method, result, seconds)


def _result_of(status: int) -> str:
    if status < 400:
        return OK
    if status in (401, 403):
        return REFUSED
    if status == 429:
        return RATE_LIMITED
    return SERVER_ERROR if status >= 500 else CLIENT_ERROR


class ZequenzeClient:
    """Bearer-token client for the headless-operation endpoint."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        retries: int = 3,
        retry_base: float = 0.5,
        calls: CallRecord | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.calls = calls or CallRecord()
        self._token = token
        self._retries = retries
        self._retry_base = retry_base
        # Set when the bot stops: a failed GET is not tried again (a wait for its retry ends
        # at once), and a list read stops between pages, cut short. The call in hand ends
        # within its timeout, so a stop never waits out retries or a long walk.
        self.stopping = stopping or threading.Event()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            follow_redirects=False,
            limits=API_LIMITS,
            verify=_trust(),
        )

    def close(self) -> None:
        self._http.close()

    def check(self) -> None:
        """Ask for the list's first operation: raises ApiError when the API cannot be reached,
        refuses the token, or answers with something other than the list."""
        self._page(PATH, {"limit": 1})

    def create_operation(self, spec: OperationSpec) -> dict[str, Any]:
        body = spec.to_api()
        response = self._send("POST", PATH, json=body, device=spec.device_name)
        data = _json_object(response)
        if not isinstance(data.get("id"), str | int):
            raise ApiError(
                say.api.API_NO_ID,
                status=response.status_code,
                outcome_unknown=True,
            )
        data["id"] = str(data["id"])
        return data

    def get_operation(
        self, operation_id: str, *, update_status: bool = True
    ) -> dict[str, Any] | None:
        params: dict[str, Any] = {"id": operation_id, "limit": 1}
        if update_status:
            params["update_status"] = "true"
        page = self._page(PATH, params)
        for item in page.results:
            if str(item.get("id")) == operation_id:
                return item
        if page.results:
            # Other operations instead: the filter was ignored, which says nothing about this
            # one. Only an empty answer means the API does not hold it.
            raise ApiError(say.api.api_ignored_id_filter(operation_id))
        return None

    def recent_operations(
        self, *, since: datetime, page_size: int = PAGE_SIZE, max_pages: int = RECENT_MAX_PAGES
    ) -> Recent:
        """The operations created at or after `since`, read from the newest end of the list and
        stopping at the first one older, in either order. An item without a readable
        `created_at` cannot prove itself older: it is kept, and read past. Operations created
        while the pages are read are read too. `complete` is False when `max_pages` GETs were
        not enough, or when the order could not be told and the whole list was not read."""
        reader = _ListReader(self, page_size=page_size, max_pages=max_pages)
        items: list[dict[str, Any]] = []
        reached = False
        for item in reader.walk():
            if _older(item, since):
                if reader.ordered:
                    reached = True
                    break
                continue
            items.append(item)
        reached = reached or reader.ended
        if reached and reader.ordered:
            items = [item for item in reader.newer() if not _older(item, since)] + items
        complete = reached and reader.sound and (reader.ordered or reader.latest == reader.total)
        return Recent(items=items, complete=complete, total=reader.latest, requests=reader.requests)

    def newest_operations(self, *, limit: int, offset: int = 0) -> Newest:
        """The `limit` operations after the newest `offset`, newest first, in at most three
        GETs whatever the size of the list and its order."""
        reader = _ListReader(self, page_size=limit, max_pages=3)
        items = reader.window(offset)
        return Newest(items=items, total=reader.total, requests=reader.requests)

    def scan_newest(
        self, *, max_pages: int, update_status: bool = False, page_size: int = PAGE_SIZE
    ) -> _ListReader:
        """A reader of the list from its newest end, `page_size` a page, at most `max_pages`
        GETs (`walk()` yields each operation once; `requests` counts the GETs): the poller's
        way to ask about many operations in a few pages instead of one call each.
        `update_status`: each page asks the API to refresh what it returns."""
        return _ListReader(
            self, page_size=page_size, max_pages=max_pages, update_status=update_status
        )

    def find_newest(
        self,
        match: Callable[[dict[str, Any]], bool],
        *,
        want: int,
        within: int,
        page_size: int = PAGE_SIZE,
    ) -> Found:
        """The newest `want` operations that `match`, looking at no more than the newest
        `within` operations of the list."""
        # The pages of `within`, the other end (to tell the order) and an oldest-first first page.
        pages = -(-within // page_size) + 2
        reader = _ListReader(self, page_size=page_size, max_pages=pages)
        found: list[dict[str, Any]] = []
        searched = 0
        for item in itertools.islice(reader.walk(), within):
            searched += 1
            if match(item):
                found.append(item)
                if len(found) >= want:
                    break
        whole = reader.ended and searched >= reader.latest
        return Found(
            items=found,
            searched=searched,
            whole=whole,
            total=reader.latest,
            requests=reader.requests,
        )

    def _list_page(self, *, offset: int, limit: int, update_status: bool = False) -> Page:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if update_status:
            params["update_status"] = "true"
        page = self._page(PATH, params)
        if page.count < 0:
            raise ApiError(say.api.API_NO_COUNT, retryable=True)
        return page

    def _page(self, url: str, params: dict[str, Any] | None) -> Page:
        response = self._send("GET", url, params=params)
        data = _json_object(response)
        results = data.get("results")
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise ApiError(
                say.api.API_NO_RESULTS,
                status=response.status_code,
                retryable=True,
            )
        count = data.get("count")
        # -1: not said. Only reading by offset needs it, and refuses the page then.
        usable = isinstance(count, int) and not isinstance(count, bool)
        return Page(count=count if usable else -1, results=results)

    def _send(
        self, method: str, url: str, *, device: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One request; a GET is retried with backoff and jitter on what may pass (connection
        errors, timeouts, 429 honouring Retry-After, 5xx). A POST never is: see ApiError."""
        attempts = 1 + (self._retries if method == "GET" else 0)
        for attempt in range(attempts):
            try:
                return self._send_once(method, url, device=device, **kwargs)
            except ApiError as exc:
                if not exc.retryable or attempt == attempts - 1:
                    raise
                delay = self._retry_base * 2**attempt + random.uniform(0, self._retry_base)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER))
                if self.stopping.wait(delay):
                    raise
        raise AssertionError("unreachable")

    def _send_once(
        self, method: str, url: str, *, device: str | None, **kwargs: Any
    ) -> httpx.Response:
        creating = method == "POST"
        started = time.monotonic()
        result = BROKEN  # anything else raised on the way (an httpx.TransportError)
        try:
            response = self._http.request(method, url, **kwargs)
            result = _result_of(response.status_code)
        except httpx.ConnectError as exc:
            result = UNREACHABLE
            raise ApiError(
                say.api.API_UNREACHABLE,
                retryable=True,
            ) from exc
        except httpx.TimeoutException as exc:
            result = TIMEOUT
            raise ApiError(
                say.api.API_TIMEOUT,
                outcome_unknown=creating,
                retryable=True,
            ) from exc
        except httpx.TransportError as exc:
            raise ApiError(
                say.api.API_CONNECTION_BROKE,
                outcome_unknown=creating,
                retryable=True,
            ) from exc
        finally:
            self.calls.record(method, result, time.monotonic() - started)
        if response.status_code < 400:
            return response
        error = _error_for(response, device=device, creating=creating)
        if self._token and self._token in error.message:
            # The server's own words are quoted to people; a server that echoes our
            # credentials (a debug page, a chatty gateway) must not pass them on.
            error.message = error.message.replace(self._token, "[redacted]")
            error.args = (error.message,)
        raise error


class _ListReader:
    """Reads the list by `limit` and `offset` from its newest end, whichever end that is,
    counting its GETs. Each item comes once, even when operations created meanwhile shift
    the offsets of the others."""

    def __init__(
        self,
        client: ZequenzeClient,
        *,
        page_size: int,
        max_pages: int,
        update_status: bool = False,
    ) -> None:
        if page_size < 1 or max_pages < 1:
            raise ValueError("page_size and max_pages must be at least 1")
        self._client = client
        self._update_status = update_status
        self._page_size = page_size
        self._step = page_size  # what the server really returns for it (it may cap `limit`)
        self._max_pages = max_pages
        self._seen: set[str] = set()
        self.requests = 0
        self.total = 0  # the count at the first read
        self.latest = 0  # the count at the last read
        self.order: Order = "unknown"
        self.ended = False  # the walk reached the oldest end
        self.truncated = False  # max_pages ran out, or the bot is stopping
        self.unsure = False  # the list shrank while read: something may have been skipped

    @property
    def ordered(self) -> bool:
        return self.order != "unknown"

    @property
    def sound(self) -> bool:
        return not self.truncated and not self.unsure

    def walk(self) -> Iterator[dict[str, Any]]:
        """Every item from the newest end; in the API's own order when that cannot be told."""
        first = self._get(offset=0, limit=self._page_size)
        if first is None:
            return
        self.total = first.count
        if len(first.results) >= first.count:  # the whole list at once: no need to look further
            self.order = _known(_page_order(first.results))
            yield from self._fresh(_newest_first(first.results, self.order))
            self.ended = True
            return
        self.order = self._order(first, offset=0)
        if self.order == "oldest_first":
            yield from self._backwards(first)
        else:
            yield from self._forwards(first)

    def newer(self) -> list[dict[str, Any]]:
        """What was created while `walk` went on, newest first: read until the count holds."""
        found: list[dict[str, Any]] = []
        covered = self.total
        while self.latest > covered and self.ordered:
            if self.order == "oldest_first":  # new ones come at the end; nothing shifts
                page = self._get(offset=covered, limit=min(self._step, self.latest - covered))
                if page is None:
                    break
                if not page.results:
                    self.unsure = True
                    break
                covered += len(page.results)
                found[:0] = self._fresh(reversed(page.results))
                continue
            # Newest first: new ones push the rest down; read from the top to a known one.
            batch: list[dict[str, Any]] = []
            offset, counted = 0, None
            while True:
                page = self._get(offset=offset, limit=self._page_size)
                if page is None:
                    return found
                counted = page.count if counted is None else counted
                new = list(itertools.takewhile(lambda item: not self._had(item), page.results))
                batch += self._fresh(new)
                offset += len(page.results)
                if len(new) < len(page.results) or not page.results or offset >= page.count:
                    break
            covered = counted
            found[:0] = batch
        return found

    def window(self, offset: int) -> list[dict[str, Any]]:
        """The page of `page_size` after the newest `offset`, newest first."""
        page = self._get(offset=offset, limit=self._page_size)
        if page is None:
            return []
        self.total = page.count
        got = len(page.results)
        if offset >= page.count or not got:
            return []
        if offset == 0 and got >= page.count:
            self.order = _known(_page_order(page.results))
            return _newest_first(page.results, self.order)
        self.order = self._order(page, offset=offset)
        if self.order != "oldest_first":
            return page.results  # newest first, or the API's own order when it cannot be told
        capped = got < min(self._page_size, page.count - offset)
        end = page.count - offset  # the newest `offset` are after it
        start = max(0, end - (got if capped else self._page_size))
        if offset <= start and end <= offset + got:
            return page.results[start - offset : end - offset][::-1]
        other = self._get(offset=start, limit=end - start)
        return [] if other is None else other.results[::-1]

    def _get(self, *, offset: int, limit: int) -> Page | None:
        if self.requests >= self._max_pages or self._client.stopping.is_set():
            self.truncated = True  # what is not read proves nothing
            return None
        self.requests += 1
        page = self._client._list_page(
            offset=offset, limit=limit, update_status=self._update_status
        )
        if page.count < self.latest:
            self.unsure = True
        self.latest = page.count
        return page

    def _order(self, page: Page, *, offset: int) -> Order:
        """The list's order, from one page; when that cannot tell (one item, one moment for
        all), from a dated item of it and the far end of the list."""
        within = _page_order(page.results)
        if within != "one_moment":
            return _known(within)
        dated = next(
            (
                (offset + i, moment)
                for i, item in enumerate(page.results)
                if (moment := _created(item)) is not None
            ),
            None,
        )
        if dated is None:
            return "unknown"
        position, moment = dated
        far = 0 if position >= page.count / 2 else page.count - 1
        if far == position:
            return "unknown"
        end = self._get(offset=far, limit=1)
        other = _created(end.results[0]) if end and end.results else None
        if other is None or other == moment:
            return "unknown"
        # Newest first: the earlier in the list, the later the moment.
        return "newest_first" if (moment > other) == (position < far) else "oldest_first"

    def _forwards(self, page: Page) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            yield from self._fresh(page.results)
            offset += len(page.results)
            if not page.results and offset < page.count:
                self.unsure = True  # a page short of what the count promised
            if not page.results or offset >= page.count:
                self.ended = True
                return
            # Operations created meanwhile come first and push the rest down: the next page
            # then starts with some already read, which `_fresh` drops. None is skipped.
            following = self._get(offset=offset, limit=self._page_size)
            if following is None:
                return
            page = following

    def _backwards(self, first: Page) -> Iterator[dict[str, Any]]:
        self._step = max(1, len(first.results))  # below page_size if the server caps `limit`
        end = first.count
        while end > 0:
            start = max(0, end - self._step)
            if end <= len(first.results):
                items = first.results[start:end]
            else:
                page = self._get(offset=start, limit=end - start)
                if page is None:
                    return
                items = page.results
                if len(items) < end - start:
                    self.unsure = True
            yield from self._fresh(reversed(items))
            end = start
        self.ended = True

    def _fresh(self, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh = []
        for item in items:
            key = item.get("id")
            if key is not None:
                if str(key) in self._seen:
                    continue
                self._seen.add(str(key))
            fresh.append(item)
        return fresh

    def _had(self, item: dict[str, Any]) -> bool:
        key = item.get("id")
        return key is not None and str(key) in self._seen


def _created(item: dict[str, Any]) -> datetime | None:
    return parse_api_time(item.get("created_at"))


def _older(item: dict[str, Any], since: datetime) -> bool:
    """Provably created before `since`; an item without a readable `created_at` is not."""
    created = _created(item)
    return created is not None and created < since


def _page_order(items: list[dict[str, Any]]) -> _PageOrder:
    moments = [m for m in map(_created, items) if m is not None]
    pairs = list(itertools.pairwise(moments))
    down = any(a > b for a, b in pairs)
    up = any(a < b for a, b in pairs)
    if down and up:
        return "unordered"  # not by creation: no end of it is the newest
    if down:
        return "newest_first"
    if up:
        return "oldest_first"
    return "one_moment"


def _known(order: _PageOrder) -> Order:
    if order == "newest_first" or order == "oldest_first":
        return order
    return "unknown"


def _newest_first(items: list[dict[str, Any]], order: Order) -> list[dict[str, Any]]:
    return items[::-1] if order == "oldest_first" else items


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        kind = response.headers.get("content-type", "unknown content").split(";")[0]
        raise ApiError(
            say.api.api_not_json(kind, response.status_code),
            status=response.status_code,
            retryable=True,
            outcome_unknown=response.request.method == "POST",
        )
    return data


def _error_for(response: httpx.Response, *, device: str | None, creating: bool) -> ApiError:
    status = response.status_code
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if status == 400:
        return ApiError(say.api.api_refused_fields(_field_errors(body)), status=status)
    if status == 401:
        return ApiError(say.api.API_TOKEN_INVALID, status=status)
    if status == 403:
        return ApiError(say.api.API_TOKEN_FORBIDDEN, status=status)
    if status == 404:
        if creating and device:
            return ApiError(say.api.api_unknown_device(device), status=status)
        return ApiError(say.api.api_said(str(detail or "not found")), status=status)
    if status == 429:
        return ApiError(
            say.api.API_RATE_LIMITED,
            status=status,
            retryable=True,
            retry_after=_retry_after(response),
        )
    if status >= 500:
        message = say.api.api_internal_error(status, creating=creating)
        return ApiError(message, status=status, outcome_unknown=creating, retryable=True)
    return ApiError(say.api.api_refused(status, str(detail or "")), status=status)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _field_errors(body: Any) -> str:
    if not isinstance(body, dict) or not body:
        return say.api.API_INVALID_DATA
    return " ".join(_said(body, path="")) or say.api.API_INVALID_DATA


def _said(errors: dict[Any, Any], *, path: str) -> Iterator[str]:
    """Each refusal as `field: message.`; a field's errors nested in a dict (a nested
    serializer, a JSONField's validation, a list's items by index) are named by their path,
    `parameters.force`."""
    for field, messages in errors.items():
        named = f"{path}.{field}" if path else str(field)
        if isinstance(messages, dict):
            yield from _said(messages, path=named)
            continue
        items = messages if isinstance(messages, list) else [messages]
        said = " ".join(str(m).rstrip(".") + "." for m in items)
        if field in ("non_field_errors", "detail"):
            yield f"{path}: {said}" if path else said
        else:
            yield f"{named}: {said}"
