"""Faults the simulator injects: what a real network and a real API do wrong."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal, get_args

FaultKind = Literal[
    "latency",
    "status",
    "status_after_work",
    "hang",
    "hang_after_work",
    "reset",
    "html",
    "missing_results",
    "unknown_status",
    "ignore_id_filter",
    "commit_late",
]
_GET_ONLY_KINDS = frozenset({"missing_results", "ignore_id_filter"})
_NEEDS_STATUS = frozenset({"status", "status_after_work"})


@dataclass(kw_only=True)
class Fault:
    """One injected misbehaviour, applied to the next `times` requests matching `method`.

    `times=None` keeps it until `FaultPlan.clear()`. `commit_late` answers nothing for
    `seconds` and does the work only then, after the client has given up waiting: a POST
    whose operation appears in the list later than any reasonable wait. `missing_results`
    and `ignore_id_filter` (an API that lists everything whatever `id` asks for) only make
    sense on a list, so they match GETs only.
    """

    kind: FaultKind
    method: str | None = None  # "GET", "POST" or None for any
    times: int | None = 1
    seconds: float = 0.0  # latency, hang, hang_after_work, commit_late
    status: int | None = None  # status, status_after_work; html (default 200)
    body: str | None = None  # status, status_after_work, html: replaces the default body
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"Retry-After": "1"}
    status_value: str = "pending"  # unknown_status: what `status` is reported as
    # latency: wait for this to be set (at most `seconds`) rather than for `seconds`: a test
    # holds the API's answers for exactly as long as it needs to look at what the bot did.
    until: threading.Event | None = None

    def __post_init__(self) -> None:
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"unknown fault kind {self.kind!r}")
        if self.method is not None:
            self.method = self.method.upper()
        if self.kind in _NEEDS_STATUS and self.status is None:
            raise ValueError(f"a {self.kind!r} fault needs a status")
        if self.kind in _GET_ONLY_KINDS:
            if self.method not in (None, "GET"):
                raise ValueError(f"a {self.kind!r} fault applies to GET only")
            self.method = "GET"
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1, or None for until cleared")


@dataclass
class _Armed:
    fault: Fault
    remaining: int | None


class FaultPlan:
    """Faults checked in the order added; the first that matches a request is used up by it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(_Armed(fault, fault.times))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def pending(self) -> list[Fault]:
        """Faults not yet used up, so a test can check that its fault was really hit."""
        with self._lock:
            return [armed.fault for armed in self._armed]

    def take(self, method: str) -> Fault | None:
        with self._lock:
            for armed in self._armed:
                if armed.fault.method not in (None, method):
                    continue
                if armed.remaining is not None:
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        self._armed.remove(armed)
                return armed.fault
        return None
