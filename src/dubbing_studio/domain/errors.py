"""Errors the studio raises on purpose.

Each carries a stable ``error_code`` and the HTTP status a web shell should use, so the API
layer maps them without knowing every case, and the CLI can print the message alone.
"""

from __future__ import annotations

from typing import Any


class StudioError(Exception):
    """Base of every expected failure; the message is safe to show to a user."""

    status_code = 500
    error_code = "internal_error"

    def __init__(self, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class InvalidInput(StudioError):
    """A parameter is malformed or out of range (HTTP 400)."""

    status_code = 400
    error_code = "invalid_input"


class UndecodableMedia(StudioError):
    """The upload looks like media but cannot be decoded (HTTP 400)."""

    status_code = 400
    error_code = "undecodable_media"


class UnsupportedMedia(StudioError):
    """The upload is not audio or video by its content (HTTP 415)."""

    status_code = 415
    error_code = "unsupported_media_type"


class UploadTooLarge(StudioError):
    """The upload or its duration is over the configured cap (HTTP 413)."""

    status_code = 413
    error_code = "payload_too_large"


class UnsupportedLanguage(StudioError):
    """A language or language pair no available engine handles (HTTP 422)."""

    status_code = 422
    error_code = "unsupported_language"


class ValidationFailed(StudioError):
    """A request is well-formed but its values are not acceptable (HTTP 422)."""

    status_code = 422
    error_code = "validation_error"


class NotFound(StudioError):
    """An engine, voice, model or resource that does not exist (HTTP 404)."""

    status_code = 404
    error_code = "not_found"


class EngineUnavailable(StudioError):
    """An engine that cannot run here: missing package, pair or API key (HTTP 503)."""

    status_code = 503
    error_code = "engine_unavailable"


class EngineFailed(StudioError):
    """An engine was available but failed while working (HTTP 500, or 502 upstream)."""

    status_code = 500
    error_code = "engine_failed"


class TooBusy(StudioError):
    """Over the queue bound, a quota or a rate limit (HTTP 429); a retry after
    ``retry_after_s`` seconds can succeed."""

    status_code = 429
    error_code = "rate_limited"

    def __init__(
        self,
        detail: str,
        *,
        retry_after_s: float,
        error_code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail, errors=errors)
        self.retry_after_s = retry_after_s
        if error_code is not None:
            self.error_code = error_code
