"""API keys as the studio keeps them: a name, a recognisable prefix, never the key itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key; only the SHA-256 of the secret is kept, so a leaked database grants
    nothing."""

    id: str
    name: str
    prefix: str  # the key's first characters, so a person can tell keys apart in a list
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None
