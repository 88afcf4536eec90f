"""Temporary files that never outlive the work they serve, and outputs never seen half-written."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def make_temp_file(dir: str | os.PathLike[str], prefix: str, suffix: str = "") -> tuple[int, Path]:
    """``tempfile.mkstemp`` with the permissions a plain ``open()`` would give (0666 less the
    umask) instead of 0600: these files are renamed into place as outputs, which a web server
    or a colleague in the same group must be able to read."""
    fd, name = tempfile.mkstemp(dir=dir, prefix=prefix + owner_tag(), suffix=suffix)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    return fd, Path(name)


def owner_tag() -> str:
    """This process in a temp file's name (``host~pid~``): on storage that processes of
    several machines share, a clean-up then removes only what dead processes of its own
    machine left, never another process's write in flight."""
    return f"{socket.gethostname()}~{os.getpid()}~"


def left_by_dead_process(path: Path) -> bool:
    """A temp file named by ``owner_tag`` whose process, on this machine, is gone."""
    host, _, rest = path.name.partition("-")[2].partition("~")
    pid = rest.partition("~")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def current_umask() -> int:
    """The process umask, read without changing it (``os.umask`` can only be read by setting
    it, which would race with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc (not Linux): read it the racy way
    os.umask(mask)
    return mask


@contextmanager
def temp_path(dir: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """A fresh, empty file in ``dir`` (mode as ``open()`` would make it), removed on exit
    even after an error.

    Renaming it away inside the block is fine: there is then nothing left to remove. A name
    starting with a dot keeps it out of folder listings while it is being written.
    """
    fd, path = make_temp_file(dir, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
