"""One JSON shape for every error: ``{"detail", "error_code", "errors"?, "request_id"}``, never
a traceback. ``request_id`` (also in the ``X-Request-ID`` header) finds the request's log lines.

Under ``/v1`` (the OpenAI-compatible API) the body also carries OpenAI's ``error`` object, so
the official SDKs raise their usual exceptions with the studio's message.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from dubbing_studio.api.request_ids import REQUEST_ID_HEADER, request_id_of
from dubbing_studio.domain.errors import StudioError, TooBusy

log = logging.getLogger(__name__)

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def error_response(
    request: Request,
    status_code: int,
    detail: str,
    error_code: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail, "error_code": error_code}
    if errors:
        body["errors"] = errors
    rid = request_id_of(request)
    if rid:
        body["request_id"] = rid
        headers = {**(headers or {}), REQUEST_ID_HEADER: rid}
    if request.url.path.startswith("/v1/"):
        body["error"] = {
            "message": detail,
            "type": "invalid_request_error" if status_code < 500 else "server_error",
            "code": error_code,
            "param": None,
        }
    return JSONResponse(body, status_code=status_code, headers=headers)


ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail", "error_code"],
    "properties": {
        "detail": {"type": "string", "description": "What went wrong, for people."},
        "error_code": {"type": "string", "description": "Stable, for programs."},
        "errors": {
            "type": "array",
            "description": "One entry per invalid field.",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
        "request_id": {"type": "string", "description": "Also in X-Request-ID; in the log."},
        "error": {"type": "object", "description": "OpenAI's error object (under /v1 only)."},
    },
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_ERROR_RESPONSES = {
    "422": "Invalid parameters or body.",
    "4XX": "The request cannot be served as sent (see error_code).",
    "5XX": "The studio failed, or an engine cannot run here (503).",
}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def with_error_responses(generate: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` with every operation documenting the studio's error shape: 4XX and 5XX,
    and 422 in place of FastAPI's (whose ``detail`` is a list; the studio's is a sentence)."""

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI caches it: the changes below are made once
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        if "Error" in schemas:
            return schema
        schemas["Error"] = ERROR_SCHEMA
        for name in _FASTAPI_VALIDATION_SCHEMAS:
            schemas.pop(name, None)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in _ERROR_RESPONSES.items():
                    responses[status] = {
                        "description": description,
                        "content": {"application/json": {"schema": _ERROR_REF}},
                    }
        return schema

    return openapi


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at this path: Starlette names only the first route's,
    and the studio has a route per method on paths such as ``/api/v1/dubs/{dub_id}``."""
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    app.openapi = with_error_responses(app.openapi)  # type: ignore[method-assign]

    @app.exception_handler(StudioError)
    async def studio_error(request: Request, exc: StudioError) -> JSONResponse:
        if exc.status_code >= 500:
            log.warning("%s on %s: %s", exc.error_code, request.url.path, exc.detail)
        headers = (
            {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
            if isinstance(exc, TooBusy)
            else None
        )
        return error_response(
            request, exc.status_code, exc.detail, exc.error_code, exc.errors, headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(part) for part in err.get("loc", ())],
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        summary = "; ".join(f"{'.'.join(e['loc'][1:]) or 'body'}: {e['msg']}" for e in errors)
        return error_response(
            request, 422, f"Invalid request: {summary}", "validation_error", errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES_BY_STATUS.get(exc.status_code, "http_error")
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return error_response(request, exc.status_code, str(exc.detail), code, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("Unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            request,
            500,
            "Internal server error; the server log has the details.",
            "internal_error",
        )
