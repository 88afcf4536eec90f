"""Dubs on worker processes: Dramatiq on Redis carries the work, PostgreSQL holds jobs,
leases and events, and every node mounts the same data folder. The embedded default (one
process, SQLite, ``jobs.runner.InProcessRunner``) needs none of this."""
