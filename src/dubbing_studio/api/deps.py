"""FastAPI dependencies: the studio built by the app factory, and optional API keys."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, Field

from dubbing_studio import media
from dubbing_studio.api.security import MediaLinks, app_path, is_media_request
from dubbing_studio.api.uploads import Form, FormLimits, Upload, form_from, upload_from
from dubbing_studio.domain.errors import StudioError
from dubbing_studio.services.api_keys import KeyRing
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


async def require_api_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key_header)],
) -> None:
    """When the studio has API keys (environment or store), demand one (Bearer or X-API-Key)
    and record whose it is in ``request.state.client_id``; a GET of a media file may instead
    carry a signed link (``?exp=…&sig=…``) from the API's ``signed_url``/``signed_links``."""
    keyring: KeyRing = request.app.state.keyring
    if not await keyring.enabled():
        return
    offered = (bearer.credentials if bearer else None) or header_key
    if offered:
        client_id = await keyring.client_id(offered)
        if client_id is None:
            raise Unauthorized("This API key is not valid (unknown or revoked).")
        request.state.client_id = client_id
        return
    expires, signature = request.query_params.get("exp"), request.query_params.get("sig")
    if expires is not None and signature is not None and is_media_request(request):
        links: MediaLinks = request.app.state.media_links
        links.verify(app_path(request.scope), expires, signature)
        return
    raise Unauthorized("A valid API key is required (Authorization: Bearer <key>).")


def receive_media(request: Request, studio: Studio) -> AbstractAsyncContextManager[Upload]:
    """The request's ``file`` part streamed to the temp folder under the configured cap."""
    settings = studio.settings
    return upload_from(
        request,
        temp_dir=settings.temp_dir,
        max_bytes=settings.max_upload_bytes,
        sniff=media.sniff,
        form_limits=FormLimits.from_settings(settings.limits),
    )


SUBTITLE_FIELDS = frozenset({"transcript", "translation"})


def receive_dub_form(request: Request, studio: Studio) -> AbstractAsyncContextManager[Form]:
    """A new dub's form: its media ``file`` (optional: a ``url`` may name it instead) and
    subtitle files in the ``transcript``/``translation`` fields."""
    settings = studio.settings
    return form_from(
        request,
        temp_dir=settings.temp_dir,
        max_bytes=settings.max_upload_bytes,
        sniff=media.sniff,
        form_limits=FormLimits.from_settings(settings.limits, SUBTITLE_FIELDS),
    )


def multipart_body(description: str, **fields: Mapping[str, object]) -> dict[str, object]:
    """OpenAPI ``requestBody`` for routes that parse multipart themselves (streaming)."""
    return form_body(description, ("file",), fields)


def form_body(
    description: str, required: tuple[str, ...], fields: Mapping[str, Mapping[str, object]]
) -> dict[str, object]:
    """``multipart_body`` where the ``required`` fields are named (the file may be optional)."""
    properties: dict[str, object] = {
        "file": {"type": "string", "format": "binary", "description": description}
    }
    properties.update(fields)
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": list(required),
                        "properties": properties,
                    }
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
