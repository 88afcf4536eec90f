"""Speakers told apart by voice, for input where they share one channel.

Each line's audio is embedded by a local speaker encoder (resemblyzer, in the optional
``speakers`` extra) and lines whose voices are alike get one label. Speakers panned to separate
channels need none of this (see ``ingest``). The clustering is a pure function of the
embeddings, so its rules are tested without the model.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from dubbing_studio import media
from dubbing_studio.domain.errors import EngineUnavailable, InvalidInput
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.engines.lease import ModelLease

if TYPE_CHECKING:
    from resemblyzer import VoiceEncoder

Span = tuple[float, float]  # start and end of a line, in seconds
Embedding = npt.NDArray[np.float32]

SAMPLE_RATE = 16_000
# Less speech than this embeds too noisily to trust; such a line takes a neighbour's label.
MIN_SPEECH_S = 1.0
# Cosine similarity of resemblyzer embeddings of real speech: one speaker's lines ≈ 0.8,
# different speakers 0.45-0.67.
SAME_SPEAKER = 0.7

# pkg_resources comes from setuptools<81; webrtcvad (resemblyzer's VAD) imports it.
_MODULES = ("resemblyzer", "torch", "webrtcvad", "pkg_resources")
_INSTALL = "pip install 'dubbing-studio[speakers]'"
# resemblyzer's feature settings (hparams.py): 25 ms windows every 10 ms, 40 mel bands,
# 1.6 s partial utterances 1.3 times a second, volume raised to -30 dBFS.
_N_FFT, _HOP, _N_MELS = 400, 160, 40
_PARTIALS_PER_S, _MIN_COVERAGE, _TARGET_DBFS = 1.3, 0.75, -30


class SpeakerEncoder(Protocol):
    """Turns a stretch of speech into a voice embedding."""

    name: str

    def available(self) -> tuple[bool, str]:
        """Whether it can run here and, if not, why (with the fix)."""
        ...

    def embed(self, samples_16k_mono: FloatAudio) -> Embedding | None:
        """A unit vector, or None when the audio holds too little speech to tell a voice."""
        ...


class ResemblyzerEncoder:
    """Resemblyzer's voice encoder (256-d, 17 MB of weights in the wheel, CPU), loaded on
    first use and released when idle."""

    name = "resemblyzer"

    def __init__(self, idle_ttl_s: float = 600.0) -> None:
        self._model: ModelLease[VoiceEncoder] = ModelLease(
            _load_voice_encoder, idle_ttl_s=idle_ttl_s
        )

    def available(self) -> tuple[bool, str]:
        missing = [name for name in _MODULES if importlib.util.find_spec(name) is None]
        if missing:
            return False, f"{', '.join(missing)} not installed; {_INSTALL}"
        return True, ""

    def embed(self, samples_16k_mono: FloatAudio) -> Embedding | None:
        """resemblyzer's ``preprocess_wav`` and ``embed_utterance``, except that the mel
        spectrogram is computed here (``_mel_power``): librosa's costs 2-3 s and 150 MB on
        first use in every process, and up to a minute of Numba compilation on a fresh
        install."""
        if len(samples_16k_mono) < MIN_SPEECH_S * SAMPLE_RATE or not np.any(samples_16k_mono):
            return None  # too short, or digital silence (its volume cannot be normalised)
        with self._model.use() as model:
            import torch  # already imported by the loader
            from resemblyzer.audio import normalize_volume, trim_long_silences

            louder = normalize_volume(samples_16k_mono, _TARGET_DBFS, increase_only=True)
            speech = trim_long_silences(louder.astype(np.float32))
            if len(speech) < MIN_SPEECH_S * SAMPLE_RATE:
                return None
            wav_slices, mel_slices = model.compute_partial_slices(
                len(speech), _PARTIALS_PER_S, _MIN_COVERAGE
            )
            padded = np.pad(speech, (0, max(0, wav_slices[-1].stop - len(speech))))
            mel = _mel_power(padded)
            with torch.inference_mode():
                partials = model(torch.from_numpy(np.stack([mel[s] for s in mel_slices])))
            mean = partials.numpy().mean(axis=0)
        norm = float(np.linalg.norm(mean))
        return (mean / norm).astype(np.float32) if norm > 0 else None

    def release_idle(self) -> None:
        self._model.reap()


def _load_voice_encoder() -> VoiceEncoder:
    """Import torch and resemblyzer (only here, so the studio runs without the extra)."""
    try:
        import torch

        with warnings.catch_warnings():
            # resemblyzer imports scipy.ndimage.morphology and webrtcvad imports
            # pkg_resources, both deprecated; neither is ours to fix.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            from resemblyzer import VoiceEncoder
    except ImportError as error:
        raise EngineUnavailable(
            f"Diarization cannot run here: {error.name} did not import; {_INSTALL}"
        ) from error
    # One thread: with two under load, one embedding took 7.7 s instead of 0.1 s.
    torch.set_num_threads(1)
    return VoiceEncoder("cpu", verbose=False)


# One per process, like the registry's engines: the model loads on the first diarized dub.
VOICE_ENCODER = ResemblyzerEncoder()


def diarization_enabled(requested: bool | None, encoder: SpeakerEncoder = VOICE_ENCODER) -> bool:
    """``DubPlan.diarize``: None diarizes when the encoder can run here, True requires it (a
    clear error when it cannot), False never diarizes."""
    if requested is False:
        return False
    ok, reason = encoder.available()
    if requested and not ok:
        raise EngineUnavailable(f"Diarization was asked for but cannot run here: {reason}.")
    return ok


def diarize_file(
    path: Path, spans: Sequence[Span], encoder: SpeakerEncoder = VOICE_ENCODER
) -> list[str]:
    """``diarize`` on a recognition file (16 kHz mono WAV)."""
    samples, rate = media.decode_audio(path, sample_rate=SAMPLE_RATE, channels="mono")
    return diarize(samples, rate, spans, encoder)


def diarize(
    audio_16k_mono: FloatAudio,
    rate: int,
    spans: Sequence[Span],
    encoder: SpeakerEncoder = VOICE_ENCODER,
) -> list[str]:
    """A speaker label for each line span: "S1", "S2"… in order of first appearance."""
    if rate != SAMPLE_RATE:
        raise InvalidInput(f"Diarization takes {SAMPLE_RATE} Hz audio, not {rate} Hz.")
    embeddings = [
        encoder.embed(audio_16k_mono[round(start * rate) : round(end * rate)])
        if end - start >= MIN_SPEECH_S
        else None
        for start, end in spans
    ]
    return assign_speakers(spans, embeddings)


def assign_speakers(
    spans: Sequence[Span],
    embeddings: Sequence[npt.NDArray[np.floating] | None],
    threshold: float = SAME_SPEAKER,
    min_speech_s: float = MIN_SPEECH_S,
) -> list[str]:
    """Label lines by voice: lines with an embedding and at least ``min_speech_s`` are
    clustered (``_cluster``); the others take the label of the nearest such line in time
    (the earlier one on a tie). Labels are "S1", "S2"… in order of first appearance."""
    if len(spans) != len(embeddings):
        raise ValueError(f"{len(spans)} spans but {len(embeddings)} embeddings")
    voiced = [
        i
        for i, ((start, end), vector) in enumerate(zip(spans, embeddings, strict=True))
        if vector is not None and end - start >= min_speech_s
    ]
    if not voiced:
        return ["S1"] * len(spans)
    vectors = np.stack([np.asarray(embeddings[i], dtype=np.float64) for i in voiced])
    clusters = dict(zip(voiced, _cluster(vectors, threshold), strict=True))
    starts = np.array([spans[i][0] for i in voiced])
    ends = np.array([spans[i][1] for i in voiced])
    for i, (start, end) in enumerate(spans):
        if i not in clusters:
            gaps = np.maximum(0.0, np.maximum(starts - end, start - ends))
            clusters[i] = clusters[voiced[int(np.argmin(gaps))]]
    names: dict[int, str] = {}
    for i in sorted(range(len(spans)), key=lambda i: spans[i][0]):
        names.setdefault(clusters[i], f"S{len(names) + 1}")
    return [names[clusters[i]] for i in range(len(spans))]


def _cluster(vectors: npt.NDArray[np.float64], threshold: float) -> list[int]:
    """Average-linkage agglomerative clustering: merge the two clusters whose lines are most
    alike on average until no pair reaches ``threshold``; returns a cluster id per vector.

    Not centroid linkage: a centroid averages away each line's noise, so centroids of two
    speakers score higher than their lines do (lines 0.8 alike within each speaker and 0.6
    across give centroids 0.6 / 0.8 = 0.75 apart, over the threshold). The mean similarity
    of line pairs stays on the scale the threshold was measured on, whatever the sizes.
    """
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    size = np.ones(len(unit))
    cluster = np.arange(len(unit))
    # Each row's most similar cluster, so a merge rescans only the rows it touched (hours of
    # input are thousands of lines).
    partner = np.argmax(similarity, axis=1)
    best = similarity[cluster, partner]
    while True:
        i = int(np.argmax(best))
        j = int(partner[i])
        if best[i] < threshold:
            return [int(c) for c in cluster]
        # The merged cluster's mean similarity to each other is the size-weighted mean of its
        # parts' (Lance-Williams); retired rows and columns hold -inf.
        merged = (size[i] * similarity[i] + size[j] * similarity[j]) / (size[i] + size[j])
        similarity[i, :] = similarity[:, i] = merged
        similarity[j, :] = similarity[:, j] = best[j] = -np.inf
        similarity[i, i] = -np.inf
        size[i] += size[j]
        cluster[cluster == j] = i
        # A mean is never above the larger of its parts, so only rows whose best partner
        # was i or j can have a new one.
        stale = np.flatnonzero((partner == i) | (partner == j))
        partner[stale] = np.argmax(similarity[stale], axis=1)
        best[stale] = similarity[stale, partner[stale]]


def _mel_power(wav: FloatAudio) -> npt.NDArray[np.float32]:
    """librosa's ``melspectrogram(sr=16000, n_fft=400, hop_length=160, n_mels=40)`` as
    resemblyzer calls it (centred zero-padded frames, periodic Hann window, power 2, Slaney
    mel filters), as (frames, bands); matches librosa 0.11 to 1e-6 of the peak."""
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(wav, _N_FFT // 2), _N_FFT)[::_HOP]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_N_FFT) / _N_FFT)
    power = np.abs(np.fft.rfft(frames * window.astype(np.float32), axis=1)) ** 2
    return (power @ _mel_filters().T).astype(np.float32)


def _mel_filters() -> npt.NDArray[np.float64]:
    """Slaney-style triangular mel filters (librosa's default), (bands, FFT bins)."""
    bins = np.fft.rfftfreq(_N_FFT, 1 / SAMPLE_RATE)
    edges = _mel_to_hz(np.linspace(0.0, _hz_to_mel(SAMPLE_RATE / 2), _N_MELS + 2))
    ramps = np.subtract.outer(edges, bins)
    widths = np.diff(edges)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]


# Slaney's mel scale: linear up to 1 kHz (200/3 Hz per mel), logarithmic above.
_HZ_PER_MEL, _LOG_FROM_HZ, _LOG_STEP = 200 / 3, 1000.0, np.log(6.4) / 27


def _hz_to_mel(hz: float) -> float:
    if hz < _LOG_FROM_HZ:
        return hz / _HZ_PER_MEL
    return float(_LOG_FROM_HZ / _HZ_PER_MEL + np.log(hz / _LOG_FROM_HZ) / _LOG_STEP)


def _mel_to_hz(mels: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    log_from = _LOG_FROM_HZ / _HZ_PER_MEL
    return np.where(
        mels < log_from,
        mels * _HZ_PER_MEL,
        _LOG_FROM_HZ * np.exp(_LOG_STEP * (mels - log_from)),
    )
