"""The Zequenze control API client (httpx).

Every failure becomes an `ApiError` whose `message` is a sentence a person can act on; the
token never appears in one.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot import text
from bot.model import OperationSpec

PATH = "inventory_device_name_headless_operation/"
PAGE_SIZE = 100
MAX_PAGES = 1000
MAX_RETRY_AFTER = 30.0


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
    next: str | None


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
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._token = token
        self._retries = retries
        self._retry_base = retry_base
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
            follow_redirects=False,
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
                text.API_NO_ID,
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
            raise ApiError(text.api_ignored_id_filter(operation_id))
        return None

    def list_operations(self, *, page_size: int = PAGE_SIZE) -> Iterator[Page]:
        """Every page of the list, following `next`; stops on a page that loops back."""
        url = PATH
        params: dict[str, Any] | None = {"limit": page_size, "offset": 0}
        # The first page counts as sent too: a `next` pointing back to it is a loop.
        seen = {_page_key(self._http.build_request("GET", url, params=params).url)}
        for _ in range(MAX_PAGES):
            page = self._page(url, params)
            yield page
            if page.next is None:
                return
            url, params = page.next, None
            self._check_same_origin(url)
            key = _page_key(httpx.URL(url))
            if key in seen:
                raise ApiError(text.API_LIST_LOOPS)
            seen.add(key)
        raise ApiError(text.api_too_many_pages(MAX_PAGES))

    def _check_same_origin(self, url: str) -> None:
        # `next` is an absolute URL from the server; never send our token anywhere else.
        ours, theirs = urlsplit(self.base_url), urlsplit(url)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise ApiError(text.API_OTHER_SERVER)

    def _page(self, url: str, params: dict[str, Any] | None) -> Page:
        response = self._send("GET", url, params=params)
        data = _json_object(response)
        results = data.get("results")
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise ApiError(
                text.API_NO_RESULTS,
                status=response.status_code,
                retryable=True,
            )
        count = data.get("count")
        nxt = data.get("next")
        return Page(
            count=count if isinstance(count, int) else len(results),
            results=results,
            next=nxt if isinstance(nxt, str) and nxt else None,
        )

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
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _send_once(
        self, method: str, url: str, *, device: str | None, **kwargs: Any
    ) -> httpx.Response:
        creating = method == "POST"
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.ConnectError as exc:
            raise ApiError(
                text.API_UNREACHABLE,
                retryable=True,
            ) from exc
        except httpx.TimeoutException as exc:
            raise ApiError(
                text.API_TIMEOUT,
                outcome_unknown=creating,
                retryable=True,
            ) from exc
        except httpx.TransportError as exc:
            raise ApiError(
                text.API_CONNECTION_BROKE,
                outcome_unknown=creating,
                retryable=True,
            ) from exc
        if response.status_code < 400:
            return response
        error = _error_for(response, device=device, creating=creating)
        if self._token and self._token in error.message:
            # The server's own words are quoted to people; a server that echoes our
            # credentials (a debug page, a chatty gateway) must not pass them on.
            error.message = error.message.replace(self._token, "[redacted]")
            error.args = (error.message,)
        raise error


def _page_key(url: httpx.URL) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Which page a URL asks for, whatever order its query comes in (DRF sorts it)."""
    return url.path, tuple(sorted(url.params.multi_items()))


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        kind = response.headers.get("content-type", "unknown content").split(";")[0]
        raise ApiError(
            text.api_not_json(kind, response.status_code),
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
        return ApiError(text.api_refused_fields(_field_errors(body)), status=status)
    if status == 401:
        return ApiError(text.API_TOKEN_INVALID, status=status)
    if status == 403:
        return ApiError(text.API_TOKEN_FORBIDDEN, status=status)
    if status == 404:
        if creating and device:
            return ApiError(text.api_unknown_device(device), status=status)
        return ApiError(text.api_said(str(detail or "not found")), status=status)
    if status == 429:
        return ApiError(
            text.API_RATE_LIMITED,
            status=status,
            retryable=True,
            retry_after=_retry_after(response),
        )
    if status >= 500:
        message = text.api_internal_error(status, creating=creating)
        return ApiError(message, status=status, outcome_unknown=creating, retryable=True)
    return ApiError(text.api_refused(status, str(detail or "")), status=status)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _field_errors(body: Any) -> str:
    if not isinstance(body, dict) or not body:
        return text.API_INVALID_DATA
    parts = []
    for field, messages in body.items():
        items = messages if isinstance(messages, list) else [messages]
        said = " ".join(str(m).rstrip(".") + "." for m in items)
        parts.append(said if field in ("non_field_errors", "detail") else f"{field}: {said}")
    return " ".join(parts)
