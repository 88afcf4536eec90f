"""Cutting text into bounded chunks for engines that slow down or run out of memory on long input.

Cuts prefer sentence ends, then clause ends (commas), then spaces; a single word longer than the
bound is cut inside as a last resort. Chunks are slices of the original text, so nothing but the
whitespace around them is lost.
"""

from __future__ import annotations

import re

DEFAULT_MAX_CHARS = 400

_CLOSERS = r"\"'”’»)\]」』"
# A cut falls after each match: Latin sentence punctuation needs a following space (so "3.5" and
# "e.g.x" stay whole); CJK punctuation and line breaks end a sentence by themselves.
_SENTENCE_END = re.compile(rf"[.!?;]+[{_CLOSERS}]*(?=\s|$)|[。！？]+[{_CLOSERS}]*|\n+")
_CLAUSE_END = re.compile(rf"[,:]+[{_CLOSERS}]*(?=\s)|[，、：]+")
_SPACE = re.compile(r"\s+")
_LEVELS = (_SENTENCE_END, _CLAUSE_END, _SPACE)

Span = tuple[int, int]


def split_sentences(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Whole sentences packed into chunks of at most ``max_chars`` characters, in order.

    A sentence longer than the bound is cut at commas, then at spaces. Empty or blank text gives
    no chunks.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    whole = _trim(text, 0, len(text))
    if whole[0] == whole[1]:
        return []
    return [text[start:end] for start, end in _bounded(text, whole, max_chars, _LEVELS)]


def _bounded(
    text: str, span: Span, max_chars: int, levels: tuple[re.Pattern[str], ...]
) -> list[Span]:
    """Cut ``span`` at the first level's boundaries and pack the pieces back up to the bound.

    A piece too long on its own is cut at the next level and its parts are not packed with its
    neighbours, so a chunk never holds the end of one sentence and the start of the next.
    """
    start, end = span
    if end - start <= max_chars:
        return [span]
    if not levels:
        return [(i, min(i + max_chars, end)) for i in range(start, end, max_chars)]
    packed: list[Span] = []
    open_to_packing = False
    for piece in _pieces(text, span, levels[0]):
        if piece[1] - piece[0] > max_chars:
            packed.extend(_bounded(text, piece, max_chars, levels[1:]))
            open_to_packing = False
        elif open_to_packing and piece[1] - packed[-1][0] <= max_chars:
            packed[-1] = (packed[-1][0], piece[1])
        else:
            packed.append(piece)
            open_to_packing = True
    return packed


def _pieces(text: str, span: Span, boundary: re.Pattern[str]) -> list[Span]:
    """``span`` cut after every ``boundary`` match, each piece trimmed; blank pieces dropped."""
    start, end = span
    cuts = [m.end() for m in boundary.finditer(text, start, end)]
    pieces = []
    for cut in [*cuts, end]:
        piece = _trim(text, start, cut)
        if piece[0] < piece[1]:
            pieces.append(piece)
        start = cut
    return pieces


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
