"""How ``media.untrusted`` gets the child process that reads one untrusted file.

Either way the child is a fresh process that runs the worker module once (``python -m
WORKER_MODULE '<request>'``), limits itself before reading, and dies with its parent:

- ``ChildPerCall`` starts a new Python for each file: about 0.2 CPU seconds of start-up
  (PyAV and NumPy imported anew). For one-off commands.
- ``ForkServer`` keeps one Python with them imported (``media.forkserver``), started on first
  use, and forks each child from it: about a hundredth of that. Long-running processes (the
  API, the workers) get one from ``bootstrap``, which closes it.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

WORKER_MODULE = "dubbing_studio.media.worker"
SERVER_MODULE = "dubbing_studio.media.forkserver"
SERVER_GRACE_S = 5.0  # how much later than the child's own deadline the server must answer


@dataclass(frozen=True, slots=True)
class ChildExit:
    """How a child ended: ``returncode`` as ``subprocess`` gives it (``-N``: signal N)."""

    returncode: int
    stdout: bytes
    stderr: bytes


class ChildTimedOut(Exception):
    """The child ran past its wall-clock time and was killed."""


class Sandbox(Protocol):
    def run(self, request: dict[str, Any], wall_s: float) -> ChildExit:
        """Run the worker on ``request`` in a fresh child, killed after ``wall_s``."""
        ...

    def close(self) -> None: ...


def child_environment() -> dict[str, str]:
    """One math thread: a many-core machine's BLAS would reserve memory per core at import,
    which the child's address-space limit would refuse."""
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


@dataclass(frozen=True, slots=True)
class ChildPerCall:
    """A new Python for each child."""

    worker_module: str = WORKER_MODULE

    def run(self, request: dict[str, Any], wall_s: float) -> ChildExit:
        try:
            done = subprocess.run(
                [sys.executable, "-m", self.worker_module, json.dumps(request)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=wall_s,
                env=child_environment(),
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise ChildTimedOut from e
        return ChildExit(done.returncode, done.stdout, done.stderr)

    def close(self) -> None:
        """Nothing is kept between children."""


class ForkServer:
    """Children forked from one pre-started server process (``media.forkserver``), which
    this object starts on first use, starts again if it died, and stops on ``close``. The
    server inherits this process's environment as it is then; it ends when this process
    does (the end of its request socket), and its children die with it. Thread-safe: many
    children may run at once."""

    def __init__(self, worker_module: str = WORKER_MODULE) -> None:
        self.worker_module = worker_module
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        with self._lock:
            running = self._process is not None and self._process.poll() is None
            return self._process.pid if running and self._process else None

    def run(self, request: dict[str, Any], wall_s: float) -> ChildExit:
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        exit_read, exit_write = socket.socketpair()
        try:
            try:
                order = json.dumps({"request": request, "wall_s": wall_s}).encode()
                self._send(order, [out_write, err_write, exit_write.fileno()])
            finally:
                os.close(out_write)
                os.close(err_write)
                exit_write.close()
            return self._collect(out_read, err_read, exit_read, wall_s + SERVER_GRACE_S)
        finally:
            os.close(out_read)
            os.close(err_read)
            exit_read.close()

    def close(self) -> None:
        """Stop the server (and any child still running)."""
        with self._lock:
            self._stop()

    def _send(self, order: bytes, fds: list[int]) -> None:
        with self._lock:
            for attempt in (1, 2):
                if self._process is not None and self._process.poll() is not None:
                    log.warning("media fork server ended (%s)", self._process.returncode)
                    self._stop()
                if self._control is None:
                    self._start()
                assert self._control is not None
                try:
                    socket.send_fds(self._control, [order], fds)
                    return
                except OSError:  # it ended just now: once more, with a new one
                    self._stop()
                    if attempt == 2:
                        raise

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE, self.worker_module, str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=child_environment(),
                pass_fds=(theirs.fileno(),),
            )
        self._control = ours

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()  # the server's end of requests: it stops
            self._control = None
        if self._process is not None:
            try:
                self._process.wait(timeout=SERVER_GRACE_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def _collect(
        self, out: int, err: int, exit_socket: socket.socket, within_s: float
    ) -> ChildExit:
        """The child's output and the server's word on how it ended; a server that does not
        answer in time is stopped (and its children with it)."""
        received: dict[int, bytearray] = {out: bytearray(), err: bytearray()}
        exit_line = bytearray()
        deadline = time.monotonic() + within_s
        with selectors.DefaultSelector() as selector:
            for fd in (out, err, exit_socket.fileno()):
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    log.warning("media fork server did not answer in %.0f s; stopping it", within_s)
                    self.close()
                    raise ChildTimedOut
                for key, _ in selector.select(left):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fd)
                    elif key.fd == exit_socket.fileno():
                        exit_line += chunk
                    else:
                        received[key.fd] += chunk
        if not exit_line:  # the server died meanwhile: so did the child (SIGKILL)
            log.warning("media fork server ended while a child ran")
            return ChildExit(-signal.SIGKILL, bytes(received[out]), bytes(received[err]))
        ended = json.loads(exit_line)
        if ended["timed_out"]:
            raise ChildTimedOut
        return ChildExit(ended["returncode"], bytes(received[out]), bytes(received[err]))
