"""Content-addressed artifacts: every stage output is stored under a key derived from all of
its inputs (engine, model, parameters, input digests), so a rerun after a crash or an edit
finds what is still valid and recomputes only what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.media.files import left_by_dead_process, make_temp_file


def digest_file(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in chunks (inputs can be gigabytes)."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            sha.update(block)
    return sha.hexdigest()


def artifact_key(stage: str, **inputs: Any) -> str:
    """A stable key for a stage's output: canonical JSON of its name and inputs, hashed."""
    canonical = json.dumps({"stage": stage, **inputs}, sort_keys=True, default=str)
    return f"{stage}-{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


UseCallback = Callable[[Sequence[Path]], None]
"""Told artifacts' paths, relative to the store's root, before the artifacts are used."""


class ArtifactStore:
    """Files under ``root/<2 chars>/<key>.<ext>``, written atomically (temp file + rename).

    A ``tracking`` view tells its caller of every artifact a run touches, before it is read
    or written, so deleting a project can remove what only it used and keep what other
    projects (and runs in progress elsewhere) use. Telling is a database write: code on an
    event loop tells ahead, off the loop (``DubContext.use``), and ``path`` then has nothing
    left to tell.
    """

    def __init__(self, root: Path, on_use: UseCallback | None = None) -> None:
        self.root = root
        self._on_use = on_use
        self._told: set[Path] = set()  # each path is told once per view (one run)

    def tracking(self, on_use: UseCallback) -> ArtifactStore:
        """A view of the same files that calls ``on_use`` on the first touch of each."""
        return ArtifactStore(self.root, on_use)

    def path(self, key: str, ext: str) -> Path:
        relative = _relative(key, ext)
        if relative not in self._told:
            self.tell([relative])
        return self.root / relative

    def untold(self, artifacts: Iterable[tuple[str, str]]) -> list[Path]:
        """Of these ``(key, ext)`` artifacts, the paths this view has yet to tell of."""
        if self._on_use is None:
            return []
        paths = dict.fromkeys(_relative(key, ext) for key, ext in artifacts)
        return [path for path in paths if path not in self._told]

    def tell(self, paths: Sequence[Path]) -> None:
        """Tells ``on_use`` of these paths (relative to the root) in one call."""
        if self._on_use is not None and paths:
            self._on_use(paths)  # first: a failure here means the artifacts are not used
            self._told.update(paths)

    def target(self, key: str, ext: str) -> Path:
        """``path`` with its folder created, for writers that are atomic themselves."""
        path = self.path(key, ext)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def has(self, key: str, ext: str) -> bool:
        return self.path(key, ext).exists()

    def write_atomic(self, key: str, ext: str, write: Callable[[Path], None]) -> Path:
        """``write`` fills a temp file in the same folder; it is renamed into place only when
        complete, so a crash never leaves a half-written artifact under a valid key."""
        target = self.path(key, ext)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = make_temp_file(target.parent, prefix=".partial-", suffix=f".{ext}")
        os.close(fd)
        try:
            write(temp)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return target

    def read_json(self, key: str) -> Any:
        return json.loads(self.path(key, "json").read_text(encoding="utf-8"))

    def write_json(self, key: str, value: Any) -> Path:
        payload = json.dumps(value, ensure_ascii=False)

        def write(path: Path) -> None:
            path.write_text(payload, encoding="utf-8")

        return self.write_atomic(key, "json", write)

    def load_audio(self, key: str) -> tuple[FloatAudio, int] | None:
        path = self.path(key, "npz")
        if not path.exists():
            return None
        with np.load(path) as data:
            return data["samples"].astype(np.float32), int(data["sample_rate"])

    def save_audio(self, key: str, samples: FloatAudio, sample_rate: int) -> Path:
        def write(path: Path) -> None:
            with path.open("wb") as handle:
                np.savez(handle, samples=samples.astype(np.float32), sample_rate=sample_rate)

        return self.write_atomic(key, "npz", write)

    def remove(self, paths: Iterable[str]) -> None:
        """Deletes artifacts by their paths relative to the root (ones no project uses any
        more); a path leading out of the root is ignored."""
        root = self.root.resolve()
        for relative in paths:
            path = (root / relative).resolve()
            if path.is_relative_to(root) and path != root:
                path.unlink(missing_ok=True)

    def remove_partials(self, dead_only: bool = False) -> int:
        """Temp files of writes a killed process never finished; ``dead_only``: only those
        of dead processes of this machine (the store is shared with live writers)."""
        removed = 0
        if self.root.exists():
            for pattern in ("*/.partial-*", "*/.tmp-*"):
                for partial in self.root.glob(pattern):
                    if not dead_only or left_by_dead_process(partial):
                        partial.unlink(missing_ok=True)
                        removed += 1
        return removed


def _relative(key: str, ext: str) -> Path:
    digest = key.rsplit("-", 1)[-1]
    return Path(digest[:2]) / f"{key}.{ext}"
