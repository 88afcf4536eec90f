"""Subtitles that read well, and subtitle files in and out (SRT, WebVTT, ASS via pysubs2).

Timed lines become cues of at most ``max_lines`` lines of ``max_line_chars`` characters,
split at punctuation or word boundaries with the time shared out by characters; a cue shown
too briefly for ``max_cps`` characters per second is held longer (the next cue waits for it).
Parsing checks what pysubs2 silently swallows (a garbled timestamp becomes text there) so a
bad file is refused naming its line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from dubbing_studio.domain.errors import ValidationFailed
from dubbing_studio.domain.speech import TimedText

FORMATS = ("srt", "vtt", "ass")
_PYSUBS2_FORMAT = {"srt": "srt", "vtt": "vtt", "ass": "ass"}
_SENTENCE_END = ".!?…。！？"
_CLAUSE_END = ",;:—–、，；："


@dataclass(frozen=True, slots=True)
class ReadingRules:
    max_line_chars: int = 42
    max_lines: int = 2
    max_cps: float = 20.0


def cue_chars(text: str) -> int:
    """Characters a viewer reads: everything but the line breaks."""
    return len(text.replace("\n", ""))


def pair_chars(text: str) -> int:
    """A bilingual cue is read in one language: its longer line counts."""
    return max((len(line) for line in text.split("\n")), default=0)


# --- layout ---------------------------------------------------------------------------
def wrap(text: str, width: int) -> list[str]:
    """Words on lines of at most ``width`` characters; a longer word is cut into pieces."""
    lines: list[str] = []
    current = ""
    for word in _words(text, width):
        candidate = f"{current} {word}" if current else word
        if len(candidate) <= width:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines


def _words(text: str, width: int) -> list[str]:
    return [
        word[i : i + width] for word in text.split() for i in range(0, len(word), width) if word
    ]


def split_text(text: str, rules: ReadingRules = ReadingRules()) -> list[str]:
    """``text`` as cues (lines joined by newlines) that each fit the line rules: split in two
    at the best boundary — a sentence end, then a clause end, then any space, nearest the
    middle — until every part fits."""
    text = " ".join(_words(text, rules.max_line_chars))
    if not text:
        return []
    lines = wrap(text, rules.max_line_chars)
    if len(lines) <= rules.max_lines:
        return ["\n".join(_balanced(text, len(lines), rules.max_line_chars))]
    cut = _best_cut(text)
    return split_text(text[:cut], rules) + split_text(text[cut:], rules)


def _balanced(text: str, count: int, width: int) -> list[str]:
    """Two lines of similar length read better than a full line and a stub."""
    if count != 2:
        return wrap(text, width)
    best = wrap(text, width)
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    for i in sorted(spaces, key=lambda i: abs(len(text) / 2 - i)):
        first, second = text[:i], text[i + 1 :]
        if len(first) <= width and len(second) <= width:
            return [first, second]
    return best


def _best_cut(text: str) -> int:
    """Index to split ``text`` at (the second part starts there, after the space)."""
    middle = len(text) / 2
    spaces = [i for i, ch in enumerate(text) if ch == " "]

    def score(i: int) -> tuple[int, float]:
        before = text[i - 1]
        kind = 0 if before in _SENTENCE_END else 1 if before in _CLAUSE_END else 2
        # Punctuation wins unless it leaves a part under a quarter of the text.
        if abs(i - middle) > len(text) / 4:
            kind = 2
        return kind, abs(i - middle)

    return min(spaces, key=score) + 1


def readable_cues(
    lines: Iterable[TimedText], rules: ReadingRules = ReadingRules()
) -> list[TimedText]:
    """Cues that obey ``rules``: long lines split, time shared by characters, and each cue
    held long enough for its reading speed."""
    pieces: list[TimedText] = []
    for line in sorted(lines, key=lambda x: x.start):
        pieces.extend(_share_time(line.start, line.end, split_text(line.text, rules)))
    return _paced(pieces, rules.max_cps)


def readable_pairs(
    pairs: Iterable[tuple[TimedText, str]], rules: ReadingRules = ReadingRules()
) -> list[TimedText]:
    """Bilingual cues: each one line of the timed text over one line of its counterpart,
    both split into the same number of parts."""
    pieces: list[TimedText] = []
    width = rules.max_line_chars
    for line, other in sorted(pairs, key=lambda p: p[0].start):
        top, bottom = _words(line.text, width), _words(other, width)
        count = 1
        while True:
            parts = [_split_words(top, count), _split_words(bottom, count)]
            if all(len(p) <= width for side in parts for p in side):
                break
            count += 1
        texts = ["\n".join(p for p in pair if p) for pair in zip(*parts, strict=True)]
        pieces.extend(_share_time(line.start, line.end, [t for t in texts if t], pair_chars))
    return _paced(pieces, rules.max_cps, pair_chars)


def _split_words(words: Sequence[str], count: int) -> list[str]:
    """``words`` in ``count`` runs of similar character length (some empty if few words)."""
    total = sum(len(w) + 1 for w in words)
    runs: list[list[str]] = [[] for _ in range(count)]
    seen = 0
    for word in words:
        index = min(count - 1, int(seen * count / total)) if total else 0
        runs[index].append(word)
        seen += len(word) + 1
    return [" ".join(run) for run in runs]


def _share_time(
    start: float, end: float, texts: Sequence[str], chars: Callable[[str], int] = cue_chars
) -> list[TimedText]:
    total = sum(chars(t) for t in texts) or 1
    pieces, at = [], start
    for text in texts:
        until = at + (end - start) * chars(text) / total
        pieces.append(TimedText(at, until, text))
        at = until
    return pieces


def _paced(
    pieces: Sequence[TimedText], max_cps: float, chars: Callable[[str], int] = cue_chars
) -> list[TimedText]:
    """On a 10 ms grid (ASS keeps centiseconds): each cue starts no earlier than the last
    one ends and lasts at least its characters at ``max_cps``."""
    cues: list[TimedText] = []
    free_cs = 0
    for piece in pieces:
        start_cs = max(math.ceil(round(piece.start * 100, 6)), free_cs)
        need_cs = math.ceil(chars(piece.text) * 100 / max_cps)
        end_cs = max(math.ceil(round(piece.end * 100, 6)), start_cs + need_cs, start_cs + 1)
        cues.append(TimedText(start_cs / 100, end_cs / 100, piece.text))
        free_cs = end_cs
    return cues


# --- files ----------------------------------------------------------------------------
def render(lines: Iterable[TimedText], fmt: str) -> str:
    """SRT, WebVTT or ASS text of ``lines`` as they are (blank ones skipped)."""
    import pysubs2  # 18 ms: loaded when subtitles are first written, not as the CLI starts

    subs = pysubs2.SSAFile()
    for line in lines:
        text = "\n".join(part.strip() for part in line.text.strip().splitlines())
        if text:
            subs.append(
                pysubs2.SSAEvent(
                    start=max(0, round(line.start * 1000)),
                    end=max(0, round(line.end * 1000)),
                    text=text.replace("\n", r"\N"),
                )
            )
    return subs.to_string(_PYSUBS2_FORMAT[fmt])


def to_srt(lines: Iterable[TimedText]) -> str:
    return render(lines, "srt")


def to_vtt(lines: Iterable[TimedText]) -> str:
    return render(lines, "vtt")


_TIME = r"(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3}"
_CUE_TIMING = re.compile(rf"^\s*({_TIME})\s*-->\s*({_TIME})(?:\s.*)?$")
_ASS_TIME = r"\d+:\d{2}:\d{2}[.]\d{1,3}"
_ASS_DIALOGUE = re.compile(rf"^Dialogue:\s*[^,]*,\s*({_ASS_TIME})\s*,\s*({_ASS_TIME})\s*,")


def parse_subtitles(text: str, name: str = "the subtitle file") -> list[TimedText]:
    """Cues of an SRT, WebVTT or ASS file as plain text (tags removed), in time order. A
    file that is none of them, a garbled timing line, or a cue ending before it starts is a
    ``ValidationFailed`` (422) that names the line."""
    import pysubs2  # see ``render``

    text = text.lstrip("\ufeff")
    _check_timing_lines(text, name)
    try:
        subs = pysubs2.SSAFile.from_string(text)
    except (pysubs2.Pysubs2Error, ValueError) as exc:
        raise ValidationFailed(
            f"{name} is not an SRT, WebVTT or ASS file (line 1: {_first_line(text)!r}): {exc}",
            errors=[{"loc": [name], "line": 1, "msg": str(exc), "type": "subtitle_format"}],
        ) from None
    cues = [
        TimedText(event.start / 1000, event.end / 1000, _plain(event.plaintext))
        for event in subs
        if not event.is_comment and _plain(event.plaintext)
    ]
    if not cues:
        raise ValidationFailed(f"{name} has no cues with text.")
    return sorted(cues, key=lambda c: (c.start, c.end))


def _check_timing_lines(text: str, name: str) -> None:
    lines = text.splitlines()
    is_ass = any(line.strip().lower() == "[events]" for line in lines)
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if is_ass:
            if not stripped.startswith("Dialogue:"):
                continue
            match = _ASS_DIALOGUE.match(stripped)
        elif "-->" in stripped:
            match = _CUE_TIMING.match(stripped)
        else:
            continue
        if match is None:
            _refuse(name, number, line, "a malformed timing")
        elif _seconds(match.group(2)) < _seconds(match.group(1)):
            _refuse(name, number, line, "a cue that ends before it starts")
    if not is_ass and lines and not any("-->" in line for line in lines):
        _refuse(name, 1, lines[0], "no cue timings at all (not SRT, WebVTT or ASS)")


def _refuse(name: str, number: int, line: str, what: str) -> None:
    raise ValidationFailed(
        f"{name}, line {number}: {what}: {line.strip()[:80]!r}.",
        errors=[{"loc": [name], "line": number, "msg": what, "type": "subtitle_format"}],
    )


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    return sum(float(p) * 60**i for i, p in enumerate(reversed(parts)))


def _first_line(text: str) -> str:
    return (text.splitlines() or [""])[0][:80]


def _plain(text: str) -> str:
    return " ".join(text.split())
