"""Untrusted media is probed and decoded in a child process with resource limits.

FFmpeg and PyAV are native code parsing bytes an uploader chose: a crash there (PyAV reading
an 8-channel frame, a demuxer bug), a runaway allocation or an endless loop must cost one
request, never the server. So ``media.worker`` does the reading in a child limited in address
space, CPU seconds and output size, with a wall-clock timeout here; it writes at most two
channels of float32 PCM (``floatwav``), which this process reads as plain numbers. Any way the
child fails becomes a domain error: its own (400/413/415, as in-process), or
``UndecodableMedia`` (400) when it crashed, ran out of limits or time. Temporary files are
removed on every path. Where the child comes from is the caller's ``sandbox``
(``media.sandbox``): a new Python by default, or a fork of a pre-started server.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

from dubbing_studio.domain.errors import (
    InvalidInput,
    NotFound,
    StudioError,
    UndecodableMedia,
    UnsupportedMedia,
    UploadTooLarge,
)
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.media.decode import Channels, DecodeOptions, shape_channels
from dubbing_studio.media.files import temp_path
from dubbing_studio.media.floatwav import read_float_wav
from dubbing_studio.media.probe import AudioStreamInfo, MediaInfo, VideoStreamInfo
from dubbing_studio.media.sandbox import ChildPerCall, ChildTimedOut, Sandbox
from dubbing_studio.media.source import local_file

log = logging.getLogger(__name__)

_ERRORS: dict[str, type[StudioError]] = {
    cls.__name__: cls
    for cls in (InvalidInput, NotFound, UndecodableMedia, UnsupportedMedia, UploadTooLarge)
}
_SIGNAL_REASONS = {
    signal.SIGXCPU: "it took more CPU time than allowed",
    signal.SIGXFSZ: "it decodes to more audio than its duration allows",
    signal.SIGKILL: "it was stopped (out of CPU time or memory)",
}


@dataclass(frozen=True, slots=True)
class ChildLimits:
    """What one child may use. Decoding is given CPU time for the longest media accepted
    at ``decode_speed`` times real time (codecs run hundreds of times faster), plus
    ``base_cpu_s`` for start-up and probing; the wall clock gets twice that plus
    ``wall_slack_s``, since the child shares a busy machine at low priority."""

    memory_mb: int = 2048
    base_cpu_s: float = 20.0
    decode_speed: float = 20.0
    wall_slack_s: float = 10.0

    def cpu_s(self, media_s: float | None) -> float:
        return self.base_cpu_s + (media_s or 0.0) / self.decode_speed

    def wall_s(self, cpu_s: float) -> float:
        return 2 * cpu_s + self.wall_slack_s


DEFAULT_LIMITS = ChildLimits()
CHILD_PER_CALL = ChildPerCall()


def probe_untrusted(
    path: str | os.PathLike[str],
    *,
    max_duration_s: float | None = None,
    require_audio: bool = True,
    limits: ChildLimits = DEFAULT_LIMITS,
    sandbox: Sandbox = CHILD_PER_CALL,
) -> MediaInfo:
    """``media.probe`` in a child process: the same answers and errors, and
    ``UndecodableMedia`` when the file crashes or exhausts the child."""
    reply = _run_child(
        {
            "op": "probe",
            "path": str(local_file(path)),
            "max_duration_s": max_duration_s,
            "require_audio": require_audio,
        },
        limits,
        limits.cpu_s(None),
        sandbox,
    )
    return _media_info(reply["info"])


def decode_untrusted(
    path: str | os.PathLike[str],
    *,
    work_dir: str | os.PathLike[str] | None = None,
    limits: ChildLimits = DEFAULT_LIMITS,
    sandbox: Sandbox = CHILD_PER_CALL,
    **options: Unpack[DecodeOptions],
) -> tuple[FloatAudio, int]:
    """``media.decode_audio`` in a child process: same options, shapes and errors. The
    PCM passes through a temporary file in ``work_dir`` (default: the system's)."""
    folder = Path(work_dir or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    with temp_path(folder, ".wav") as wav:
        convert_untrusted(path, wav, limits=limits, sandbox=sandbox, **options)
        frames, rate = read_float_wav(wav)
    return shape_channels(frames, options), rate


def probe_and_decode_untrusted(
    path: str | os.PathLike[str],
    *,
    sample_rate: int,
    max_duration_s: float | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    limits: ChildLimits = DEFAULT_LIMITS,
    sandbox: Sandbox = CHILD_PER_CALL,
) -> tuple[MediaInfo, FloatAudio, int]:
    """``probe_untrusted`` and then ``decode_untrusted`` in one child, one start-up less
    (about half a second of a Python with PyAV and NumPy): audio with two channels decodes
    to both (``(2, frames)``), any other mixed to mono."""
    folder = Path(work_dir or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    options: DecodeOptions = {"sample_rate": sample_rate, "max_duration_s": max_duration_s}
    with temp_path(folder, ".wav") as wav:
        request = {
            "op": "probe",
            "path": str(local_file(path)),
            "max_duration_s": max_duration_s,
            "require_audio": True,
            "decode": {"out": str(wav.resolve()), "options": options},
        }
        reply = _run_child(request, limits, limits.cpu_s(max_duration_s), sandbox)
        frames, rate = read_float_wav(wav)
    channels: Channels = "stereo" if reply["channels"] == 2 else "mono"
    return _media_info(reply["info"]), shape_channels(frames, {"channels": channels}), rate


def convert_untrusted(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    limits: ChildLimits = DEFAULT_LIMITS,
    sandbox: Sandbox = CHILD_PER_CALL,
    **options: Unpack[DecodeOptions],
) -> None:
    """Decode in a child process into ``out``, a float32 WAV (one channel for ``"mono"`` or
    ``channel``, else two), for engines that read files. The caller owns ``out`` and
    removes it, also after an error."""
    _run_child(
        {
            "op": "decode",
            "path": str(local_file(path)),
            "out": str(Path(out).resolve()),
            "options": options,
        },
        limits,
        limits.cpu_s(options.get("max_duration_s")),
        sandbox,
    )


def _run_child(
    request: dict[str, Any], limits: ChildLimits, cpu_s: float, sandbox: Sandbox
) -> dict[str, Any]:
    request = {
        **request,
        "memory_bytes": limits.memory_mb * 1024 * 1024,
        "cpu_s": cpu_s,
        "parent": os.getpid(),
    }
    wall_s = limits.wall_s(cpu_s)
    name = Path(request["path"]).name
    try:
        done = sandbox.run(request, wall_s)
    except ChildTimedOut as e:
        log.warning("media child timed out after %.0f s on %s", wall_s, name)
        raise UndecodableMedia(
            f"The media could not be read within {wall_s:.0f} s; it was stopped."
        ) from e
    stderr = done.stderr.decode(errors="replace").strip()
    if done.returncode != 0:
        reason = _crash_reason(done.returncode)
        log.warning("media child failed on %s: %s. %s", name, reason, stderr[-2000:])
        raise UndecodableMedia(f"The media cannot be decoded: {reason}.")
    if stderr:
        log.info("media child on %s: %s", name, stderr[-2000:])
    try:
        reply: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        log.warning("media child on %s gave no answer: %r", name, done.stdout[-500:])
        raise UndecodableMedia("The media cannot be decoded: the decoder gave no answer.") from e
    if "error" in reply:
        raise _ERRORS.get(reply["error"], UndecodableMedia)(str(reply.get("detail", "")))
    return reply


def _crash_reason(returncode: int) -> str:
    if returncode > 0:
        return f"the decoder exited with status {returncode}"
    number = -returncode
    if number in _SIGNAL_REASONS:
        return _SIGNAL_REASONS[signal.Signals(number)]
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    return f"the decoder crashed on it ({name})"


def _media_info(data: dict[str, Any]) -> MediaInfo:
    audio, video = data["audio"], data["video"]
    return MediaInfo(
        format_name=data["format_name"],
        duration=data["duration"],
        audio=AudioStreamInfo(**audio) if audio else None,
        video=VideoStreamInfo(**video) if video else None,
    )
