"""The process's C heap: arenas limited before threads start, the user's choice kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dubbing_studio import heap

# Eight threads allocate at once; glibc's malloc_stats then lists one "Arena N:" per arena.
_THREADS_ALLOCATE = """
import ctypes, sys, threading
from dubbing_studio import heap

if sys.argv[1] == "studio":
    from dubbing_studio.bootstrap import build_studio
    from dubbing_studio.config import Settings

    build_studio(Settings())
elif sys.argv[1] != "default":
    assert heap.limit_arenas(int(sys.argv[1]))
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
start = threading.Barrier(8)

def allocate():
    start.wait()
    for _ in range(2000):
        libc.free(libc.malloc(4096))

threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc.malloc_stats()
"""


def _arenas(limit: str, cwd: Path | None = None) -> int:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", _THREADS_ALLOCATE, limit],
        capture_output=True, text=True, env=environment, check=True, timeout=60, cwd=cwd,
    )  # fmt: skip
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


@pytest.mark.skipif(heap._glibc() is None, reason="glibc's malloc only")
def test_threads_share_the_arenas_the_limit_allows() -> None:
    assert _arenas("default") > 2  # glibc gives threads arenas of their own
    assert _arenas("2") <= 2


@pytest.mark.skipif(heap._glibc() is None, reason="glibc's malloc only")
def test_a_built_studio_has_an_arena_per_usable_cpu(tmp_path: Path) -> None:
    assert _arenas("studio", cwd=tmp_path) <= len(os.sched_getaffinity(0))


def test_the_users_own_setting_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert heap.limit_arenas(2) is False
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=4")
    assert heap.limit_arenas(2) is False
