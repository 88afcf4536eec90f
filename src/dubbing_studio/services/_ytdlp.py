"""yt-dlp reads pages through the studio's checked HTTP client, never its own network code."""

from __future__ import annotations

import io
from functools import cached_property
from typing import Any

import yt_dlp
from yt_dlp.networking.common import Request, RequestDirector, RequestHandler, Response
from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import DownloadError

from dubbing_studio.domain.errors import StudioError
from dubbing_studio.services.url_fetch import CheckedHttp, UrlFetchFailed, read_page

# One file, best audio when offered alone, over plain HTTP(S) (no HLS or DASH fragments).
FORMAT = "bestaudio[protocol^=http]/best[protocol^=http]"


class CheckedRH(RequestHandler):
    """A yt-dlp request handler that sends every request through ``CheckedHttp``."""

    _SUPPORTED_URL_SCHEMES = ("http", "https")
    _SUPPORTED_PROXY_SCHEMES = ()
    _SUPPORTED_FEATURES = ()
    http: CheckedHttp
    refusals: list[StudioError]

    def _check_extensions(self, extensions: dict[str, Any]) -> None:
        super()._check_extensions(extensions)
        for name in ("cookiejar", "timeout", "legacy_ssl", "keep_header_casing"):
            extensions.pop(name, None)

    def _send(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, bytes) else None
        try:
            final, answer, body = read_page(
                self.http, request.url, request.method, dict(request.headers), data
            )
        except StudioError as exc:
            self.refusals.append(exc)
            raise TransportError(exc.detail) from exc
        response = Response(io.BytesIO(body), final, dict(answer.headers), answer.status_code)
        if answer.status_code >= 400:
            raise HTTPError(response)
        return response


class _CheckedYoutubeDL(yt_dlp.YoutubeDL):
    def __init__(self, params: dict[str, Any], http: CheckedHttp) -> None:
        super().__init__(params)
        self.checked_http = http
        self.refusals: list[StudioError] = []

    @cached_property
    def _request_director(self) -> RequestDirector:
        director: RequestDirector = self.build_request_director([CheckedRH])
        for handler in director.handlers.values():
            handler.http = self.checked_http
            handler.refusals = self.refusals
        return director


def extract_info(http: CheckedHttp, url: str, timeout_s: float) -> dict[str, Any]:
    """What yt-dlp finds at ``url`` (no download, no playlist)."""
    params = {
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "skip_download": True,
        "format": FORMAT,
        "socket_timeout": timeout_s,
        "cachedir": False,
        "extractor_retries": 0,
        "proxy": "",
    }
    with _CheckedYoutubeDL(params, http) as ydl:
        try:
            info = ydl.extract_info(url, download=False)
        except DownloadError as exc:
            if ydl.refusals:
                raise ydl.refusals[0] from None
            message = str(exc).removeprefix("ERROR: ")
            raise UrlFetchFailed(f"No media found at the URL: {message}") from None
    return dict(ydl.sanitize_info(info) or {})
