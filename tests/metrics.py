"""Speech-quality measures shared by the tests and the benchmarks."""

from __future__ import annotations

import re

import jiwer


def normalise(text: str) -> str:
    """Lower-case, drop punctuation, fold whitespace: how WER is computed in ENGINES.md."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))
