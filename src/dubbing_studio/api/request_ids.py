"""The request id's header and lookup, kept apart from the metrics middleware so the error
handlers can use them without importing the routes' dependencies."""

from __future__ import annotations

from starlette.requests import Request

from dubbing_studio.logs import request_id

REQUEST_ID_HEADER = "X-Request-ID"


def request_id_of(request: Request) -> str | None:
    """The id ``RequestObserver`` gave this request (also after it left the middleware, for
    the outermost 500 handler)."""
    rid = getattr(request.state, "request_id", None)
    return rid if isinstance(rid, str) else request_id.get()
