"""The MCP server at ``/mcp`` of the API (streamable HTTP), behind the API's keys.

The app's Host and Origin guards run before this route as before any other; the SDK's own
DNS-rebinding check is off, since it would only repeat them with a narrower host list. A
session is bound to the key that opened it: the SDK refuses a session id presented with
another key.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from dubbing_studio.api.errors import error_response
from dubbing_studio.mcp_server.server import StudioMcp
from dubbing_studio.services.api_keys import KeyRing

MCP_PATH = "/mcp"
JSON_RPC_OVERHEAD = 64 * 1024  # a request's envelope around inline media


class McpEndpoint:
    """An API key (``Authorization: Bearer`` or ``X-API-Key``) when the studio has keys,
    then the SDK's transport. ``max_body_bytes`` is this route's body cap (``BodyLimit``):
    requests may carry media inline."""

    def __init__(self, server: StudioMcp, keyring: KeyRing, max_body_bytes: int) -> None:
        self.server = server
        self.keyring = keyring
        self.max_body_bytes = max_body_bytes

    def serving(self) -> AbstractAsyncContextManager[None]:
        """Run the sessions for one app lifespan (a session manager runs only once)."""
        self.server.streamable_http_app(  # makes a fresh session manager
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            max_request_body_size=self.max_body_bytes,
        )
        return self.server.session_manager.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if await self.keyring.enabled():
            headers = Headers(scope=scope)
            scheme, _, token = headers.get("authorization", "").partition(" ")
            offered = (token.strip() if scheme.lower() == "bearer" else "") or headers.get(
                "x-api-key", ""
            )
            client = await self.keyring.client_id(offered) if offered else None
            if client is None:
                response = error_response(
                    Request(scope),
                    401,
                    "A valid API key is required (Authorization: Bearer <key>).",
                    "unauthorized",
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["client_id"] = client  # quotas, rate limits
            scope["user"] = AuthenticatedUser(AccessToken(token="", client_id=client, scopes=[]))
        await self.server.session_manager.handle_request(scope, receive, send)


class _McpRoute(Route):
    """Records itself as the request's route, as FastAPI's routes do: the metrics count
    requests by their route's path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def mount_mcp(
    app: FastAPI, server: StudioMcp, keyring: KeyRing, max_inline_bytes: int
) -> McpEndpoint:
    """Serve ``server`` at ``/mcp``; the app's lifespan must run the endpoint's ``serving``."""
    max_body = (max_inline_bytes + 2) // 3 * 4 + JSON_RPC_OVERHEAD
    endpoint = McpEndpoint(server, keyring, max_body)
    app.router.routes.append(_McpRoute(MCP_PATH, endpoint, include_in_schema=False))
    return endpoint
