"""Children forked from a pre-started media server (``media.ForkServer``) are as isolated as
a new Python per file: same answers, same limits seen from inside, a dead server replaced,
and nothing left running once its owner closes it or dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from dubbing_studio.domain.errors import StudioError, UndecodableMedia
from dubbing_studio.media import (
    ChildLimits,
    ChildPerCall,
    ForkServer,
    Sandbox,
    probe_and_decode_untrusted,
    probe_untrusted,
)
from tests.conftest import REPO_ROOT
from tests.media.hostile import pcm_wav

T = TypeVar("T")
LIMITS = ChildLimits(memory_mb=1536, base_cpu_s=7)


@pytest.fixture
def server() -> Iterator[ForkServer]:
    forks = ForkServer()
    yield forks
    forks.close()


def _gone(pid: int, within_s: float = 10.0) -> bool:
    """Whether process ``pid`` has ended (a zombie counts as ended) within ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def test_a_forked_child_answers_as_a_new_python_does(
    server: ForkServer, jfk: Path, tmp_path: Path
) -> None:
    fresh = ChildPerCall()
    assert probe_untrusted(jfk, sandbox=server) == probe_untrusted(jfk, sandbox=fresh)
    info, samples, rate = probe_and_decode_untrusted(
        jfk, sample_rate=16000, work_dir=tmp_path, sandbox=server
    )
    again, expected, expected_rate = probe_and_decode_untrusted(
        jfk, sample_rate=16000, work_dir=tmp_path, sandbox=fresh
    )
    assert (info, rate) == (again, expected_rate)
    np.testing.assert_array_equal(samples, expected)
    assert list(tmp_path.iterdir()) == []


def test_many_children_at_once_each_get_their_own_answer(
    server: ForkServer, jfk: Path, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.wav"  # refused, while the others are read
    junk.write_bytes(b"not media at all")
    paths = [jfk, junk] * 3
    with ThreadPoolExecutor(len(paths)) as pool:
        outcomes = list(pool.map(lambda path: _probe_or_error(path, server), paths))
    assert outcomes[0::2] == [probe_untrusted(jfk)] * 3
    for refused in outcomes[1::2]:
        assert isinstance(refused, StudioError) and 400 <= refused.status_code < 500


def _probe_or_error(path: Path, sandbox: Sandbox) -> object:
    try:
        return probe_untrusted(path, sandbox=sandbox)
    except StudioError as e:
        return e


@pytest.mark.parametrize("kind", ["per call", "forked"])
def test_the_child_limits_itself_before_reading(kind: str, tmp_path: Path) -> None:
    """Seen from inside the child: its address space, CPU seconds, no core dumps, death with
    its parent (the server, for a forked child), one math thread, and no descriptor but its
    standard ones (not the server's request socket, nor another child's pipes)."""
    sandbox = (
        ChildPerCall("tests.media.limits_worker")
        if kind == "per call"
        else ForkServer("tests.media.limits_worker")
    )
    request = {
        "path": str(tmp_path / "any.wav"),
        "memory_bytes": 1536 * 1024 * 1024,
        "cpu_s": 7.0,
        "parent": os.getpid(),
    }
    try:
        done = sandbox.run(request, wall_s=30)
        parent = sandbox.pid if isinstance(sandbox, ForkServer) else os.getpid()
        status = Path(f"/proc/{parent}/status").read_text()
    finally:
        sandbox.close()
    if kind == "forked":  # forking is safe: the server has no other thread
        assert "\nThreads:\t1\n" in status
    assert done.returncode == 0, done.stderr.decode()
    seen = json.loads(done.stdout)
    assert seen["address_space"] == [1536 * 1024 * 1024] * 2
    assert seen["cpu"] == [7, 12]
    assert seen["core"] == [0, 0]
    assert seen["death_signal"] == signal.SIGKILL
    assert seen["parent"] == parent
    assert seen["openblas_threads"] == "1"
    assert len(seen["descriptors"]) <= 4  # 0, 1, 2 and the one that listed them
    assert _gone(seen["pid"])


def test_a_server_that_died_is_replaced(server: ForkServer, jfk: Path) -> None:
    expected = probe_untrusted(jfk, sandbox=server)
    first = server.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert _gone(first)
    assert probe_untrusted(jfk, sandbox=server) == expected
    assert server.pid not in (None, first)


def test_closing_stops_the_server_and_a_running_child(tmp_path: Path) -> None:
    hang = tmp_path / "hang.wav"
    hang.write_bytes(pcm_wav())
    server = ForkServer("tests.media.crashing_worker")
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(probe_untrusted, hang, sandbox=server, limits=LIMITS)
        pid = _wait_for(lambda: server.pid)
        child = _wait_for(lambda: next(iter(_children_of(pid)), None))
        server.close()
        with pytest.raises(UndecodableMedia):
            waiting.result(timeout=30)
    assert _gone(pid) and _gone(child)


def test_the_server_and_its_children_end_with_their_owner(tmp_path: Path) -> None:
    """Its owner killed outright (no ``close``): the server sees its request socket end and
    stops; the child it forked dies with it."""
    hang = tmp_path / "hang.wav"
    hang.write_bytes(pcm_wav())
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import threading, time
                from dubbing_studio.media import ChildLimits, ForkServer, probe_untrusted
                server = ForkServer("tests.media.crashing_worker")
                limits = ChildLimits(base_cpu_s=100)
                threading.Thread(
                    target=probe_untrusted, args=({str(hang)!r},),
                    kwargs=dict(sandbox=server, limits=limits), daemon=True,
                ).start()
                while server.pid is None:
                    time.sleep(0.05)
                print(server.pid, flush=True)
                time.sleep(3600)
                """
            ),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        pid = int(owner.stdout.readline())
        child = _wait_for(lambda: next(iter(_children_of(pid)), None))
    finally:
        owner.kill()
        owner.wait()
    assert _gone(pid) and _gone(child)


def _wait_for(look: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = look()
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError("not there within 30 s")
