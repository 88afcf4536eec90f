"""The media fork server: ``python -m dubbing_studio.media.forkserver WORKER_MODULE FD``, started
by ``media.sandbox.ForkServer``, one per process that reads uploads.

Starting a Python that imports PyAV and NumPy costs about 0.2 CPU seconds; forking one that
has them imported costs about a hundredth of that. So this process imports them once, then
for each request forks a child that runs ``WORKER_MODULE`` as ``python -m`` would (the worker
sets its own limits before touching the file), for that request only, and exits. It stays
single-threaded (so forking is safe) and parses no media itself.

Requests arrive on ``FD``, a SOCK_SEQPACKET socket: one JSON message (``request``, the
worker's argument, and ``wall_s``) with three descriptors, the child's stdout and stderr and
a socket for its exit (one JSON line: ``returncode`` as ``subprocess`` gives it,
``timed_out``). A child still running after ``wall_s`` is killed. The end of ``FD`` (the
requesting process closed it, or died) ends this server, and its children with it (they die
with their parent).
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from typing import NoReturn

MAX_MESSAGE = 1 << 20
_PRELOADED = (  # what the worker imports after limiting itself, imported here once
    "av",
    "numpy",
    "dubbing_studio.domain.errors",
    "dubbing_studio.media.decode",
    "dubbing_studio.media.floatwav",
    "dubbing_studio.media.probe",
)


@dataclass(slots=True)
class _Child:
    pid: int
    pidfd: int
    exit_socket: socket.socket
    deadline: float
    timed_out: bool = False


def serve(worker_module: str, control_fd: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is for the parent
    for name in (*_PRELOADED, worker_module):
        __import__(name)
    control = socket.socket(fileno=control_fd)
    children: dict[int, _Child] = {}
    with selectors.DefaultSelector() as selector:
        selector.register(control, selectors.EVENT_READ)
        while True:
            deadlines = [child.deadline for child in children.values() if not child.timed_out]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for key, _ in selector.select(timeout):
                if key.fileobj is control:
                    message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 3)
                    if not message:  # the requesting process is gone
                        _stop_all(children)
                        return
                    child = _start(worker_module, message, fds)
                    children[child.pidfd] = child
                    selector.register(child.pidfd, selectors.EVENT_READ)
                else:
                    child = children.pop(key.fd)
                    selector.unregister(key.fd)
                    _report(child)
            now = time.monotonic()
            for child in children.values():
                if not child.timed_out and child.deadline <= now:
                    os.kill(child.pid, signal.SIGKILL)  # not reaped yet: still ours
                    child.timed_out = True


def _start(worker_module: str, message: bytes, fds: list[int]) -> _Child:
    out, err, exit_fd = fds
    order = json.loads(message)
    request = {**order["request"], "parent": os.getpid()}  # its parent is this server
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _run_worker(worker_module, json.dumps(request), out, err)
    os.close(out)
    os.close(err)
    return _Child(
        pid=pid,
        pidfd=os.pidfd_open(pid),
        exit_socket=socket.socket(fileno=exit_fd),
        deadline=time.monotonic() + float(order["wall_s"]),
    )


def _run_worker(worker_module: str, request: str, out: int, err: int) -> NoReturn:
    """In the forked child: stdout and stderr to the requester's pipes, no other descriptor
    kept, then the worker as ``python -m worker_module request``."""
    code = 1
    try:
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.argv = [worker_module, request]
        runpy.run_module(worker_module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _report(child: _Child) -> None:
    _, status = os.waitpid(child.pid, 0)
    os.close(child.pidfd)
    exit = {"returncode": os.waitstatus_to_exitcode(status), "timed_out": child.timed_out}
    with child.exit_socket, contextlib.suppress(OSError):  # the requester gave up waiting
        child.exit_socket.sendall(json.dumps(exit).encode() + b"\n")


def _stop_all(children: dict[int, _Child]) -> None:
    for child in children.values():
        os.kill(child.pid, signal.SIGKILL)
        _report(child)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
