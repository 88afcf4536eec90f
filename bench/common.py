"""What both benchmarks share: the long input built from the real samples, settings that keep
model files between runs, peak memory measured in a fresh process, interleaved timing, and the
table/JSON output.

Run the benchmarks as files (``.venv/bin/python bench/engines.py``): this module is imported as
``common`` from the script's own folder, and spawned children find it the same way.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
import numpy as np

from dubbing_studio import media
from dubbing_studio.bootstrap import LOCAL_DEFAULTS, build_studio
from dubbing_studio.config import EngineDefaults, Settings, WhisperSettings
from dubbing_studio.engines.gate import EngineGate
from dubbing_studio.engines.protocols import Capability
from dubbing_studio.services.studio import Studio

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = REPO_ROOT.parent / "shared" / "samples"
CACHE_DIR = REPO_ROOT / "bench" / ".cache"  # inputs and assembled models; never committed

INPUT_RATE = 16_000
GAP_S = 0.5  # silence after every piece, so each utterance stands on its own
FULL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Piece:
    """One real utterance: a sample file (one channel of it, or all mixed) and what is said."""

    file: str
    channel: int | None
    text: str


# References from ../shared/samples/README.md. The two channels of stereo_diarization.wav are
# different speakers talking over each other, so each is used on its own.
PIECES = (
    Piece(
        "jfk.flac",
        None,
        "And so my fellow Americans, ask not what your country can do for you, "
        "ask what you can do for your country.",
    ),
    Piece(
        "stereo_diarization.wav",
        0,
        "He began a confused complaint against the wizard, "
        "who had vanished behind the curtain on the left.",
    ),
    Piece("stereo_diarization.wav", 1, "The horizon seems extremely distant."),
)


@dataclass(frozen=True, slots=True)
class BenchInput:
    """A mono 16 kHz WAV of real speech and its reference transcript, piece by piece."""

    path: Path
    duration_s: float
    texts: tuple[str, ...]
    spans: tuple[tuple[float, float], ...]  # where each piece is, in seconds

    @property
    def text(self) -> str:
        return " ".join(self.texts)

    @property
    def words(self) -> int:
        return len(self.text.split())

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "duration_s": self.duration_s, "words": self.words}


QUICK_PIECES = PIECES[2:]  # one short line (5 s): every code path, in seconds


def build_input(quick: bool = False) -> BenchInput:
    """The pieces in turn (jfk, left speaker, right speaker, jfk, ...) with short silences until
    at least ``FULL_SECONDS``, or just ``QUICK_PIECES`` for a smoke run; written once into the
    cache folder and reused."""
    pieces = QUICK_PIECES if quick else PIECES
    wanted = 0.0 if quick else FULL_SECONDS * INPUT_RATE
    gap = np.zeros(int(GAP_S * INPUT_RATE), dtype=np.float32)
    audio: list[np.ndarray] = []
    texts: list[str] = []
    spans: list[tuple[float, float]] = []
    total = 0
    while not texts or total < wanted:
        piece = pieces[len(texts) % len(pieces)]
        samples, _ = media.decode_audio(
            SAMPLES_DIR / piece.file,
            sample_rate=INPUT_RATE,
            channels="mono",
            channel=piece.channel,
        )
        audio.extend((samples, gap))
        texts.append(piece.text)
        spans.append((total / INPUT_RATE, (total + len(samples)) / INPUT_RATE))
        total += len(samples) + len(gap)
    name = "quick" if quick else f"{len(texts)}pieces"
    path = CACHE_DIR / f"speech-{name}-{INPUT_RATE // 1000}k.wav"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        media.write_audio(path, np.concatenate(audio), INPUT_RATE, "wav")
    return BenchInput(path, total / INPUT_RATE, tuple(texts), tuple(spans))


def bench_settings(*, whisper_model: str = "base", temp_dir: Path | None = None) -> Settings:
    """Local engines whatever the environment says (an OPENAI_API_KEY would switch the
    defaults), with assembled models (joined Whisper base, Kokoro) cached between runs."""
    return Settings(
        _env_file=None,
        data_dir=CACHE_DIR / "data",
        temp_dir=temp_dir or CACHE_DIR / "tmp",
        openai_api_key=None,
        openai_base_url=None,
        engines=EngineDefaults(
            transcriber=LOCAL_DEFAULTS[Capability.TRANSCRIBE],
            translator=LOCAL_DEFAULTS[Capability.TRANSLATE],
            synthesizer=LOCAL_DEFAULTS[Capability.SYNTHESIZE],
        ),
        whisper=WhisperSettings(model=whisper_model),
    )


class TimedGate(EngineGate):
    """The studio's gate, also recording how long each engine call ran (queueing excluded).

    Engine time measured inside the run it belongs to: wall time minus this is what the shell
    around the engines costs, free of the run-to-run noise of the engines themselves.
    """

    def __init__(self, per_engine: int = 1) -> None:
        super().__init__(per_engine)
        self.calls: list[tuple[str, float]] = []

    async def run(self, key: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def call() -> T:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.calls.append((key, time.perf_counter() - start))

        return await super().run(key, call)

    def seconds(self) -> float:
        return sum(seconds for _, seconds in self.calls)

    def by_engine(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for key, seconds in self.calls:
            totals[key] = totals.get(key, 0.0) + seconds
        return totals


def timed_studio(settings: Settings) -> tuple[Studio, TimedGate]:
    """The studio ``build_studio`` wires, with its gate swapped for a ``TimedGate``."""
    studio = build_studio(settings)
    studio.gate.close()
    gate = TimedGate(settings.engine_concurrency)
    studio.gate = gate
    return studio, gate


def _shared_metrics() -> Any:
    """``tests/metrics.py``: the measures the tests use, shared with the benchmarks."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(1, str(REPO_ROOT))
    from tests import metrics

    return metrics


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER as the tests compute it."""
    return float(_shared_metrics().word_error_rate(reference, hypothesis))


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant SDR in dB as the tests compute it."""
    return float(_shared_metrics().si_sdr(estimate, reference))


# --- peak memory in a fresh process ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Isolated(Generic[T]):
    value: T
    peak_mb: float


def _status_kb(field: str, pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


def rss_mb() -> float:
    """This process's resident memory now: a baseline to tell an engine's share of the peak."""
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started, or a waited-for child's if larger.

    Not ``ru_maxrss`` of the process itself: Linux carries the parent's high-water mark across
    fork+exec, so a spawned child of a 800 MB parent reports >= 800 MB even if it used 15 MB
    (and ``RUSAGE_CHILDREN`` in the parent is a running maximum over all children, so it cannot
    isolate the second measurement from the first). ``VmHWM`` is the peak of this process's own
    address space. Its children (apertium, espeak-ng) are counted through ``RUSAGE_CHILDREN``,
    whose inherited part is at most this process's own peak, so the maximum stays exact.
    """
    own_kb = _status_kb("VmHWM")
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own_kb, children_kb) / 1024


def _isolated_child(conn: Connection, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        value = fn(*args)
        conn.send(("ok", value, peak_rss_mb()))
    except BaseException:
        conn.send(("error", traceback.format_exc(), peak_rss_mb()))
    finally:
        conn.close()


def run_isolated(fn: Callable[..., T], *args: Any, timeout_s: float = 1800.0) -> Isolated[T]:
    """``fn(*args)`` in a fresh spawned interpreter: its own model loads and its own peak memory,
    untouched by what this process or earlier measurements loaded. ``fn`` and its arguments
    and result must pickle (module-level function, plain data)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_isolated_child, args=(send, fn, args), daemon=True)
    process.start()
    send.close()
    try:
        if not receive.poll(timeout_s):
            raise TimeoutError(f"{fn.__name__} took longer than {timeout_s:.0f} s")
        status, payload, peak = receive.recv()
    except EOFError:
        process.join(10)
        raise RuntimeError(f"{fn.__name__} died (exit code {process.exitcode})") from None
    finally:
        process.join(30)
        if process.is_alive():
            process.kill()
            process.join()
    if status != "ok":
        raise RuntimeError(f"{fn.__name__} failed in its subprocess:\n{payload}")
    return Isolated(payload, float(peak))


# --- a whole command in its own process -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessRun:
    """What one command cost, start to exit: as a user running it would see and pay."""

    wall_s: float
    cpu_s: float  # user + system time of the process and of the children it waited for
    peak_mb: float  # the largest peak resident memory among the process and those children


# Runs the command from a small Python parent: the kernel's peak-memory figure of a child starts
# from its parent's (fork+exec carries it over), so it starts here at ~10 MB, not at this
# benchmark's size. The command's stdout is dropped; its stderr is the parent's.
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps([code, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024]))
"""


def run_measured(
    argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> ProcessRun:
    """``argv`` as a separate process: wall time, CPU time and peak memory of the whole run."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=1800,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    code, wall, cpu, peak = json.loads(lines[-1]) if lines else (done.returncode, 0, 0, 0)
    if code != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} ... exited with {code}:\n{done.stderr[-4000:]}")
    return ProcessRun(wall, cpu, peak)


# --- a real server process ----------------------------------------------------------------


class Server:
    """``python -m dubbing_studio serve`` on a free loopback port, with its own data folder
    under ``root`` and ``env`` on top of this process's environment; its log goes to
    ``root/server.log``."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log_path = root / "server.log"
        environment = {
            **os.environ,
            "DUBBING_STUDIO_DATA_DIR": str(root / "data"),
            "DUBBING_STUDIO_TEMP_DIR": str(root / "tmp"),
            "DUBBING_STUDIO_LOG_LEVEL": "warning",
            **(env or {}),
        }
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dubbing_studio", "serve", "--port", str(self.port)],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.url, timeout=60)
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the server did not start:\n{self.log_tail()}") from None
                time.sleep(0.2)

    def rss_mb(self) -> float:
        """The server process's resident memory now."""
        return _status_kb("VmRSS", self.process.pid) / 1024

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- timing -------------------------------------------------------------------------------


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def alternate(
    first: Callable[[], float], second: Callable[[], float], reps: int
) -> tuple[list[float], list[float]]:
    """Seconds of ``first`` and ``second`` run back to back ``reps`` times, swapping which goes
    first every repetition (A B, B A, ...), so load drifting on a shared machine hits both
    alike. Each callable returns the seconds it measured (which may exclude its set-up)."""
    a: list[float] = []
    b: list[float] = []
    for rep in range(reps):
        if rep % 2 == 0:
            a.append(first())
            b.append(second())
        else:
            b.append(second())
            a.append(first())
    return a, b


def median_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """Median of the per-repetition ratios: each pair ran back to back under the same load."""
    return statistics.median(n / d for n, d in zip(numerators, denominators, strict=True))


def machine() -> dict[str, Any]:
    """Context for reading the figures: the machine is shared, so load is part of the result."""
    return {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}


def revision() -> dict[str, Any]:
    """Which product code was measured: the commit, whether ``src`` had local changes, and a
    digest of its sources (others edit the tree while benchmarks run)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        return done.stdout.strip()

    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "src").rglob("*.py")):
        digest.update(path.relative_to(REPO_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "src_modified": bool(git("status", "--porcelain", "--", "src")),
        "src_digest": digest.hexdigest()[:12],
    }


def finish(figures: dict[str, Any]) -> None:
    """Closing context: the load at the end, and whether the product code changed while the
    benchmark ran (spawned processes import it afresh, so the figures could mix versions)."""
    figures["machine"]["load_avg_1m_end"] = machine()["load_avg_1m"]
    changed = revision()["src_digest"] != figures["revision"]["src_digest"]
    figures["revision"]["changed_during_run"] = changed
    if changed:
        print("WARNING: src/ changed while the benchmark ran; rerun it.", file=sys.stderr)


# --- output -------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print(
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    )
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def emit_json(figures: dict[str, Any]) -> None:
    """All figures as the last line of stdout, for the smoke test and for comparing runs."""
    print(json.dumps(_rounded(figures), sort_keys=True), flush=True)
