"""Wakes this API node's SSE streams when any process stores an event: the store sends a
PostgreSQL NOTIFY with the job id in the transaction that adds the event, and a thread here
LISTENs. The events stay in the store, so a stream resumed with Last-Event-ID on another
node misses nothing; a notification only says "look again"."""

from __future__ import annotations

import asyncio
import logging
import threading

import psycopg
from sqlalchemy.engine import make_url

from dubbing_studio.jobs.store import EVENTS_CHANNEL
from dubbing_studio.services.events import EventHub

log = logging.getLogger(__name__)
RECONNECT_S = 1.0


class EventRelay:
    def __init__(self, database_url: str, hub: EventHub, loop: asyncio.AbstractEventLoop):
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._hub = hub
        self._loop = loop
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="event-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _listen(self) -> None:
        while not self._stopped.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as connection:
                    connection.execute(f"LISTEN {EVENTS_CHANNEL}")
                    while not self._stopped.is_set():
                        for note in connection.notifies(timeout=1.0):
                            self._loop.call_soon_threadsafe(self._hub.notify, note.payload)
            except psycopg.Error as exc:  # a database restart: streams poll until it is back
                log.warning("Event notifications lost (%s); reconnecting", exc)
                self._stopped.wait(RECONNECT_S)
