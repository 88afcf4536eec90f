"""Who a request counts against, and the rate limit of the request-priced endpoints."""

from __future__ import annotations

from fastapi import Depends, Request

from dubbing_studio.services.quotas import RateLimiter


def client_id(request: Request) -> str:
    """The client that quotas and rate limits count: the API key's id, which authentication
    (``require_api_key``, on every router these endpoints sit on) records when keys are on,
    else the client's address. Behind a proxy every address is the proxy's: one client."""
    known = getattr(request.state, "client_id", None)
    if known:
        return str(known)
    return f"addr:{request.client.host if request.client else 'unknown'}"


async def _rate_limit(request: Request) -> None:
    """Async, so buckets are only touched from the event loop's thread."""
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.check(client_id(request))


RateLimited = Depends(_rate_limit)
"""Dependency of the endpoints whose requests cost engine time: 429 over the client's rate."""
