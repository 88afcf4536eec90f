"""Small speed-ups without a second synthesis: is stretching the natural take as intelligible as
synthesizing again at the faster rate?

For each reference line of the bench input and a few more, in English (Piper) and Spanish
(Apertium, then Kokoro), and each speed-up: the line synthesized at that rate and stretched to
the planned length (what the pipeline does), and the natural take stretched to the same length
(the candidate). Whisper transcribes each clip back; the table gives the word error rate of
each against the text spoken, and the seconds the second synthesis took.

Measured on 2 loaded cores (issue 12): Piper's stretched takes were as intelligible (WER 0.044
and 0.033 against 0.054 and 0.044 at 1.1 and 1.2), Kokoro's Spanish ones were not (0.159 and
0.167 against 0.134 and 0.093), so the pipeline keeps the second synthesis.

    .venv/bin/python bench/stretch.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from common import PIECES, bench_settings, emit_json, print_table, timed_studio, word_error_rate
from dubbing_studio import media
from dubbing_studio.domain.speech import Glossary
from dubbing_studio.engines.protocols import SynthesisOptions, TranscribeOptions
from dubbing_studio.pipeline.speech import _stretch_to

SPEEDS = (1.1, 1.2)
# Lines a dub speeds up are the long ones: the bench's references and a few more like them.
EXTRA_LINES = (
    "The meeting starts at nine tomorrow morning, so please bring the notes from last week.",
    "We walked along the river until the sun went down behind the old stone bridge.",
    "If the weather stays dry, the farmers will bring in the harvest before the end of the month.",
)
VOICES = {"en": "piper:en_US-joe-medium", "es": "kokoro:jm_kumo"}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-stretch-") as work:
        studio, _ = timed_studio(bench_settings(temp_dir=Path(work)))
        registry = studio.registry
        transcriber = registry.transcriber()
        english = [*(piece.text for piece in PIECES), *EXTRA_LINES]
        texts = {
            "en": english,
            "es": registry.translator().translate(english, "en", "es", Glossary()),
        }

        def heard(samples, rate: int, language: str) -> str:  # type: ignore[no-untyped-def]
            path = Path(work) / "clip.wav"
            media.write_audio(path, samples, rate, "wav")
            options = TranscribeOptions(language=language, word_timestamps=False)
            return " ".join(t.text for t in transcriber.transcribe(path, options).segments)

        rows = []
        figures: dict[str, object] = {"bench": "stretch", "speeds": SPEEDS}
        for language, voice in VOICES.items():
            engine, _, name = voice.partition(":")
            synth = registry.synthesizer(engine)
            for speed in (1.0, *SPEEDS):
                resynth_wer, stretch_wer, resynth_s = [], [], 0.0
                for text in texts[language]:
                    natural = synth.synthesize(text, SynthesisOptions(name, language, 1.0))
                    rate = natural.sample_rate
                    length = round(natural.duration / speed * rate)
                    start = time.perf_counter()
                    faster = synth.synthesize(text, SynthesisOptions(name, language, speed))
                    resynth_s += time.perf_counter() - start
                    resynthesized = _stretch_to(faster.samples, rate, length)
                    stretched = _stretch_to(natural.samples, rate, length)
                    resynth_wer.append(word_error_rate(text, heard(resynthesized, rate, language)))
                    stretch_wer.append(word_error_rate(text, heard(stretched, rate, language)))
                row = (language, voice, speed, statistics.mean(resynth_wer),
                       statistics.mean(stretch_wer), resynth_s)  # fmt: skip
                rows.append(row)
                figures[f"{language}@{speed}"] = row[3:]
        print_table(
            "Back-transcription WER of sped-up lines: synthesized again at the rate, or the "
            "natural take stretched (mean over the bench's reference lines)",
            ("language", "voice", "speed", "WER re-synthesized", "WER stretched",
             "re-synthesis s"),
            rows,
        )  # fmt: skip
        emit_json(figures)


if __name__ == "__main__":
    main()
