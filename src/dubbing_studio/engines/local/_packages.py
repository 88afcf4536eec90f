"""Finding data shipped inside installed packages, without importing them, and joining models
that ship split across several packages.

Model packages are located with ``importlib.util.find_spec`` so that ``info()`` stays cheap and
no site-packages path is ever hard-coded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dubbing_studio.domain.errors import EngineUnavailable


def package_dir(name: str) -> Path | None:
    """The folder of an installed top-level package, or None when it is not installed."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def missing_packages(*names: str) -> list[str]:
    """Which of the named packages (import names) are not installed."""
    return [name for name in names if package_dir(name) is None]


def join_parts(parts: list[Path], target: Path, sha256: str | None = None) -> Path:
    """``target`` as the concatenation of ``parts``, written once.

    Written beside the target and renamed, so a crash or a second process never sees a half
    written file; with ``sha256``, a join whose digest differs is discarded and refused.
    A target of the right size is taken as already joined.
    """
    size = sum(part.stat().st_size for part in parts)
    if target.is_file() and target.stat().st_size == size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f"{target.name}.")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise EngineUnavailable(
                f"{target.name} assembled with sha256 {digest.hexdigest()}, expected {sha256}: "
                "its packages are damaged or not the pinned versions; reinstall them."
            )
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


@contextlib.contextmanager
def assembly_lock(folder: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``folder`` across processes (workers sharing one data folder
    start at once), for assemblers that write to a fixed temp name of their own."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".assembly.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
