"""Timing rules of the dub: line boundaries, windows per speaker, and the fit decision."""

from __future__ import annotations

import pytest

from dubbing_studio.domain.dub import FitOutcome, Segment, TimingPolicy
from dubbing_studio.domain.speech import TimedText, Word
from dubbing_studio.pipeline.speech import words_lost
from dubbing_studio.pipeline.timing import Window, plan_fit, resegment, windows

POLICY = TimingPolicy(max_line_s=12.0)


def _words(spec: list[tuple[str, float, float]]) -> tuple[Word, ...]:
    return tuple(Word(start, end, text) for text, start, end in spec)


def _line(spec: list[tuple[str, float, float]]) -> TimedText:
    words = _words(spec)
    return TimedText(words[0].start, words[-1].end, " ".join(w.text for w in words), words)


def test_long_line_splits_at_sentence_end_not_mid_phrase() -> None:
    spec = [(f"w{i}", i * 0.5, i * 0.5 + 0.4) for i in range(30)]  # 15 s of words
    spec[13] = ("end.", 6.5, 6.9)
    lines = resegment([_line(spec)], POLICY)
    assert len(lines) == 2
    assert lines[0].text.endswith("end.")
    assert all(line.end - line.start <= POLICY.max_line_s for line in lines)
    assert " ".join(line.text for line in lines) == _line(spec).text


def test_long_line_splits_at_a_long_pause() -> None:
    spec = [(f"w{i}", i * 0.5, i * 0.5 + 0.4) for i in range(14)]
    spec += [(f"v{i}", 9 + i * 0.5, 9 + i * 0.5 + 0.4) for i in range(14)]  # 2 s pause at 6.9
    lines = resegment([_line(spec)], POLICY)
    assert [line.text.split()[0] for line in lines] == ["w0", "v0"]


def test_fragments_merge_into_neighbours() -> None:
    lines = [
        _line([("Yes.", 0.0, 0.4)]),
        _line([("I", 0.6, 0.8), ("think", 0.8, 1.2), ("so", 1.2, 2.5)]),
        _line([("Far", 9.0, 9.3)]),  # too far from anything to merge
    ]
    merged = resegment(lines, POLICY)
    assert [m.text for m in merged] == ["Yes. I think so", "Far"]
    assert merged[0].start == 0.0 and merged[0].end == 2.5


def _segment(sid: str, start: float, end: float, speaker: str = "S1") -> Segment:
    return Segment(id=sid, start=start, end=end, speaker=speaker, source_text=sid)


def test_windows_are_per_speaker() -> None:
    segments = [
        _segment("a", 0.0, 2.0, "S1"),
        _segment("b", 1.0, 3.0, "S2"),  # talks over S1: does not bound S1's window
        _segment("c", 5.0, 6.0, "S1"),
    ]
    first, second, third = windows(segments, duration=8.0, policy=POLICY)
    assert first.comfortable_end == pytest.approx(5.0 - POLICY.min_gap_s)
    assert first.hard_end == pytest.approx(5.0 + POLICY.max_overrun_s - POLICY.min_gap_s)
    assert second.comfortable_end == second.hard_end == 8.0
    assert third.hard_end == 8.0


WINDOW = Window(slot_end=2.0, comfortable_end=3.0, hard_end=3.05)


@pytest.mark.parametrize(
    ("natural", "outcome", "speed", "length"),
    [
        (1.5, FitOutcome.FITS, 1.0, 1.5),  # shorter: padded, never slowed
        (2.8, FitOutcome.BORROWED, 1.0, 2.8),  # uses the silence before the next line
        (3.6, FitOutcome.SPED_UP, 1.2, 3.0),  # sped up to fill the room exactly
        (3.95, FitOutcome.OVERRUN, 1.3, 3.95 / 1.3),  # at the cap, a little over
        (6.0, FitOutcome.TRIMMED, 1.3, 3.05),  # cannot fit: trimmed at the hard end
    ],
)
def test_plan_fit(natural: float, outcome: FitOutcome, speed: float, length: float) -> None:
    plan = plan_fit(natural, 0.0, WINDOW, POLICY)
    assert plan.outcome == outcome
    assert plan.speed == pytest.approx(speed)
    assert plan.length_s == pytest.approx(length)
    assert plan.speed <= POLICY.max_speed
    assert plan.length_s <= WINDOW.hard_end


def test_plan_fit_respects_a_lower_cap() -> None:
    policy = TimingPolicy(max_speed=1.1)
    plan = plan_fit(3.6, 0.0, WINDOW, policy)
    assert plan.speed == pytest.approx(1.1)
    assert plan.outcome == FitOutcome.TRIMMED


def test_overlapping_lines_of_one_speaker_never_get_a_window_past_the_hard_end() -> None:
    first, _ = windows([_segment("a", 0.0, 2.0), _segment("b", 1.9, 3.0)], 5.0, POLICY)
    assert first.slot_end <= first.hard_end
    assert first.comfortable_end <= first.hard_end
    assert first.hard_end == pytest.approx(1.9 + POLICY.max_overrun_s - POLICY.min_gap_s)


def test_without_speed_up_a_line_too_long_is_still_trimmed() -> None:
    plan = plan_fit(6.0, 0.0, WINDOW, TimingPolicy(max_speed=1.0))
    assert plan.speed == 1.0 and plan.outcome == FitOutcome.TRIMMED
    assert plan.length_s == pytest.approx(WINDOW.hard_end)


NATURAL = TimingPolicy(fit="natural")


def test_natural_fit_lets_the_next_line_start_up_to_the_drift_late() -> None:
    first, _ = windows([_segment("a", 0.0, 2.0), _segment("b", 3.0, 4.0)], 8.0, NATURAL)
    assert first.hard_end == pytest.approx(3.0 + NATURAL.max_drift_s - NATURAL.min_gap_s)
    plan = plan_fit(4.8, 0.0, first, NATURAL)  # 3.69 s at the cap: runs 0.74 s on
    assert plan.outcome == FitOutcome.OVERRUN and plan.speed == pytest.approx(1.3)


def test_natural_fit_never_cuts_it_speeds_past_the_cap_instead() -> None:
    plan = plan_fit(6.0, 0.0, WINDOW, NATURAL)
    assert plan.outcome == FitOutcome.OVERRUN, "nothing is trimmed"
    assert plan.length_s == pytest.approx(WINDOW.hard_end)
    assert plan.speed == pytest.approx(6.0 / WINDOW.hard_end)


@pytest.mark.parametrize(
    ("kept", "lost"),
    [(3.0, 0), (2.95, 0), (2.0, 3), (1.5, 5), (0.1, 10)],
)
def test_words_lost_to_a_cut(kept: float, lost: int) -> None:
    text = "one two three four five six seven eight nine ten"
    assert words_lost(text, kept, 3.0) == lost
