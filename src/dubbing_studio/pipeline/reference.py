"""The reference sample a voice-cloning engine speaks a speaker's lines from: the speaker's
cleanest 6–10 s, taken from runs of their own consecutive lines.

Clean means: mostly voiced (the pitch tracker hears a voice in most frames), a high ratio of
loud to quiet frames (little noise under the voice), and nobody else talking over it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from dubbing_studio.domain.dub import Segment
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.media.pitch import FRAME_S, HOP_S, track_f0

MIN_REFERENCE_S = 6.0
MAX_REFERENCE_S = 10.0
JOIN_GAP_S = 0.6  # lines closer than this read as one stretch of speech


def reference_span(
    lines: Sequence[Segment],
    speaker: str,
    audio: Callable[[float, float], FloatAudio],
    rate: int,
    min_s: float = MIN_REFERENCE_S,
    max_s: float = MAX_REFERENCE_S,
) -> tuple[float, float] | None:
    """The cleanest stretch of ``speaker``'s speech, ``min_s``–``max_s`` long, as (start,
    end) seconds; None when they never speak ``min_s`` in one go. ``audio(start, end)`` gives
    the samples (at ``rate``) of a stretch: only candidates are read."""
    own = sorted((s for s in lines if s.speaker == speaker), key=lambda s: s.start)
    others = [(s.start, s.end) for s in lines if s.speaker != speaker]
    best: tuple[float, tuple[float, float]] | None = None
    for first in range(len(own)):
        start, end = own[first].start, own[first].end
        for line in own[first + 1 :]:
            if end - start >= max_s or line.start - end > JOIN_GAP_S:
                break
            end = line.end
        end = min(end, start + max_s)
        if end - start < min_s:
            continue
        score = _cleanliness(audio(start, end), rate)
        score -= _overlap((start, end), others)
        if best is None or score > best[0]:
            best = (score, (round(start, 3), round(end, 3)))
    return best[1] if best else None


def _cleanliness(clip: FloatAudio, rate: int) -> float:
    """Voiced share of the frames (0..1) plus the loud-to-quiet ratio in tens of dB."""
    seconds = len(clip) / rate
    if seconds <= FRAME_S:
        return -math.inf
    voiced = min(1.0, len(track_f0(clip, rate)) * HOP_S / seconds)
    hop = int(HOP_S * rate)
    frames = clip[: len(clip) // hop * hop].reshape(-1, hop).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1)) + 1e-6
    spread_db = 20 * math.log10(float(np.percentile(rms, 90) / np.percentile(rms, 10)))
    return voiced + spread_db / 10


def _overlap(span: tuple[float, float], others: Sequence[tuple[float, float]]) -> float:
    """The share of ``span`` someone else speaks in, weighted heavily: crosstalk spoils a
    reference more than noise does."""
    start, end = span
    talked = sum(max(0.0, min(end, b) - max(start, a)) for a, b in others)
    return 10.0 * talked / (end - start)
