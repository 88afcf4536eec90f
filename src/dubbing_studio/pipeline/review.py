"""Pure checks of a transcript against what was heard: lines Whisper likely invented, and
speech no line covers.

Whisper fills music, noise and silence with text (often a loop of earlier words) and now and
then skips a stretch of speech. Both must reach a person rather than the listener: suspect
lines are set aside for review instead of voiced, and uncovered speech is reported.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from dubbing_studio.domain.speech import SpeechRegion, TimedText

# Reasons a line is flagged. The first three keep it out of the dub (set aside for review);
# a line only flagged LOW_CONFIDENCE is voiced and marked.
REPETITION = "repetition"  # the text loops: a phrase repeated, or it compresses too well
NO_SPEECH = "no_speech"  # Whisper itself thinks nobody spoke there
OUTSIDE_SPEECH = "outside_speech"  # mostly where voice activity detection heard no speech
LOW_CONFIDENCE = "low_confidence"  # low average log-probability: check the words
REASONS = (REPETITION, NO_SPEECH, OUTSIDE_SPEECH, LOW_CONFIDENCE)
SET_ASIDE = frozenset({REPETITION, NO_SPEECH, OUTSIDE_SPEECH})

# Whisper's own thresholds for a failed decode (openai/whisper transcribe.py).
MAX_COMPRESSION_RATIO = 2.4
MIN_AVG_LOGPROB = -1.0
NO_SPEECH_PROB = 0.6
MIN_REPEATS = 3  # a phrase of 2+ words said this many times in one line is a loop
MIN_LOOP_WORDS = 6  # shorter lines are too short to call loops ("no, no, no")
MIN_SPEECH_SHARE = 0.5  # a line with less of its time in speech regions lies outside them

COVER_TOLERANCE_S = 0.25  # a line covers speech this close to its edges (timestamp jitter)
UNRECOGNISED_MIN_S = 1.0  # uncovered speech shorter than this is not reported


def flags(line: TimedText, speech: Sequence[SpeechRegion] | None) -> tuple[str, ...]:
    """Every reason to doubt ``line``; ``speech`` None when no voice activity was detected."""
    found = []
    if _loops(line.text) or (line.compression_ratio or 0.0) > MAX_COMPRESSION_RATIO:
        found.append(REPETITION)
    logprob = line.avg_logprob
    unsure = logprob is not None and logprob < MIN_AVG_LOGPROB
    if unsure and (line.no_speech_prob or 0.0) > NO_SPEECH_PROB:
        found.append(NO_SPEECH)
    if speech is not None and speech_share(line, speech) < MIN_SPEECH_SHARE:
        found.append(OUTSIDE_SPEECH)
    if unsure:
        found.append(LOW_CONFIDENCE)
    return tuple(found)


def _loops(text: str) -> bool:
    words = re.findall(r"\w+", text.lower())
    if len(words) < MIN_LOOP_WORDS:
        return False
    for size in range(2, 7):
        grams = Counter(tuple(words[i : i + size]) for i in range(len(words) - size + 1))
        if grams and max(grams.values()) >= MIN_REPEATS:
            return True
    text_bytes = " ".join(words).encode()
    return len(text_bytes) / len(zlib.compress(text_bytes)) > MAX_COMPRESSION_RATIO


def speech_share(line: TimedText, speech: Sequence[SpeechRegion]) -> float:
    """The share of the line's spoken time (its words, else its span) inside speech."""
    spans = [(w.start, w.end) for w in line.words if w.end > w.start] or [(line.start, line.end)]
    total = sum(end - start for start, end in spans)
    if total <= 0:
        return 1.0
    return sum(_overlap(span, speech) for span in spans) / total


def _overlap(span: SpeechRegion, regions: Sequence[SpeechRegion]) -> float:
    start, end = span
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in regions)


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the detected speech the lines cover, and the stretches they miss."""

    speech_s: float
    covered_s: float
    unrecognised: tuple[SpeechRegion, ...]

    @property
    def share(self) -> float:
        return 1.0 if self.speech_s <= 0 else self.covered_s / self.speech_s


def coverage(lines: Sequence[SpeechRegion], speech: Sequence[SpeechRegion]) -> Coverage:
    """Speech time inside a line (widened by the tolerance), and the uncovered stretches of
    speech longer than ``UNRECOGNISED_MIN_S`` (gaps shorter than the tolerance joined)."""
    covers = _union([(a - COVER_TOLERANCE_S, b + COVER_TOLERANCE_S) for a, b in lines])
    speech_s = covered_s = 0.0
    missed: list[SpeechRegion] = []
    for start, end in speech:
        speech_s += end - start
        covered_s += _overlap((start, end), covers)
        cursor = start
        for a, b in covers:
            if b <= cursor or a >= end:
                continue
            if a > cursor:
                missed.append((cursor, a))
            cursor = max(cursor, b)
        if cursor < end:
            missed.append((cursor, end))
    joined = _union(missed, join_gap=COVER_TOLERANCE_S * 2)
    return Coverage(
        speech_s=round(speech_s, 3),
        covered_s=round(covered_s, 3),
        unrecognised=tuple(
            (round(a, 3), round(b, 3)) for a, b in joined if b - a >= UNRECOGNISED_MIN_S
        ),
    )


def _union(spans: Sequence[SpeechRegion], join_gap: float = 0.0) -> list[SpeechRegion]:
    merged: list[SpeechRegion] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + join_gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
