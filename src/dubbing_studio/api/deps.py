"""FastAPI dependencies: the studio built by the app factory, and optional API keys."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, Field

from dubbing_studio import media
from dubbing_studio.api.uploads import Upload, upload_from
from dubbing_studio.domain.errors import StudioError
from dubbing_studio.services.studio import Studio


class Unauthorized(StudioError):
    status_code = 401
    error_code = "unauthorized"


def get_studio(request: Request) -> Studio:
    studio: Studio = request.app.state.studio
    return studio


StudioDep = Annotated[Studio, Depends(get_studio)]

_bearer = HTTPBearer(auto_error=False)
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def require_api_key(
    studio: StudioDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key_header)],
) -> None:
    """When API keys are configured, demand one (Bearer or X-API-Key), compared in constant
    time against every configured key so timing reveals neither which nor how much matched."""
    keys = studio.settings.api_keys
    if not keys:
        return
    offered = (bearer.credentials if bearer else None) or header_key or ""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(offered.encode(), key.get_secret_value().encode())
    if not matched:
        raise Unauthorized("A valid API key is required (Authorization: Bearer <key>).")


def receive_media(request: Request, studio: Studio) -> AbstractAsyncContextManager[Upload]:
    """The request's ``file`` part streamed to the temp folder under the configured cap."""
    return upload_from(
        request,
        temp_dir=studio.settings.temp_dir,
        max_bytes=studio.settings.max_upload_bytes,
        sniff=media.sniff,
    )


def multipart_body(description: str, **fields: Mapping[str, object]) -> dict[str, object]:
    """OpenAPI ``requestBody`` for routes that parse multipart themselves (streaming)."""
    properties: dict[str, object] = {
        "file": {"type": "string", "format": "binary", "description": description}
    }
    properties.update(fields)
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "required": ["file"], "properties": properties}
                }
            },
        }
    }


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


MAX_TEXT_CHARS = 50_000
# The schema says "some non-space character" (clients and schemathesis generate from it); the
# validator says so in words.
_SOME_TEXT = Field(json_schema_extra={"pattern": r"\S"})
NonBlank = Annotated[str, _SOME_TEXT, AfterValidator(_not_blank)]
SpokenText = Annotated[
    str, Field(max_length=MAX_TEXT_CHARS), _SOME_TEXT, AfterValidator(_not_blank)
]
"""Text to translate or speak: up to 50,000 characters (the seed's UI limit), not blank."""
