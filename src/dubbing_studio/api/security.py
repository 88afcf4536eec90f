"""The HTTP edge's guards against browsers used as weapons, and signed media links.

- ``HostGuard``: answers only the host names it serves, so a DNS-rebinding page (whose origin
  is the attacker's name, resolved to this machine) gets a 400.
- ``OriginGuard``: on a studio without API keys, a state-changing request from another web
  page's origin (a cross-site "simple" form POST needs no CORS preflight) gets a 403.
- ``BodyLimit``: request bodies are capped while they stream; multipart uploads to the
  routes that parse them (``api/uploads.py``) have their own caps.
- ``MediaLinks``: ``<audio>``, ``<video>`` and download links cannot send an API key, so the
  API hands out media URLs signed with an expiry (``?exp=…&sig=…``), valid on GET only.

All are pure ASGI (not ``BaseHTTPMiddleware``) so streamed responses pass untouched, and
every refusal is the studio's usual ``{detail, error_code}`` body.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import math
import os
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dubbing_studio.api.errors import error_response
from dubbing_studio.config import Settings
from dubbing_studio.domain.errors import StudioError
from dubbing_studio.services.api_keys import KeyRing

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LINK_SECRET_FILE = "media-links.key"  # noqa: S105 - a file name
LINK_EXPIRY_STEP_S = 600  # expiries are rounded up to this, so a link is stable for a while
MAX_EXPIRY_DIGITS = 12


# --- hosts ------------------------------------------------------------------------------
def split_host(value: str) -> tuple[str, str | None]:
    """``"Example.com:8000"`` → ``("example.com", "8000")``; ``"[::1]:80"`` → ``("[::1]",
    "80")``. A trailing dot (fully qualified name) is dropped."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = value[: end + 1], value[end + 1 :]
        port = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        name, _, port_text = value.partition(":")
        port = port_text
    else:
        name, port = value, None
    return name.rstrip("."), port or None


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HostAllowList:
    """Host names the studio answers. An entry without a port allows any port; ``*`` any
    host; ``*.example.com`` its subdomains. Hosts that are IP addresses are always answered:
    a rebinding page's origin is a name (the attacker's), never this machine's address."""

    entries: tuple[tuple[str, str | None], ...]
    any_host: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> HostAllowList:
        names = [*LOCAL_HOSTS, settings.host, *settings.allowed_hosts]
        return cls(
            entries=tuple(split_host(name) for name in names if name != "*"),
            any_host="*" in settings.allowed_hosts,
        )

    def allows(self, host_header: str) -> bool:
        if self.any_host:
            return True
        name, port = split_host(host_header)
        if _is_ip_literal(name):
            return True
        for allowed, allowed_port in self.entries:
            if allowed_port is not None and allowed_port != port:
                continue
            if name == allowed or (allowed.startswith("*.") and name.endswith(allowed[1:])):
                return True
        return False


class HostGuard:
    """400 for a ``Host`` the studio does not serve (the DNS-rebinding guard). A request
    without ``Host`` passes: browsers always send one."""

    def __init__(self, app: ASGIApp, *, allowed: HostAllowList) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = Headers(scope=scope).get("host")
            if host is not None and not self.allowed.allows(host):
                response = error_response(
                    Request(scope),
                    400,
                    f"This studio does not serve the host {host[:100]!r} (DNS-rebinding "
                    "guard); if the name is yours, add it to DUBBING_STUDIO_ALLOWED_HOSTS.",
                    "invalid_host",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# --- origins ----------------------------------------------------------------------------
def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[not-an-address"
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class OriginGuard:
    """403 for a state-changing request sent by another site's page, while the studio has no
    API keys (with keys, a cross-site page has no key to send).

    A request is from another site when its ``Origin`` is neither this server's (the ``Host``
    it was sent to, already allow-listed) nor one of ``cors_origins``; without ``Origin``,
    when ``Sec-Fetch-Site`` says it is cross-site and its ``Referer`` is not allowed either.
    Requests with neither header (curl, SDKs, other servers) pass.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        cors_origins: Iterable[str],
        keys_configured: Callable[[], Awaitable[bool]],
    ) -> None:
        self.app = app
        normalized = {origin.rstrip("/").lower() for origin in cors_origins}
        self.any_origin = "*" in normalized
        self.origins = normalized - {"*"}
        self.keys_configured = keys_configured

    def _allowed(self, origin: str | None, host: str) -> bool:
        if origin is None:  # "null" (sandboxed frames, file: pages) or unparseable
            return False
        return self.any_origin or origin in self.origins or urlsplit(origin).netloc == host.lower()

    def _foreign_origin(self, headers: Headers) -> str | None:
        """The foreign origin a request comes from, or None when it may pass."""
        host = headers.get("host", "")
        origin = headers.get("origin")
        if origin is not None:
            return None if self._allowed(_origin_of(origin), host) else origin
        if headers.get("sec-fetch-site") not in ("cross-site", "same-site"):
            return None
        referer = headers.get("referer")
        referer_origin = _origin_of(referer) if referer else None
        if self._allowed(referer_origin, host):
            return None
        return referer_origin or "another site"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in STATE_CHANGING:
            foreign = self._foreign_origin(Headers(scope=scope))
            if foreign is not None and not await self.keys_configured():
                response = error_response(
                    Request(scope),
                    403,
                    f"Cross-origin request from {foreign[:100]!r} refused: this studio has no "
                    "API keys, so only its own page and DUBBING_STUDIO_CORS_ORIGINS may change "
                    "things.",
                    "cross_origin_refused",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# --- bodies -----------------------------------------------------------------------------
def streams_own_upload(scope: Scope) -> bool:
    """Whether the matched route parses a multipart upload itself, under its own caps: its
    OpenAPI request body is ``multipart/form-data`` (``multipart_body``)."""
    extra = getattr(scope.get("route"), "openapi_extra", None) or {}
    return "multipart/form-data" in extra.get("requestBody", {}).get("content", {})


def _route_limit(scope: Scope, default: int) -> int:
    """A plain ASGI route may carry its own cap as ``max_body_bytes`` (``/mcp``, whose
    requests may hold media inline)."""
    cap = getattr(scope.get("endpoint"), "max_body_bytes", None)
    return cap if isinstance(cap, int) else default


class BodyLimit:
    """413 for a body over ``max_bytes``: by ``Content-Length`` before any of it is read, else
    counted while it streams (chunked bodies). The cap is chosen when the body is first read,
    once routing has happened, so the upload routes keep their own caps."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> HTTPException:
        # Raised while the endpoint reads the body: FastAPI re-raises an HTTPException from
        # there as it is, and the app's handler gives it the usual error body.
        return HTTPException(
            413, f"The request body is larger than the {self.max_bytes // 1024} KB limit."
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit: int | None = -1  # not chosen yet
        received = 0

        async def limited_receive() -> Message:
            nonlocal limit, received
            if limit == -1:
                limit = None if streams_own_upload(scope) else _route_limit(scope, self.max_bytes)
                declared = Headers(scope=scope).get("content-length", "")
                if (
                    limit is not None
                    and declared.isascii()
                    and declared.isdigit()
                    and int(declared) > limit
                ):
                    raise self._too_large()
            message = await receive()
            if limit is not None and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise self._too_large()
            return message

        await self.app(scope, limited_receive, send)


# --- signed media links -----------------------------------------------------------------
MEDIA_ROUTES = frozenset(
    {
        "/api/v1/dubs/{dub_id}/outputs/{name}",
        "/api/v1/dubs/{dub_id}/input",
        "/api/v1/dubs/{dub_id}/segments/{segment_id}/audio",
    }
)
"""The routes a signed link may open (GET only)."""


class LinkExpired(StudioError):
    status_code = 401
    error_code = "link_expired"


class LinkForged(StudioError):
    status_code = 403
    error_code = "bad_signature"


class MediaLinks:
    """HMAC-SHA256 over (path, expiry): a link that plays and downloads without a key until it
    expires. The path is the app's own (without a proxy's root path)."""

    def __init__(
        self, secret: bytes, ttl_s: float, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self._clock = clock

    def _signature(self, path: str, expires: int) -> str:
        digest = hmac.new(self._secret, f"{path}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, path: str) -> str:
        step = min(LINK_EXPIRY_STEP_S, max(1, int(self.ttl_s)))
        expires = math.ceil((self._clock() + self.ttl_s) / step) * step
        return f"{path}?exp={expires}&sig={self._signature(path, expires)}"

    def verify(self, path: str, expires: str, signature: str) -> None:
        """Raises ``LinkForged`` (403) for a signature this studio did not make for ``path``
        and ``LinkExpired`` (401) for one past its expiry."""
        if not (expires.isascii() and expires.isdigit() and len(expires) <= MAX_EXPIRY_DIGITS):
            raise LinkForged("This media link is malformed.")
        if not hmac.compare_digest(signature, self._signature(path, int(expires))):
            raise LinkForged("This media link's signature is not valid for it.")
        if int(expires) < self._clock():
            raise LinkExpired("This media link has expired; reload the page for a fresh one.")


def app_path(scope: Scope) -> str:
    """The request path without the root path a proxy serves the app under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def is_media_request(request: Request) -> bool:
    route = request.scope.get("route")
    return request.method in ("GET", "HEAD") and getattr(route, "path", None) in MEDIA_ROUTES


def link_secret(settings: Settings) -> bytes:
    """The configured secret, else one made once in the data folder (mode 0600), so links
    survive a restart and every worker process signs alike."""
    if settings.media_link_secret is not None:
        return settings.media_link_secret.get_secret_value().encode()
    path = settings.data_dir / LINK_SECRET_FILE
    if not path.exists():
        _create_secret_file(path)
    text = path.read_text(encoding="ascii").strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(
            f"{path} does not hold a hex secret; delete it to make a new one."
        ) from None


def _create_secret_file(path: Path) -> None:
    """Written beside its place and linked into it: a second process racing this one never
    reads a half-written secret, and whichever links first wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".partial-")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32))
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(temp, path)
    finally:
        os.unlink(temp)


# --- wiring -----------------------------------------------------------------------------
def install_security(app: FastAPI, settings: Settings) -> KeyRing:
    """The guards (outermost: host, then origin, then body size), the key ring and the link
    signer on ``app.state``. The caller attaches the key store once it is open."""
    keyring = KeyRing([key.get_secret_value() for key in settings.api_keys])
    app.state.keyring = keyring
    app.state.media_links = MediaLinks(link_secret(settings), settings.media_link_ttl_s)
    app.add_middleware(BodyLimit, max_bytes=settings.limits.max_json_kb * 1024)
    app.add_middleware(
        OriginGuard, cors_origins=settings.cors_origins, keys_configured=keyring.enabled
    )
    app.add_middleware(HostGuard, allowed=HostAllowList.from_settings(settings))
    return keyring
