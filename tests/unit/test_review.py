"""The hallucination guard and coverage: which lines are doubted, what speech is missed."""

from __future__ import annotations

from dubbing_studio.domain.speech import TimedText, Word
from dubbing_studio.pipeline import review


def _line(text: str, start: float = 0.0, end: float = 3.0, **figures: float) -> TimedText:
    words = text.split()
    step = (end - start) / len(words)
    timed = tuple(Word(start + i * step, start + (i + 1) * step, w) for i, w in enumerate(words))
    return TimedText(start, end, text, timed, **figures)  # type: ignore[arg-type]


def test_a_loop_of_earlier_words_is_set_aside() -> None:
    loop = "the above copyright notice and the above copyright notice and the above copyright"
    found = review.flags(_line(loop), [(0.0, 3.0)])
    assert found == (review.REPETITION,)
    assert review.SET_ASIDE.intersection(found)
    plain = "And so my fellow Americans, ask not what your country can do for you."
    assert review.flags(_line(plain), [(0.0, 3.0)]) == ()


def test_whisper_doubting_its_own_decode_flags_the_line() -> None:
    said = "Thank you for watching and see you next time"
    assert review.flags(_line(said, avg_logprob=-1.3, no_speech_prob=0.8), None) == (
        review.NO_SPEECH,
        review.LOW_CONFIDENCE,
    )
    unsure = review.flags(_line(said, avg_logprob=-1.2, no_speech_prob=0.1), None)
    assert unsure == (review.LOW_CONFIDENCE,)
    assert not review.SET_ASIDE.intersection(unsure), "voiced, only marked"
    assert review.flags(_line(said, avg_logprob=-0.3, compression_ratio=2.6), None) == (
        review.REPETITION,
    )


def test_a_line_mostly_outside_the_speech_regions_is_set_aside() -> None:
    line = _line("music music words here now", 10.0, 20.0)
    assert review.flags(line, [(9.0, 13.0)]) == (review.OUTSIDE_SPEECH,)  # 30% inside
    assert review.flags(line, [(9.0, 16.0)]) == ()  # 60% inside
    assert review.flags(line, None) == (), "no VAD: no judgement on place"


def test_coverage_reports_uncovered_speech_longer_than_a_second() -> None:
    speech = [(0.0, 4.0), (5.0, 9.0), (20.0, 20.8)]
    covered = review.coverage([(0.1, 3.9), (5.0, 6.0)], speech)
    assert covered.speech_s == 8.8
    # 0..4 covered, 5..6.25 covered (tolerance), 6.25..9 and 20..20.8 missed.
    assert abs(covered.covered_s - (4.0 + 1.25)) < 1e-6
    assert covered.unrecognised == ((6.25, 9.0),), "the short one is not reported"
    assert abs(covered.share - 5.25 / 8.8) < 1e-6
    assert review.coverage([], []).share == 1.0
