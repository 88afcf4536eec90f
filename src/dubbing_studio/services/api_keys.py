"""API keys: minting them, managing them (CLI), and checking them on every request (API).

Two sources of keys: the environment list (``DUBBING_STUDIO_API_KEYS``, compared in constant
time) and the store (``dubbing-studio keys add``), where only the SHA-256 of each key is
kept; an offered key is hashed and looked up by its hash, so the comparison reveals nothing
through timing. Authentication is on as soon as either source has a key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio.to_thread

from dubbing_studio.domain.errors import InvalidInput, NotFound
from dubbing_studio.domain.keys import ApiKey

if TYPE_CHECKING:  # the store's SQLAlchemy is 0.5 s to import; the CLI's dub never needs it
    from dubbing_studio.jobs.store import ApiKeyStore

KEY_PREFIX = "ds_"
KEY_BYTES = 32
SHOWN_PREFIX_CHARS = 10  # "ds_" and 7 characters of the key: enough to tell keys apart
MAX_NAME_CHARS = 200
CACHE_TTL_S = 3.0  # how stale "are there keys?" and a key's validity may be (revocation lag)
MAX_CACHED_KEYS = 1024
MARK_USED_EVERY_S = 60.0


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def env_client_id(key: str) -> str:
    """A stable id for an environment key that does not reveal it."""
    return f"env:{hash_key(key)[:12]}"


@dataclass(frozen=True)
class NewKey:
    """A key just made: ``secret`` is shown once and never stored."""

    key: ApiKey
    secret: str


def create_key(store: ApiKeyStore, name: str) -> NewKey:
    name = name.strip()
    if not name:
        raise InvalidInput("Give the key a name (who or what uses it).")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"A key's name is at most {MAX_NAME_CHARS} characters.")
    secret = KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)
    stored = store.add(
        key_id=secrets.token_hex(8),
        name=name,
        key_hash=hash_key(secret),
        prefix=secret[:SHOWN_PREFIX_CHARS],
    )
    return NewKey(stored, secret)


def revoke_key(store: ApiKeyStore, key_id: str) -> ApiKey:
    revoked = store.revoke(key_id)
    if revoked is None:
        raise NotFound(f"No API key has the id {key_id!r} (see `dubbing-studio keys list`).")
    return revoked


class KeyRing:
    """Answers "is authentication on?" and "whose key is this?" for the HTTP shell.

    Both answers are cached for a few seconds, so a request costs no database query while a
    revoked key stops working within ``CACHE_TTL_S``. The store is attached once it is open
    (the app's start-up); until then only the environment's keys count.
    """

    def __init__(
        self,
        env_keys: Sequence[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        ttl_s: float = CACHE_TTL_S,
    ) -> None:
        self._env = [(key.encode(), env_client_id(key)) for key in env_keys]
        self._store: ApiKeyStore | None = None
        self._clock = clock
        self._ttl_s = ttl_s
        self._any_stored: tuple[bool, float] | None = None
        self._by_hash: dict[str, tuple[str | None, float]] = {}
        self._last_marked: dict[str, float] = {}

    def attach(self, store: ApiKeyStore) -> None:
        self._store = store
        self._any_stored = None
        self._by_hash.clear()

    async def enabled(self) -> bool:
        if self._env:
            return True
        if self._store is None:
            return False
        now = self._clock()
        if self._any_stored is None or self._any_stored[1] <= now:
            found = await anyio.to_thread.run_sync(self._store.any_active)
            self._any_stored = (found, now + self._ttl_s)
        return self._any_stored[0]

    async def client_id(self, offered: str) -> str | None:
        """The stable id of the client whose key ``offered`` is (``env:…`` or the stored
        key's id), or None when it is no valid key."""
        matched: str | None = None
        offered_bytes = offered.encode()
        for key, client in self._env:  # every key compared: timing tells nothing
            if hmac.compare_digest(offered_bytes, key):
                matched = client
        if matched is not None or self._store is None or not offered:
            return matched
        return await self._stored_client(hash_key(offered))

    async def _stored_client(self, key_hash: str) -> str | None:
        assert self._store is not None
        now = self._clock()
        cached = self._by_hash.get(key_hash)
        if cached is not None and cached[1] > now:
            return cached[0]
        key = await anyio.to_thread.run_sync(self._store.find_active, key_hash)
        if len(self._by_hash) >= MAX_CACHED_KEYS:  # wrong keys sprayed at the server
            self._by_hash.clear()
        self._by_hash[key_hash] = (None if key is None else key.id, now + self._ttl_s)
        last_marked = None if key is None else self._last_marked.get(key.id)
        if key is not None and (last_marked is None or now - last_marked >= MARK_USED_EVERY_S):
            self._last_marked[key.id] = now
            await anyio.to_thread.run_sync(self._store.mark_used, key.id, datetime.now(UTC))
        return None if key is None else key.id
