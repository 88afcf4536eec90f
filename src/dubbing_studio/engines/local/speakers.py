"""Speaker embeddings with resemblyzer's voice encoder (the optional ``speakers`` extra).

256-d voice vectors from a 17 MB model that ships in the resemblyzer wheel. Its network (three
LSTM layers and a linear layer) runs here in numpy, its weights read from the wheel's checkpoint
without torch: importing torch alone costs about 230 MB and seconds, more than the whole model
does. Embeddings match resemblyzer's own (torch) to 1 - cos < 1e-6.
"""

from __future__ import annotations

import importlib.util
import pickle
import struct
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from dubbing_studio.domain.errors import EngineFailed, EngineUnavailable
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.engines.lease import ModelLease
from dubbing_studio.engines.local._packages import package_dir

Embedding = npt.NDArray[np.float32]
Weights = dict[str, npt.NDArray[np.float32]]

SAMPLE_RATE = 16_000
# Less speech than this embeds too noisily to trust; such a line takes a neighbour's label.
MIN_SPEECH_S = 1.0

# webrtcvad (the voice activity detector resemblyzer trims silences with) imports
# pkg_resources, which comes from setuptools<81; threadpoolctl keeps numpy's matrix products
# on one thread.
_MODULES = ("resemblyzer", "webrtcvad", "pkg_resources", "threadpoolctl")
_INSTALL = "pip install 'dubbing-studio[speakers]'"
# resemblyzer's feature settings (hparams.py): 25 ms windows every 10 ms, 40 mel bands,
# 1.6 s partial utterances (the length it was trained on), volume raised to -30 dBFS.
_N_FFT, _HOP, _N_MELS = 400, 160, 40
_PARTIAL_FRAMES, _TARGET_DBFS = 160, -30
# Partials overlap by half (resemblyzer's own rate, 1.3 a second, is about the same cost).
_PARTIAL_HOP = _PARTIAL_FRAMES // 2
# Slaney's mel scale (librosa's default): 200/3 Hz per mel up to 1 kHz, logarithmic above.
_HZ_PER_MEL, _LOG_FROM_HZ, _LOG_STEP = 200 / 3, 1000.0, np.log(6.4) / 27
# resemblyzer's silence trimming (hparams.py): webrtcvad's most aggressive mode on 30 ms
# windows, smoothed over 8 windows; speech keeps up to 6 windows of silence around it.
_VAD_WINDOW, _VAD_SMOOTHING, _VAD_KEPT_SILENCE = SAMPLE_RATE * 30 // 1000, 8, 6
_LAYERS, _HIDDEN = 3, 256
# Partials through the network at once: each takes 655 KB of gate inputs (160 steps of 1,024),
# so a batch stays near 40 MB however long the input.
_BATCH_PARTIALS = 64
_INT16_MAX = 2**15 - 1


class ResemblyzerEncoder:
    """Resemblyzer's voice encoder (256-d, 17 MB of weights in the wheel, CPU), loaded on
    first use and released when idle."""

    name = "resemblyzer"

    def __init__(self, idle_ttl_s: float = 600.0) -> None:
        self._model: ModelLease[Weights] = ModelLease(_load_weights, idle_ttl_s=idle_ttl_s)

    def available(self) -> tuple[bool, str]:
        missing = [name for name in _MODULES if importlib.util.find_spec(name) is None]
        if missing:
            return False, f"{', '.join(missing)} not installed; {_INSTALL}"
        return True, ""

    def embed(self, clips: Sequence[FloatAudio]) -> list[Embedding | None]:
        """resemblyzer's ``preprocess_wav`` and ``embed_utterance`` (the mean of 1.6 s partial
        utterances of the speech, silences trimmed) of each clip, with three changes:

        - every partial lies inside the speech (``_partials``): resemblyzer pads the last one
          with digital silence, which on a 1-2 s line is a third of what it hears. Unpadded,
          lines of 1.2-2 s score 0.06-0.1 closer to their own speaker and no closer to others
          (measured on ``samples/``: jfk.flac and both readers of stereo_diarization.wav);
        - the mel spectrogram is computed here (``mel_power``): librosa's costs 2-3 s and
          150 MB on first use in every process, and up to a minute of Numba compilation on a
          fresh install;
        - the partials of all the clips go through the network together, up to
          ``_BATCH_PARTIALS`` at a time: each step of the LSTM is then one larger product
          instead of one small one per clip (the 17 lines of ``bench/pipeline.py``'s 62 s
          input: 0.8-1.0 s of CPU instead of 1.6-1.9 s, issue 12)."""
        heard = {i: p for i, p in enumerate(map(_clip_partials, clips)) if p is not None}
        by_length: dict[int, list[int]] = {}
        for index, partials in heard.items():
            by_length.setdefault(partials.shape[1], []).append(index)
        vectors: dict[int, npt.NDArray[np.float32]] = {}
        from threadpoolctl import threadpool_limits

        # One thread: with two under load, the small products of each LSTM step take ten
        # times as long.
        with self._model.use() as weights, threadpool_limits(1, user_api="blas"):
            for members in by_length.values():
                for batch in _batches(members, [len(heard[i]) for i in members]):
                    done = _voice_vectors(weights, np.concatenate([heard[i] for i in batch]))
                    ends = np.cumsum([len(heard[i]) for i in batch])[:-1]
                    vectors.update(zip(batch, np.split(done, ends), strict=True))
        return [_unit_mean(vectors[i]) if i in vectors else None for i in range(len(clips))]

    def warm(self) -> None:
        self._model.warm()

    def release_idle(self) -> None:
        self._model.reap()


def _clip_partials(clip: FloatAudio) -> npt.NDArray[np.float32] | None:
    """The mel partials ``embed`` hears in a clip; None when it is too short, digital silence
    (whose volume cannot be normalised), or too little speech once silences are trimmed."""
    if len(clip) < MIN_SPEECH_S * SAMPLE_RATE or not np.any(clip):
        return None
    speech = _trim_long_silences(_raise_volume(clip, _TARGET_DBFS))
    if len(speech) < MIN_SPEECH_S * SAMPLE_RATE:
        return None
    return _partials(mel_power(speech))


def _batches(members: list[int], sizes: list[int]) -> list[list[int]]:
    """``members`` in order, in groups of up to ``_BATCH_PARTIALS`` partials (a clip with more
    is a group of its own)."""
    groups: list[list[int]] = []
    total = _BATCH_PARTIALS
    for member, size in zip(members, sizes, strict=True):
        if total + size > _BATCH_PARTIALS:
            groups.append([])
            total = 0
        groups[-1].append(member)
        total += size
    return groups


def _unit_mean(partials: npt.NDArray[np.float32]) -> Embedding | None:
    mean = partials.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm).astype(np.float32) if norm > 0 else None


def _voice_vectors(weights: Weights, mels: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """resemblyzer's ``VoiceEncoder.forward`` on (partials, frames, bands) mel frames: the last
    hidden state of three LSTM layers, through a linear layer and a ReLU, L2-normalised."""
    x = mels.astype(np.float32)
    hidden = np.zeros((len(x), _HIDDEN), np.float32)
    for layer in range(_LAYERS):
        bias = weights[f"lstm.bias_ih_l{layer}"] + weights[f"lstm.bias_hh_l{layer}"]
        inputs = x @ weights[f"lstm.weight_ih_l{layer}"].T + bias  # every step's at once
        recurrent = np.ascontiguousarray(weights[f"lstm.weight_hh_l{layer}"].T)
        hidden = np.zeros((len(x), _HIDDEN), np.float32)
        cell = np.zeros_like(hidden)
        outputs = np.empty((*x.shape[:2], _HIDDEN), np.float32)
        for step in range(x.shape[1]):
            gates = inputs[:, step] + hidden @ recurrent
            # PyTorch's gate order: input, forget, cell, output.
            opened = _sigmoid(gates)
            candidate = np.tanh(gates[:, 2 * _HIDDEN : 3 * _HIDDEN])
            cell = opened[:, _HIDDEN : 2 * _HIDDEN] * cell + opened[:, :_HIDDEN] * candidate
            hidden = opened[:, 3 * _HIDDEN :] * np.tanh(cell)
            outputs[:, step] = hidden
        x = outputs
    raw = np.maximum(hidden @ weights["linear.weight"].T + weights["linear.bias"], 0.0)
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    return (raw / np.maximum(norms, 1e-12)).astype(np.float32)


def _sigmoid(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return (0.5 * (np.tanh(0.5 * x) + 1.0)).astype(np.float32, copy=False)


def _raise_volume(samples: FloatAudio, target_dbfs: float) -> FloatAudio:
    """resemblyzer's ``normalize_volume(..., increase_only=True)``."""
    rms = float(np.sqrt(np.mean((samples.astype(np.float64) * _INT16_MAX) ** 2)))
    change = target_dbfs - 20 * np.log10(rms / _INT16_MAX)
    return samples if change < 0 else (samples * 10 ** (change / 20)).astype(np.float32)


def _trim_long_silences(samples: FloatAudio) -> FloatAudio:
    """resemblyzer's ``trim_long_silences``: speech as webrtcvad hears it, smoothed, with a
    little of the silence around it."""
    with warnings.catch_warnings():
        # webrtcvad imports pkg_resources, deprecated; not ours to fix.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import webrtcvad

    usable = samples[: len(samples) - len(samples) % _VAD_WINDOW]
    pcm = np.round(usable * _INT16_MAX).astype("<i2").tobytes()
    vad = webrtcvad.Vad(3)
    width = _VAD_WINDOW * 2  # bytes
    voiced = np.array(
        [vad.is_speech(pcm[at : at + width], SAMPLE_RATE) for at in range(0, len(pcm), width)],
        dtype=np.float64,
    )
    if not len(voiced):
        return usable
    padded = np.concatenate(
        (np.zeros((_VAD_SMOOTHING - 1) // 2), voiced, np.zeros(_VAD_SMOOTHING // 2))
    )
    sums = np.cumsum(padded)
    sums[_VAD_SMOOTHING:] = sums[_VAD_SMOOTHING:] - sums[:-_VAD_SMOOTHING]
    mask = np.round(sums[_VAD_SMOOTHING - 1 :] / _VAD_SMOOTHING).astype(bool)
    # Binary dilation by 2 * 3 + 1 windows, centred (scipy's ``binary_dilation``).
    reach = _VAD_KEPT_SILENCE + 1
    mask = np.convolve(mask.astype(np.int64), np.ones(reach, np.int64), mode="same") > 0
    return usable[np.repeat(mask, _VAD_WINDOW)]


def _load_weights() -> Weights:
    """The voice encoder's weights from resemblyzer's wheel, read without torch."""
    package = package_dir("resemblyzer")
    if package is None:
        raise EngineUnavailable(f"Diarization cannot run here (resemblyzer missing); {_INSTALL}")
    try:
        with open(package / "pretrained.pt", "rb") as checkpoint:
            state = read_torch_checkpoint(checkpoint)["model_state"]
    except (OSError, pickle.UnpicklingError, KeyError, ValueError, struct.error) as error:
        raise EngineFailed(f"Could not read resemblyzer's voice encoder: {error}") from error
    return {name: tensor() for name, tensor in state.items() if name.startswith(("lstm", "linear"))}


# --- torch's legacy checkpoint format, without torch --------------------------------------
_STORAGE_TYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _Storage:
    def __init__(self, dtype: type) -> None:
        self.dtype = np.dtype(dtype)
        self.data: npt.NDArray[Any] = np.zeros(0, self.dtype)


def _rebuild_tensor(
    storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> Callable[[], npt.NDArray[Any]]:
    """A tensor whose storage is read after the pickle: its array, once asked for."""

    def array() -> npt.NDArray[Any]:
        strides = tuple(step * storage.dtype.itemsize for step in stride)
        view = np.lib.stride_tricks.as_strided(storage.data[offset:], tuple(size), strides)
        return np.array(view)

    return array


class _CheckpointUnpickler(pickle.Unpickler):
    """Allows only what a state dict holds: tensors, storages and ordered dicts."""

    def __init__(self, file: IO[bytes], storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_TYPES:
            return _STORAGE_TYPES[name]
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in a checkpoint")

    def persistent_load(self, pid: Any) -> _Storage:
        _, dtype, key = pid[:3]
        return self._storages.setdefault(str(key), _Storage(dtype))


def read_torch_checkpoint(file: IO[bytes]) -> Any:
    """A ``torch.save`` file of the legacy (pre-1.6, not zip) format, tensors as callables
    that return numpy arrays: the magic number, protocol and system info pickles, the object,
    the storage keys, then each storage as a little-endian element count and its bytes."""
    for _ in range(3):
        pickle.load(file)  # noqa: S301  # plain numbers and a dict of sizes
    storages: dict[str, _Storage] = {}
    found = _CheckpointUnpickler(file, storages).load()
    for key in pickle.load(file):  # noqa: S301  # a list of strings
        storage = storages[str(key)]
        (count,) = struct.unpack("<q", file.read(8))
        raw = file.read(count * storage.dtype.itemsize)
        storage.data = np.frombuffer(raw, dtype=storage.dtype)
    return found


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
