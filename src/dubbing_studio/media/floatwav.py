"""32-bit float WAV files that the studio writes itself: the hand-off from the child process
that decodes untrusted media to the parent, which reads them as plain numbers (no FFmpeg).

The header is always the same 44 bytes (IEEE float, one ``fmt`` and one ``data`` chunk), so
reading needs no chunk parsing and any window is a seek. FFmpeg and other players read these
files too. Over 4 GiB the RIFF size fields are saturated and the reader goes by the file size.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dubbing_studio.domain.speech import FloatAudio

_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_FLOAT = 3  # WAVE_FORMAT_IEEE_FLOAT
_SAMPLE = np.dtype("<f4")
_LIMIT = 0xFFFFFFFF


def write_float_wav(
    path: str | os.PathLike[str], rate: int, channels: int, chunks: Iterable[FloatAudio]
) -> int:
    """Write ``(frames, channels)`` chunks as they come; returns the number of frames."""
    frames = 0
    with open(path, "wb") as f:
        f.write(_header(rate, channels, 0))
        for chunk in chunks:
            f.write(np.ascontiguousarray(chunk, dtype=_SAMPLE).tobytes())
            frames += len(chunk)
        f.seek(0)
        f.write(_header(rate, channels, frames))
    return frames


def read_float_wav(
    path: str | os.PathLike[str], start: int = 0, stop: int | None = None
) -> tuple[FloatAudio, int]:
    """Frames ``start:stop`` as ``(frames, channels)`` float32, and the sample rate."""
    with open(path, "rb") as f:
        head = f.read(_HEADER.size)
        if len(head) != _HEADER.size:
            raise ValueError(f"{Path(path).name} is not a studio float WAV: no header.")
        riff, _, wave, fmt, fmt_size, tag, channels, rate, _, align, bits, data, _ = _HEADER.unpack(
            head
        )
        if (riff, wave, fmt, data, fmt_size, tag, bits) != (
            b"RIFF",
            b"WAVE",
            b"fmt ",
            b"data",
            16,
            _FLOAT,
            32,
        ) or align != channels * _SAMPLE.itemsize:
            raise ValueError(f"{Path(path).name} is not a studio float WAV.")
        total = (os.fstat(f.fileno()).st_size - _HEADER.size) // align
        stop = total if stop is None else min(stop, total)
        start = min(max(0, start), stop)
        f.seek(_HEADER.size + start * align)
        samples = np.fromfile(f, dtype=_SAMPLE, count=(stop - start) * channels)
    return samples.reshape(-1, channels).astype(np.float32, copy=False), rate


def _header(rate: int, channels: int, frames: int) -> bytes:
    align = channels * _SAMPLE.itemsize
    data = min(frames * align, _LIMIT - 36)
    return _HEADER.pack(
        b"RIFF",
        data + 36,
        b"WAVE",
        b"fmt ",
        16,
        _FLOAT,
        channels,
        rate,
        rate * align,
        align,
        32,
        b"data",
        data,
    )
