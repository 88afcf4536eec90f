"""The child process that reads one untrusted media file: ``python -m
dubbing_studio.media.worker '<request JSON>'``; ``media.untrusted`` starts it.

It limits itself before touching the file (address space, CPU seconds, no core dumps, and
for a decode the output size), dies with its parent, then probes the file, decodes it to a
float32 WAV of at most two channels, or both in one start-up. It answers with one JSON line
on stdout: the result, or the domain error (class name and message). FFmpeg's and PyAV's
crashes stay in here.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import os
import resource
import signal
import sys
import traceback
from typing import Any

_PR_SET_PDEATHSIG = 1
_OUTPUT_SLACK_BYTES = 1 << 20


def main(argv: list[str]) -> int:
    request = json.loads(argv[1])
    _limit_self(request["memory_bytes"], request["cpu_s"], request["parent"])
    from dubbing_studio.domain.errors import StudioError, UndecodableMedia

    try:
        reply: dict[str, Any] = _serve(request)
    except StudioError as e:
        reply = {"error": type(e).__name__, "detail": e.detail}
    except MemoryError:
        reply = {
            "error": UndecodableMedia.__name__,
            "detail": "Decoding the media needs more memory than is allowed.",
        }
    except Exception as e:  # a bug or an odd file: report it, the parent logs stderr
        traceback.print_exc()
        reply = {
            "error": UndecodableMedia.__name__,
            "detail": f"The media cannot be decoded ({type(e).__name__}).",
        }
    sys.stdout.write(json.dumps(reply) + "\n")
    return 0


def _serve(request: dict[str, Any]) -> dict[str, Any]:
    from dubbing_studio.media.probe import probe

    if request["op"] == "probe":
        info = probe(
            request["path"],
            max_duration_s=request["max_duration_s"],
            require_audio=request["require_audio"],
        )
        reply: dict[str, Any] = {"info": dataclasses.asdict(info)}
        decode = request.get("decode")
        if decode is not None:  # in the same child: two channels kept apart, others mixed
            two = info.audio is not None and info.audio.channels == 2
            options = {**decode["options"], "channels": "stereo" if two else "mono"}
            reply.update(_decode(request["path"], decode["out"], options))
        return reply
    return _decode(request["path"], request["out"], request["options"])


def _decode(path: str, out: str, options: dict[str, Any]) -> dict[str, Any]:
    from dubbing_studio.media.decode import AudioDecoder
    from dubbing_studio.media.floatwav import write_float_wav

    with AudioDecoder(path, **options) as decoder:
        cap = options.get("max_duration_s")
        if cap is not None:  # a backstop under the decoder's own check: SIGXFSZ beyond it
            most = (cap + 2) * decoder.rate * decoder.channels * 4 + _OUTPUT_SLACK_BYTES
            resource.setrlimit(resource.RLIMIT_FSIZE, (int(most), int(most)))
        frames = write_float_wav(out, decoder.rate, decoder.channels, decoder.chunks())
        return {"rate": decoder.rate, "channels": decoder.channels, "frames": frames}


def _limit_self(memory_bytes: int, cpu_s: float, parent: int) -> None:
    """Set before anything reads the file; SIGXCPU (then SIGKILL) ends a runaway decode."""
    cpu = max(1, round(cpu_s))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(OSError, AttributeError):  # Linux: die with the parent
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
