"""The studio web page: static ES modules served by the studio itself (no CDN, no build step).

``mount_studio`` adds three things to an app:

- ``GET /studio`` and ``/studio/``: the page (``static/index.html``) with its asset and API
  paths under the app's ``root_path``, and a Content-Security-Policy for this origin only;
- ``/studio/static/...``: the page's scripts, styles and icon;
- a browser asking for ``/`` (``Accept`` includes ``text/html``) is redirected to the page;
  every other client keeps the seed's JSON root document.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import Headers
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"
PAGE_PATH = "/studio"
BASE_MARKER = "__STUDIO_BASE__"  # -> "{root_path}/studio/" (where the assets are)
ROOT_MARKER = "__STUDIO_ROOT__"  # -> "{root_path}/" (where the API is)

# Everything the page loads comes from the studio; media may also be blobs of re-voiced lines.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class _RevalidatedStaticFiles(StaticFiles):
    """Static files that browsers revalidate (ETag) on every load, so an upgraded studio is
    never run with a stale mix of old and new modules."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "no-cache")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


class BrowserRootRedirect:
    """ASGI middleware: ``GET``/``HEAD /`` from a browser goes to the studio page.

    Pure ASGI (not ``BaseHTTPMiddleware``) so streamed responses such as Server-Sent Events
    pass through untouched.
    """

    def __init__(self, app: ASGIApp, target: str = PAGE_PATH) -> None:
        self.app = app
        self.target = target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/"
            and scope["method"] in ("GET", "HEAD")
            and wants_html(Headers(scope=scope).get("accept", ""))
        ):
            location = scope.get("root_path", "") + self.target
            await RedirectResponse(location, status_code=307)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def wants_html(accept: str) -> bool:
    """True when an ``Accept`` header names HTML explicitly (browsers' navigations do;
    ``*/*`` from curl or HTTP libraries does not)."""
    for part in accept.split(","):
        media_type, *params = (p.strip() for p in part.split(";"))
        if media_type.lower() not in ("text/html", "application/xhtml+xml"):
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            return True
    return False


def mount_studio(app: FastAPI) -> None:
    """Serve the studio page and its assets from ``app``; call once from the app factory."""
    template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    async def page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/") + "/"
        html = template.replace(BASE_MARKER, root + PAGE_PATH.lstrip("/") + "/")
        return HTMLResponse(html.replace(ROOT_MARKER, root), headers=PAGE_HEADERS)

    for path in (PAGE_PATH, PAGE_PATH + "/"):
        app.add_api_route(path, page, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount(
        PAGE_PATH + "/static",
        _RevalidatedStaticFiles(directory=STATIC_DIR),
        name="studio-static",
    )
    app.add_middleware(BrowserRootRedirect)
