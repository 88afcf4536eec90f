"""Speaker embeddings with resemblyzer's voice encoder (the optional ``speakers`` extra).

256-d voice vectors from a 17 MB model that ships in the wheel; torch and resemblyzer are
imported only when the model loads, so the studio runs without the extra.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from dubbing_studio.domain.errors import EngineUnavailable
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.engines.lease import ModelLease

if TYPE_CHECKING:
    from resemblyzer import VoiceEncoder

Embedding = npt.NDArray[np.float32]

SAMPLE_RATE = 16_000
# Less speech than this embeds too noisily to trust; such a line takes a neighbour's label.
MIN_SPEECH_S = 1.0

# pkg_resources comes from setuptools<81; webrtcvad (resemblyzer's VAD) imports it.
_MODULES = ("resemblyzer", "torch", "webrtcvad", "pkg_resources")
_INSTALL = "pip install 'dubbing-studio[speakers]'"
# resemblyzer's feature settings (hparams.py): 25 ms windows every 10 ms, 40 mel bands,
# 1.6 s partial utterances (the length it was trained on), volume raised to -30 dBFS.
_N_FFT, _HOP, _N_MELS = 400, 160, 40
_PARTIAL_FRAMES, _TARGET_DBFS = 160, -30
# Partials overlap by half (resemblyzer's own rate, 1.3 a second, is about the same cost).
_PARTIAL_HOP = _PARTIAL_FRAMES // 2
# Slaney's mel scale (librosa's default): 200/3 Hz per mel up to 1 kHz, logarithmic above.
_HZ_PER_MEL, _LOG_FROM_HZ, _LOG_STEP = 200 / 3, 1000.0, np.log(6.4) / 27


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
        """resemblyzer's ``preprocess_wav`` and ``embed_utterance`` (the mean of 1.6 s partial
        utterances of the speech, silences trimmed), with two changes:

        - every partial lies inside the speech (``_partials``): resemblyzer pads the last one
          with digital silence, which on a 1-2 s line is a third of what it hears. Unpadded,
          lines of 1.2-2 s score 0.06-0.1 closer to their own speaker and no closer to others
          (measured on ``samples/``: jfk.flac and both readers of stereo_diarization.wav);
        - the mel spectrogram is computed here (``_mel_power``): librosa's costs 2-3 s and
          150 MB on first use in every process, and up to a minute of Numba compilation on a
          fresh install."""
        if len(samples_16k_mono) < MIN_SPEECH_S * SAMPLE_RATE or not np.any(samples_16k_mono):
            return None  # too short, or digital silence (its volume cannot be normalised)
        with self._model.use() as model:
            import torch  # already imported by the loader
            from resemblyzer.audio import normalize_volume, trim_long_silences

            louder = normalize_volume(samples_16k_mono, _TARGET_DBFS, increase_only=True)
            speech = trim_long_silences(louder.astype(np.float32))
            if len(speech) < MIN_SPEECH_S * SAMPLE_RATE:
                return None
            with torch.inference_mode():
                partials = model(torch.from_numpy(_partials(mel_power(speech))))
            mean = partials.float().numpy().mean(axis=0)  # float32 also under bf16 autocast
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
        raise EngineUnavailable(f"Diarization cannot run here ({error}); {_INSTALL}") from error
    # One thread: with two under load, one embedding took 7.7 s instead of 0.1 s.
    torch.set_num_threads(1)
    return VoiceEncoder("cpu", verbose=False)


def _partials(mel: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(partials, frames, bands): 1.6 s windows overlapping by half, the last one ending with
    the speech; speech shorter than one window is one shorter partial (the encoder is an LSTM
    and takes any length)."""
    if len(mel) <= _PARTIAL_FRAMES:
        return mel[None]
    starts = [*range(0, len(mel) - _PARTIAL_FRAMES, _PARTIAL_HOP), len(mel) - _PARTIAL_FRAMES]
    return np.stack([mel[start : start + _PARTIAL_FRAMES] for start in starts])


def mel_power(wav: FloatAudio) -> npt.NDArray[np.float32]:
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
