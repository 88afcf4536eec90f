"""Speech-quality measures shared by the tests and the benchmarks."""

from __future__ import annotations

import re

import jiwer
import numpy as np
import numpy.typing as npt


def normalise(text: str) -> str:
    """Lower-case, drop punctuation, fold whitespace: how WER is computed in ENGINES.md."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))


def si_sdr(estimate: npt.NDArray[np.floating], reference: npt.NDArray[np.floating]) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019): how much of
    ``estimate`` is a scaled copy of ``reference``, against everything else in it."""
    ref = reference.astype(np.float64).ravel()
    est = estimate.astype(np.float64).ravel()
    target = (est @ ref) / (ref @ ref) * ref
    error = est - target
    return float(10 * np.log10((target @ target) / (error @ error)))
