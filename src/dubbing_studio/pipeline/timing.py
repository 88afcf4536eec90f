"""Pure timing decisions: dub-friendly line boundaries and how each line fits its slot.

No audio here, only numbers, so every rule of the timing policy is unit-testable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from dubbing_studio.domain.dub import FitOutcome, Segment, TimingPolicy
from dubbing_studio.domain.speech import TimedText, Word

_BREAK_PUNCTUATION = (".", "?", "!", ";", ":", "。", "？", "！", "…")
_SOFT_PUNCTUATION = (",", "、", "，", "—", "-")


def resegment(lines: Sequence[TimedText], policy: TimingPolicy) -> list[TimedText]:
    """Split long lines at punctuation or pauses, then merge fragments into neighbours."""
    split: list[TimedText] = []
    for line in lines:
        split.extend(_split_long(line, policy))
    return _merge_short(split, policy)


def _split_long(line: TimedText, policy: TimingPolicy) -> list[TimedText]:
    if line.end - line.start <= policy.max_line_s or len(line.words) < 2:
        return [line]
    cut = _best_cut(line.words, policy)
    head, tail = line.words[: cut + 1], line.words[cut + 1 :]
    return _split_long(_from_words(line, head), policy) + _split_long(
        _from_words(line, tail), policy
    )


def _best_cut(words: Sequence[Word], policy: TimingPolicy) -> int:
    """Index of the word after which to cut: strong punctuation, a long pause, then a comma,
    preferring the middle of the line."""
    middle = (words[0].start + words[-1].end) / 2

    def score(i: int) -> float:
        word, after = words[i], words[i + 1]
        text = word.text.rstrip()
        pause = after.start - word.end
        rank = 0.0
        if text.endswith(_BREAK_PUNCTUATION):
            rank += 3
        elif text.endswith(_SOFT_PUNCTUATION):
            rank += 1.5
        if pause >= policy.split_pause_s:
            rank += 2 + pause
        distance = abs(word.end - middle) / max(1e-6, words[-1].end - words[0].start)
        return rank - 2 * distance

    return max(range(len(words) - 1), key=score)


def _from_words(line: TimedText, words: Sequence[Word]) -> TimedText:
    """Part of ``line``: its language and confidence figures stay with it."""
    return replace(
        line,
        start=words[0].start,
        end=words[-1].end,
        text=" ".join(w.text.strip() for w in words).strip(),
        words=tuple(words),
    )


def _merge_short(lines: list[TimedText], policy: TimingPolicy) -> list[TimedText]:
    merged: list[TimedText] = []
    for line in lines:
        previous = merged[-1] if merged else None
        too_short = (line.end - line.start) < policy.min_line_s or (
            previous is not None and (previous.end - previous.start) < policy.min_line_s
        )
        if (
            previous is not None
            and too_short
            and line.start - previous.end < policy.split_pause_s * 2
            and line.end - previous.start <= policy.max_line_s
            and line.language == previous.language
        ):
            merged[-1] = replace(
                previous,
                end=line.end,
                text=f"{previous.text.strip()} {line.text.strip()}".strip(),
                words=previous.words + line.words,
                avg_logprob=_worst(min, previous.avg_logprob, line.avg_logprob),
                no_speech_prob=_worst(max, previous.no_speech_prob, line.no_speech_prob),
                compression_ratio=_worst(max, previous.compression_ratio, line.compression_ratio),
            )
        else:
            merged.append(line)
    return merged


def _worst(pick: Callable[[float, float], float], a: float | None, b: float | None) -> float | None:
    """The less reassuring of two confidence figures, either possibly unknown."""
    if a is None or b is None:
        return a if b is None else b
    return pick(a, b)


@dataclass(frozen=True, slots=True)
class Window:
    """Where a line may sound: from ``start`` (its own start, or a little later when the
    speaker's previous line overran) to ``comfortable_end`` without touching the next line,
    or at most ``hard_end`` by pushing the next line a little."""

    slot_end: float
    comfortable_end: float
    hard_end: float


def windows(segments: Sequence[Segment], duration: float, policy: TimingPolicy) -> list[Window]:
    """Each line's window: bounded by the same speaker's next line, never by other speakers
    (people talk over each other) and never past the end of the input."""
    result: list[Window] = []
    for index, segment in enumerate(segments):
        next_start = next(
            (s.start for s in segments[index + 1 :] if s.speaker == segment.speaker), None
        )
        if next_start is None:
            comfortable = hard = duration
        else:
            comfortable = max(segment.end, next_start - policy.min_gap_s)
            hard = next_start + _may_push(policy) - policy.min_gap_s
        hard = min(hard, duration)
        # Lines of one speaker that overlap in the source (recognition jitter) still must not
        # overlap in the dub: nothing may end after the hard end.
        comfortable = min(comfortable, hard)
        result.append(Window(min(segment.end, hard), comfortable, hard))
    return result


def _may_push(policy: TimingPolicy) -> float:
    """How late a line may make the same speaker's next one start."""
    return policy.max_drift_s if policy.fit == NATURAL else policy.max_overrun_s


STRICT = "strict"
NATURAL = "natural"
FIT_POLICIES = (STRICT, NATURAL)


@dataclass(frozen=True, slots=True)
class FitPlan:
    """How long a line will be in the mix and how much faster than natural it is spoken."""

    speed: float
    length_s: float
    outcome: FitOutcome
    overrun_s: float = 0.0


def plan_fit(natural_s: float, start: float, window: Window, policy: TimingPolicy) -> FitPlan:
    """Natural pace if it fits (padded, never slowed); else borrow the silence before the
    next line; else speed up to the cap; else run a little over (up to the drift allowed in
    the natural policy); else trim — or, in the natural policy, speed up past the cap."""
    slot = max(0.0, window.slot_end - start)
    room = max(1e-3, window.comfortable_end - start)
    if natural_s <= slot:
        return FitPlan(1.0, natural_s, FitOutcome.FITS)
    if natural_s <= room:
        return FitPlan(1.0, natural_s, FitOutcome.BORROWED)
    speed = min(natural_s / room, policy.max_speed)
    length = natural_s / speed
    if length <= room + 1e-6:
        return FitPlan(speed, room, FitOutcome.SPED_UP)
    hard_room = max(room, window.hard_end - start)
    if length <= hard_room:
        return FitPlan(speed, length, FitOutcome.OVERRUN, overrun_s=length - room)
    if policy.fit == NATURAL:  # every word kept: faster than the cap rather than later
        return FitPlan(natural_s / hard_room, hard_room, FitOutcome.OVERRUN, hard_room - room)
    return FitPlan(speed, hard_room, FitOutcome.TRIMMED, overrun_s=hard_room - room)
