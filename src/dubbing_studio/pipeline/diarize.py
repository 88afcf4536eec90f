"""Speakers told apart by voice, for input where they share one channel.

Each line's audio is embedded by the studio's speaker encoder (resemblyzer, in the optional
``speakers`` extra) and lines whose voices are alike get one label. Speakers panned to separate
channels need none of this (see ``ingest``). The clustering is a pure function of the
embeddings, so its rules are tested without the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dubbing_studio import media
from dubbing_studio.domain.errors import EngineUnavailable, InvalidInput
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.engines.local.speakers import MIN_SPEECH_S, SAMPLE_RATE
from dubbing_studio.engines.protocols import SpeakerEncoder

Span = tuple[float, float]  # start and end of a line, in seconds

# Cosine similarity of resemblyzer embeddings of real speech: one speaker's lines ≈ 0.8,
# different speakers 0.45-0.67.
SAME_SPEAKER = 0.7


def diarization_enabled(requested: bool | None, encoder: SpeakerEncoder) -> bool:
    """``DubPlan.diarize``: None diarizes when the encoder can run here, True requires it (a
    clear error when it cannot), False never diarizes."""
    if requested is False:
        return False
    ok, reason = encoder.available()
    if requested and not ok:
        raise EngineUnavailable(f"Diarization was asked for but cannot run here: {reason}.")
    return ok


def diarize_file(path: Path, spans: Sequence[Span], encoder: SpeakerEncoder) -> list[str]:
    """``diarize`` on a recognition file (16 kHz mono WAV)."""
    samples, rate = media.decode_audio(path, sample_rate=SAMPLE_RATE, channels="mono")
    return diarize(samples, rate, spans, encoder)


def diarize(
    audio_16k_mono: FloatAudio,
    rate: int,
    spans: Sequence[Span],
    encoder: SpeakerEncoder,
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
    across give centroids of many lines up to 0.6 / 0.8 = 0.75 alike, over the threshold).
    The mean similarity of line pairs stays on the scale the threshold was measured on,
    whatever the sizes.
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
