"""Persistent dub jobs: the store (SQLite or PostgreSQL) and its migrations."""

from dubbing_studio.jobs.store import DubStore

__all__ = ["DubStore"]
