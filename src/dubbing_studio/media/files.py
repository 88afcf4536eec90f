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
    """This process in a temp file's name (``host~pid~start~``): on storage that processes of
    several machines share, a clean-up then removes only what dead processes of its own
    machine left, never another process's write in flight."""
    return f"{process_tag(os.getpid())}~"


def process_tag(pid: int) -> str | None:
    """A process of this machine as ``host~pid~start``, its start time telling it apart
    from a later process given the same pid (a restarted container's); None when no
    process has that pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()  # the name in it may be any bytes
        started = stat.rsplit(b")", 1)[1].split()[19].decode()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:  # no /proc here: whether the pid is alive must do
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # alive, another user's
            pass
        started = "?"
    return f"{socket.gethostname()}~{pid}~{started}"


def process_gone(tag: str) -> bool:
    """Whether the process named at the start of ``tag`` (``host~pid~start~…``, as
    ``owner_tag`` writes it) has ended on this machine; another machine's are unknown here."""
    host, _, rest = tag.partition("~")
    pid = rest.partition("~")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    current = process_tag(int(pid))
    if tag.count("~") < 3:  # ``host~pid~…`` from a version that did not note the start
        return current is None
    return current is None or not tag.startswith(f"{current}~")


def left_by_dead_process(path: Path) -> bool:
    """A temp file named by ``owner_tag`` whose process, on this machine, is gone."""
    return process_gone(path.name.partition("-")[2])


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
