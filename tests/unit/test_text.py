"""split_sentences: bounded chunks, nothing lost but whitespace, sentence ends preferred."""

from __future__ import annotations

import random
import re

import pytest

from dubbing_studio.engines.text import split_sentences

WORDS = ["the", "fox", "jumps", "3.5", "e.g.", "Dr.", "naïve", "今日は", "supercalifragilistic"]
MARKS = ["", "", "", ",", ".", "!", "?", ";", ":", "。", "、", '."', "!)", "...", "\n", "\n\n"]


def _random_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) + rng.choice(MARKS) for _ in range(rng.randint(0, 120)))


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("seed", range(200))
def test_chunks_are_bounded_stripped_and_lose_nothing_but_whitespace(seed: int) -> None:
    rng = random.Random(seed)
    text = _random_text(rng)
    max_chars = rng.choice([1, 5, 12, 40, 100, 400])

    chunks = split_sentences(text, max_chars=max_chars)

    assert all(0 < len(chunk) <= max_chars for chunk in chunks)
    assert all(chunk == chunk.strip() for chunk in chunks)
    assert _squeeze("".join(chunks)) == _squeeze(text)
    assert all(chunk in text for chunk in chunks), "chunks are slices of the text"


def test_whole_sentences_are_packed_together_up_to_the_bound() -> None:
    text = "One two. Three four! Five six? Seven eight; nine."

    assert split_sentences(text, max_chars=20) == [
        "One two. Three four!",
        "Five six?",
        "Seven eight; nine.",
    ]


def test_short_text_is_one_chunk_and_blank_text_none() -> None:
    assert split_sentences("  Hello there. How are you?  ") == ["Hello there. How are you?"]
    assert split_sentences(" \n\t ") == []
    assert split_sentences("") == []


def test_sentence_ends_win_over_commas_and_spaces() -> None:
    text = "A first sentence, with a clause. A second one, also with a clause."

    assert split_sentences(text, max_chars=40) == [
        "A first sentence, with a clause.",
        "A second one, also with a clause.",
    ]


def test_a_long_sentence_is_cut_at_commas_then_spaces() -> None:
    text = "Alpha beta gamma, delta epsilon zeta, eta theta iota kappa lambda mu nu xi omicron."

    assert split_sentences(text, max_chars=40) == [
        "Alpha beta gamma, delta epsilon zeta,",
        "eta theta iota kappa lambda mu nu xi",
        "omicron.",
    ]


def test_parts_of_a_long_sentence_do_not_join_its_neighbours() -> None:
    text = "Short. " + "word " * 20 + "end. Tail."

    chunks = split_sentences(text, max_chars=30)

    assert chunks[0] == "Short."
    assert chunks[-1] == "Tail."


def test_decimals_stay_whole_and_closing_quotes_stay_with_their_sentence() -> None:
    text = 'It costs 3.5 euros. He said "Stop!" Then he left. 今日は晴れ。明日は雨！'

    assert split_sentences(text, max_chars=20) == [
        "It costs 3.5 euros.",
        'He said "Stop!"',
        "Then he left. 今日は晴れ。",
        "明日は雨！",
    ]


def test_line_breaks_end_sentences() -> None:
    assert split_sentences("first line\nsecond line", max_chars=12) == ["first line", "second line"]


def test_a_word_longer_than_the_bound_is_cut_inside() -> None:
    assert split_sentences("x" * 25, max_chars=10) == ["x" * 10, "x" * 10, "x" * 5]


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        split_sentences("Hello", max_chars=0)
