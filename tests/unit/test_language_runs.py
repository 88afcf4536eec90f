"""Cutting a recording into runs of one language each, from per-stretch detection."""

from __future__ import annotations

import numpy as np

from dubbing_studio.engines.local.whisper import _detect_language, _language_runs

RATE = 16_000


class _Detector:
    """Answers each stretch's language from a script keyed by its length in seconds."""

    def __init__(self, answers: dict[float, tuple[str, float]]) -> None:
        self.answers = answers

    def __call__(self, start: float, end: float) -> tuple[str, float]:
        return self.answers[round(end - start, 1)]


def test_runs_change_language_in_the_pause_and_unsure_stretches_follow() -> None:
    speech = [(0.5, 4.5), (6.0, 6.5), (10.0, 16.0), (16.3, 20.3)]
    detector = _Detector(
        {
            4.0: ("en", 0.9),
            0.5: ("cy", 0.3),  # too short and unsure: stays English
            10.3: ("es", 0.95),  # 10.0–20.3, joined across the 0.3 s pause
        }
    )
    runs = _language_runs(detector, speech, 30.0)
    assert runs == [(0.0, 8.25, "en"), (8.25, 30.0, "es")]


class _Model:
    """Whisper's detection calls, answering by how many seconds each one hears."""

    def __init__(self, unpadded: dict[float, tuple[str, float]], padded: tuple[str, float]):
        self.unpadded = unpadded
        self.padded = padded
        self.heard: list[float | str] = []
        self.model = self

    def feature_extractor(self, chunk: np.ndarray) -> np.ndarray:
        return np.zeros((80, len(chunk) // 160), dtype=np.float32)

    def encode(self, features: np.ndarray) -> np.ndarray:
        return features

    def detect_language(
        self, encoded: np.ndarray | None = None, audio: np.ndarray | None = None
    ) -> object:
        if audio is not None:
            self.heard.append("padded")
            return (*self.padded, [])
        assert encoded is not None
        seconds = round(encoded.shape[-1] / 100, 1)
        self.heard.append(seconds)
        code, probability = self.unpadded[seconds]
        return [[(f"<|{code}|>", probability)]]


def _detect(model: _Model, seconds: float) -> tuple[str, float]:
    chunk = np.zeros(int(seconds * RATE), dtype=np.float32)
    return _detect_language(model, chunk)  # type: ignore[arg-type]


def test_detection_hears_a_long_stretch_by_its_middle_when_that_is_sure() -> None:
    model = _Model({4.0: ("en", 0.95)}, padded=("de", 1.0))
    assert _detect(model, 10.0) == ("en", 0.95)
    assert model.heard == [4.0]


def test_detection_hears_the_whole_stretch_then_pads_it_while_unsure() -> None:
    sure_whole = _Model({4.0: ("it", 0.4), 10.0: ("es", 0.9)}, padded=("de", 1.0))
    assert _detect(sure_whole, 10.0) == ("es", 0.9)
    assert sure_whole.heard == [4.0, 10.0]
    unsure = _Model({4.0: ("it", 0.4), 10.0: ("es", 0.6)}, padded=("pt", 0.7))
    assert _detect(unsure, 10.0) == ("pt", 0.7)
    assert unsure.heard == [4.0, 10.0, "padded"]
    short = _Model({3.0: ("en", 0.5)}, padded=("en", 0.9))  # no shorter middle to hear first
    assert _detect(short, 3.0) == ("en", 0.9)
    assert short.heard == [3.0, "padded"]
