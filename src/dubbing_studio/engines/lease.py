"""A model held in memory while in use and released after it has been idle a while.

Loading Whisper or a TTS model costs seconds and hundreds of MB; concurrent requests share one
copy, and a server that goes quiet gives the memory back (``reap`` is called periodically).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class ModelLease(Generic[T]):
    """Loads ``load()`` on first use, counts users, unloads after ``idle_ttl_s`` unused."""

    def __init__(
        self,
        load: Callable[[], T],
        *,
        idle_ttl_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._idle_ttl_s = idle_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._model: T | None = None
        self._users = 0
        self._last_used = 0.0
        self.loads = 0

    @contextmanager
    def use(self) -> Iterator[T]:
        """Borrow the model, loading it if needed; it stays loaded while borrowed."""
        with self._lock:
            model = self._loaded()
            self._users += 1
        try:
            yield model
        finally:
            with self._lock:
                self._users -= 1
                self._last_used = self._clock()

    def warm(self) -> None:
        """Load the model now if it is not loaded, so no caller waits for it; idempotent."""
        with self._lock:
            if self._model is None:
                self._loaded()
                self._last_used = self._clock()  # its idle time starts now

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def _loaded(self) -> T:
        """The model, loaded if it is not (the lock held)."""
        if self._model is None:
            self._model = self._load()
            self.loads += 1
        return self._model

    def reap(self) -> bool:
        """Unload when nobody uses the model and it has idled past the TTL; True if it did."""
        with self._lock:
            idle = self._clock() - self._last_used
            if self._model is not None and self._users == 0 and idle >= self._idle_ttl_s:
                self._model = None
                return True
        return False
