from __future__ import annotations

import pysubs2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dubbing_studio.domain.errors import ValidationFailed
from dubbing_studio.domain.speech import TimedText
from dubbing_studio.domain.subtitles import (
    FORMATS,
    ReadingRules,
    parse_subtitles,
    readable_cues,
    readable_pairs,
    render,
    split_text,
    to_srt,
    to_vtt,
)

LINES = [
    TimedText(0.0, 1.5, " Hello there. "),
    TimedText(1.5, 2.0, "   "),
    TimedText(3661.25, 3662.0049, "Second line"),
]
RULES = ReadingRules()
LONG = (
    "Y así, compatriotas: no preguntéis qué puede hacer vuestro país por vosotros, "
    "preguntad qué podéis hacer vosotros por vuestro país. Conciudadanos del mundo, no "
    "preguntéis qué hará América por vosotros, sino qué podemos hacer juntos por la "
    "libertad del hombre. Supercalifragilisticoespialidosoextraordinariamente largo."
)


def assert_readable(
    cues: list[TimedText], chars: object = None, rules: ReadingRules = RULES
) -> None:
    """The three rules, on cues read back from every written format."""
    for fmt in FORMATS:
        events = [e for e in pysubs2.SSAFile.from_string(render(cues, fmt), fmt) if e.plaintext]
        assert len(events) == len(cues), fmt
        previous_end = 0
        for event in events:
            lines = event.plaintext.split("\n")
            assert len(lines) <= rules.max_lines, (fmt, lines)
            assert all(len(line) <= rules.max_line_chars for line in lines), (fmt, lines)
            read = max(map(len, lines)) if chars == "pair" else sum(map(len, lines))
            # How long the cue is on screen, from its timestamps in the file (media time,
            # not a measured duration): the reading-speed rule is about the subtitles.
            on_screen_s = (event.end - event.start) / 1000
            assert on_screen_s > 0 and read / on_screen_s <= rules.max_cps + 1e-9, (fmt, event)
            assert event.start >= previous_end, "cues overlap"
            previous_end = event.end


def test_srt_numbers_cues_and_skips_blank_lines() -> None:
    assert to_srt(LINES) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
        "2\n01:01:01,250 --> 01:01:02,005\nSecond line\n\n"
    )


def test_vtt_header_and_dot_separator() -> None:
    text = to_vtt(LINES)
    assert text.startswith("WEBVTT\n\n")
    assert "00:00:00.000 --> 00:00:01.500\nHello there.\n" in text
    assert "01:01:01.250 --> 01:01:02.005" in text


def test_ass_has_dialogue_lines_with_line_breaks() -> None:
    text = render([TimedText(1.0, 2.5, "Hola\nmundo")], "ass")
    assert "[Events]" in text
    assert "Dialogue: 0,0:00:01.00,0:00:02.50,Default,,0,0,0,,Hola\\Nmundo" in text


def test_negative_times_clamp_to_zero() -> None:
    assert to_srt([TimedText(-0.2, 0.5, "x")]).splitlines()[1].startswith("00:00:00,000")


def test_a_long_line_splits_at_sentence_ends_with_time_shared_by_characters() -> None:
    cues = readable_cues([TimedText(10.0, 40.0, LONG)])
    assert len(cues) >= 4
    assert cues[0].start == 10.0 and cues[-1].end >= 40.0
    assert any(cue.text.endswith("país.") for cue in cues), [c.text for c in cues]
    assert "Supercalifragilisticoespialidosoextraordin" in cues[-1].text  # cut at 42
    assert_readable(cues)
    # Time follows characters: the longest cue is shown longest.
    longest = max(cues, key=lambda c: len(c.text))
    assert longest.end - longest.start == max(c.end - c.start for c in cues)


def test_fast_speech_is_held_long_enough_and_the_next_cue_waits() -> None:
    cues = readable_cues([TimedText(0.0, 1.0, "A" * 30), TimedText(1.0, 2.0, "Short.")])
    assert cues[0].end == 1.5 and cues[1].start == 1.5
    assert_readable(cues)


def test_two_short_lines_are_balanced() -> None:
    (cue,) = split_text("one two three four five six seven eight nine ten eleven twelve")
    first, second = cue.split("\n")
    assert abs(len(first) - len(second)) <= 6


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzñé", min_size=1, max_size=60)
punctuated = st.builds(lambda w, p: w + p, words, st.sampled_from(["", "", "", ",", ".", "?"]))
texts = st.lists(punctuated, min_size=0, max_size=80).map(" ".join)
lines = st.lists(
    st.tuples(st.floats(0, 600), st.floats(0.05, 20), texts), min_size=1, max_size=12
).map(lambda items: [TimedText(s, s + d, t) for s, d, t in items])


@settings(max_examples=60, deadline=None)
@given(lines)
def test_any_text_becomes_cues_that_obey_the_rules(items: list[TimedText]) -> None:
    cues = readable_cues(items)
    assert_readable(cues)
    assert " ".join(c.text.replace("\n", " ") for c in cues).split() == [
        piece
        for line in sorted(items, key=lambda x: x.start)
        for word in line.text.split()
        for piece in (word[i : i + 42] for i in range(0, len(word), 42))
    ]


@settings(max_examples=40, deadline=None)
@given(lines, texts)
def test_bilingual_cues_obey_the_rules_per_language(items: list[TimedText], other: str) -> None:
    assert_readable(readable_pairs((line, other) for line in items), chars="pair")


SRT = (
    "1\n00:00:01,000 --> 00:00:02,500\n<i>Hola</i> mundo.\n\n"
    "2\n00:00:03,000 --> 00:00:04,000\nAdiós\n"
)


def test_parse_srt_vtt_and_ass() -> None:
    srt = parse_subtitles("\ufeff" + SRT)
    assert srt == [TimedText(1.0, 2.5, "Hola mundo."), TimedText(3.0, 4.0, "Adiós")]
    vtt = parse_subtitles("WEBVTT\n\n00:01.000 --> 00:02.500 align:start\nHola\nmundo.\n")
    assert vtt == [TimedText(1.0, 2.5, "Hola mundo.")]
    ass = parse_subtitles(render(srt, "ass"))
    assert [(c.start, c.end, c.text) for c in ass] == [(c.start, c.end, c.text) for c in srt]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (SRT.replace("00:00:03,000", "00:00:0x,000"), 6),
        (SRT.replace("00:00:04,000", "00:00:02,000"), 6),
        ("just some words\nno cues\n", 1),
        (render([TimedText(1, 2, "x")], "ass").replace("0:00:01.00", "0:0x:01.00"), None),
    ],
)
def test_bad_files_are_refused_naming_the_line(text: str, line: int | None) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_subtitles(text, "subs.srt")
    error = caught.value
    assert error.errors and error.errors[0]["line"] >= 1
    if line is not None:
        assert f"line {line}" in error.detail and error.errors[0]["line"] == line
