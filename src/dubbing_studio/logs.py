"""Log lines that say which request they belong to, as text or as one JSON object per line.

The request id lives in a context variable: the HTTP shell sets it for each request, asyncio
tasks and ``anyio`` threads inherit it, and the engine gate passes it to its worker threads.
A filter on the handler copies it onto every record, whichever logger wrote it.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

request_id: ContextVar[str | None] = ContextVar("dubbing_studio_request_id", default=None)
"""The id of the HTTP request being served in this context, if any."""

# What a client may send as its own X-Request-ID: short, and safe in headers, logs and JSON.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def valid_request_id(value: str | None) -> str | None:
    """``value`` if it is a sane id to adopt from a client (1-128 of ``A-Za-z0-9._:-``)."""
    if value and _SAFE_REQUEST_ID.fullmatch(value):
        return value
    return None


class RequestIdFilter(logging.Filter):
    """Puts the current request id (or ``-``) on each record as ``record.request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id,
    and the formatted exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None) or request_id.get()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if rid == "-" else rid,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(level: str, fmt: LogFormat) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server: one stderr handler on the root logger
    in the chosen format, which uvicorn's loggers and the studio's own propagate to.
    Passed to uvicorn as ``log_config`` so its access and error lines look the same."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if fmt == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"studio": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "studio",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            **{
                name: {"handlers": [], "propagate": True}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
            },
            "alembic.runtime.plugins": {"level": "WARNING"},  # a line per plugin at start-up
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
    }
