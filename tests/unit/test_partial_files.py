"""Temp files name their process (host and pid), so clean-up on a shared folder removes only
what dead processes of its own machine left."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from dubbing_studio.media.files import left_by_dead_process, make_temp_file, owner_tag
from dubbing_studio.pipeline.artifacts import ArtifactStore


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_only_a_dead_process_of_this_machine_left_its_partial_file(tmp_path: Path) -> None:
    host = socket.gethostname()
    fd, mine = make_temp_file(tmp_path, prefix=".partial-", suffix=".npz")
    os.close(fd)
    assert mine.name.startswith(f".partial-{owner_tag()}")
    dead = tmp_path / f".partial-{host}~{_dead_pid()}~abc.npz"
    elsewhere = tmp_path / f".partial-other-host~{_dead_pid()}~abc.npz"
    untagged = tmp_path / ".partial-abc.npz"
    # This process's pid, but an earlier process's start time: a restarted container's.
    reused = tmp_path / f".partial-{host}~{os.getpid()}~0~abc.npz"
    assert not left_by_dead_process(mine), "this process is alive"
    assert left_by_dead_process(dead)
    assert left_by_dead_process(reused), "its pid is another process's now"
    assert not left_by_dead_process(elsewhere), "another machine's process: unknown here"
    assert not left_by_dead_process(untagged)
    # Named by an earlier version (``host~pid~`` with no start time) of a live process.
    assert not left_by_dead_process(tmp_path / f".partial-{host}~{os.getpid()}~x1y2z3.npz")


def test_the_artifact_store_cleans_only_dead_processes_files_when_shared(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    (tmp_path / "ab").mkdir()
    fd, live = make_temp_file(tmp_path / "ab", prefix=".partial-", suffix=".npz")
    os.close(fd)
    dead = tmp_path / "ab" / f".partial-{socket.gethostname()}~{_dead_pid()}~x.npz"
    dead.touch()
    assert store.remove_partials(dead_only=True) == 1
    assert live.exists() and not dead.exists()
    assert store.remove_partials() == 1, "alone on its folder, every partial file goes"
    assert not live.exists()
