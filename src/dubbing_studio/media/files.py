"""Temporary files that never outlive the work they serve, and outputs never seen half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def temp_path(dir: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """A fresh, empty, private file in ``dir``, removed on exit even after an error.

    Renaming it away inside the block is fine: there is then nothing left to remove. A name
    starting with a dot keeps it out of folder listings while it is being written.
    """
    fd, name = tempfile.mkstemp(dir=dir, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
