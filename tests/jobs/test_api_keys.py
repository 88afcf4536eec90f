"""API keys in the store, and the key ring that checks them on requests: hashed at rest,
revocation within seconds, the "are there keys?" answer cached."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from dubbing_studio.domain.errors import InvalidInput, NotFound
from dubbing_studio.jobs.store import ApiKeyStore, DubStore
from dubbing_studio.services.api_keys import (
    CACHE_TTL_S,
    KeyRing,
    create_key,
    env_client_id,
    hash_key,
    revoke_key,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keys(store: DubStore) -> ApiKeyStore:
    return ApiKeyStore(store)


def test_keys_are_stored_as_hashes_only(keys: ApiKeyStore, store: DubStore) -> None:
    made = create_key(keys, "  ci runner ")
    assert made.secret.startswith("ds_") and len(made.secret) > 40
    assert made.key.name == "ci runner" and made.key.prefix == made.secret[:10]
    engine = create_engine(store.url)
    with engine.connect() as connection:
        rows = [tuple(map(str, row)) for row in connection.execute(text("SELECT * FROM api_keys"))]
    engine.dispose()
    assert len(rows) == 1
    assert not any(made.secret in value for value in rows[0])
    assert hash_key(made.secret) in rows[0]
    assert [k.id for k in keys.list()] == [made.key.id]
    with pytest.raises(InvalidInput):
        create_key(keys, "   ")
    with pytest.raises(NotFound):
        revoke_key(keys, "no-such-id")


async def test_the_key_ring_finds_keys_and_revocation_lands_within_the_cache_time(
    keys: ApiKeyStore,
) -> None:
    clock = Clock()
    ring = KeyRing([], clock=clock)
    ring.attach(keys)
    assert not await ring.enabled()
    made = create_key(keys, "app")
    assert not await ring.enabled()  # cached "no keys" until the cache time passes
    clock.now += CACHE_TTL_S + 0.1
    assert await ring.enabled()

    assert await ring.client_id(made.secret) == made.key.id
    assert await ring.client_id(made.secret + "x") is None
    assert await ring.client_id("") is None
    assert keys.list()[0].last_used_at is not None

    revoke_key(keys, made.key.id)
    assert keys.list()[0].revoked_at is not None
    clock.now += CACHE_TTL_S + 0.1
    assert await ring.client_id(made.secret) is None
    assert not await ring.enabled()


async def test_environment_keys_need_no_store() -> None:
    ring = KeyRing(["first-key", "second-key"])
    assert await ring.enabled()
    assert await ring.client_id("second-key") == env_client_id("second-key")
    assert env_client_id("second-key").startswith("env:")
    assert "second" not in env_client_id("second-key")
    assert await ring.client_id("second") is None
    assert await ring.client_id("") is None
