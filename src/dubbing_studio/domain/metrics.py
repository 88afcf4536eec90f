"""Word and character error rates: how far what was heard is from what should have been said.

Both texts are lower-cased and stripped of punctuation first, as the benchmarks compute them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Edits (substitutions, insertions, deletions) per reference word."""
    return _rate(normalise(reference).split(), normalise(hypothesis).split())


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Edits per reference character, spaces included."""
    return _rate(list(normalise(reference)), list(normalise(hypothesis)))


def _rate(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return _edits(reference, hypothesis) / len(reference)


def _edits(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance, one row at a time."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]
