"""Who a request counts against, and the rate limit of the request-priced endpoints."""

from __future__ import annotations

import hashlib

from fastapi import Depends, Request

from dubbing_studio.services.quotas import RateLimiter


def client_id(request: Request) -> str:
    """The client that quotas and rate limits count: the API key's id when authentication
    named it, else (with keys configured, so the key offered was valid) a hash of the key,
    else the client's address. Behind a proxy every address is the proxy's: one client."""
    known = getattr(request.state, "client_id", None)
    if known:
        return str(known)
    if request.app.state.studio.settings.api_keys and (key := _offered_key(request)):
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"addr:{request.client.host if request.client else 'unknown'}"


def _offered_key(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key") or None


async def _rate_limit(request: Request) -> None:
    """Async, so buckets are only touched from the event loop's thread."""
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.check(client_id(request))


RateLimited = Depends(_rate_limit)
"""Dependency of the endpoints whose requests cost engine time: 429 over the client's rate."""
