"""Cutting a recording into runs of one language each, from per-stretch detection."""

from __future__ import annotations

import numpy as np

from dubbing_studio.engines.local.whisper import _language_runs

RATE = 16_000


class _Detector:
    """Answers each stretch's language from a script keyed by its length in seconds."""

    def __init__(self, answers: dict[float, tuple[str, float]]) -> None:
        self.answers = answers

    def __call__(self, audio: np.ndarray) -> tuple[str, float]:
        return self.answers[round(len(audio) / RATE, 1)]


def test_runs_change_language_in_the_pause_and_unsure_stretches_follow() -> None:
    samples = np.zeros(30 * RATE, dtype=np.float32)
    speech = [(0.5, 4.5), (6.0, 6.5), (10.0, 16.0), (16.3, 20.3)]
    detector = _Detector(
        {
            4.0: ("en", 0.9),
            0.5: ("cy", 0.3),  # too short and unsure: stays English
            10.3: ("es", 0.95),  # 10.0–20.3, joined across the 0.3 s pause
        }
    )
    runs = _language_runs(detector, samples, speech, 30.0)
    assert runs == [(0.0, 8.25, "en"), (8.25, 30.0, "es")]
