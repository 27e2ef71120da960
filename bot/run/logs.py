"""The log's formats, text or JSON lines, with every secret the settings hold redacted in the
finished line."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter


class Redactor:
    """Replaces each secret in a text. Secrets shorter than 6 characters are left alone:
    replacing them would mangle ordinary words and prove nothing. A secret is also looked for
    as a JSON string writes it (a quote or a backslash escaped, anything past ASCII as
    `\\uXXXX`), so a JSON line cannot carry one past it in its escaped form."""

    def __init__(self, *, secrets: Sequence[str]) -> None:
        kept = [s for s in secrets if len(s) >= 6]
        escaped = [json.dumps(s)[1:-1] for s in kept]
        # Longest first: a secret inside another is replaced after the one that holds it.
        self._secrets = sorted(set(kept) | set(escaped), key=len, reverse=True)

    def __call__(self, line: str) -> str:
        for secret in self._secrets:
            line = line.replace(secret, "[redacted]")
        return line


class _RedactingFormatter(logging.Formatter):
    """Last line of defence: a secret that reaches a log record is replaced in the finished
    text, so the message, its arguments, and a traceback's frames and exception text added
    by `log.exception` are all covered."""

    def __init__(self, fmt: str, *, redact: Redactor) -> None:
        super().__init__(fmt)
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class _RedactingJsonFormatter(JsonFormatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, and any ids the
    call passed in `extra` (request_id, operation_id, api_id); a traceback is `exc_info`, a
    stack `stack_info`. Redacted as the text is: in the finished line, so every field is."""

    def __init__(self, *, redact: Redactor) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


def log_handler(
    redact: Redactor, stream: TextIO | None = None, *, fmt: str = "text"
) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    formatter: logging.Formatter
    if fmt == "json":
        formatter = _RedactingJsonFormatter(redact=redact)
    else:
        formatter = _RedactingFormatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s", redact=redact
        )
    handler.setFormatter(formatter)
    return handler


def configure_logging(redact: Redactor, *, fmt: str = "text") -> None:
    logging.basicConfig(level=logging.INFO, handlers=[log_handler(redact, fmt=fmt)])
    # A line per request at INFO: 4,000 a minute when 1,000 operations are being followed.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
