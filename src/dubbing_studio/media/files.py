"""Temporary files that never outlive the work they serve, and outputs never seen half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def make_temp_file(dir: str | os.PathLike[str], prefix: str, suffix: str = "") -> tuple[int, Path]:
    """``tempfile.mkstemp`` with the permissions a plain ``open()`` would give (0666 less the
    umask) instead of 0600: these files are renamed into place as outputs, which a web server
    or a colleague in the same group must be able to read."""
    fd, name = tempfile.mkstemp(dir=dir, prefix=prefix, suffix=suffix)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    return fd, Path(name)


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
