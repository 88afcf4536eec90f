"""Speakers told apart by voice, for input where they share one channel.

Each line's audio is embedded by the studio's speaker encoder (resemblyzer, in the optional
``speakers`` extra) and lines whose voices are alike get one label. Speakers panned to separate
channels need none of this (see ``ingest``). The clustering is a pure function of the
embeddings, so its rules are tested without the model.

The encoder (a second or more of work per minute of speech) runs only when the lines may hold
more than one voice: not when its clustering could not find two anyway, nor when every line's
pitch and spectrum agree as closely as one speaker's lines do (``one_voice``).

The figures below were measured on real speech (``samples/``: jfk.flac and the two LibriSpeech
readers of stereo_diarization.wav, which are the hard case: two similar voices) with
``ResemblyzerEncoder``; ``tests/pipeline/test_diarize.py`` measures them again and checks the
margins.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dubbing_studio import media
from dubbing_studio.domain.errors import EngineUnavailable, InvalidInput
from dubbing_studio.domain.speech import FloatAudio
from dubbing_studio.engines.local.speakers import MIN_SPEECH_S, SAMPLE_RATE, mel_power
from dubbing_studio.engines.protocols import SpeakerEncoder
from dubbing_studio.media.pitch import HOP_S, semitones, track_f0

Span = tuple[float, float]  # start and end of a line, in seconds

# Cosine similarity of two lines of 2 s or more: one speaker's 0.80-0.83, different speakers'
# 0.44-0.65. The threshold is the middle of that gap, 0.07 from either side (0.7 was 0.05 from
# the close pair of readers).
SAME_SPEAKER = 0.72
# How alike two lines of one voice are (measured 0.80-0.83).
LINE_COHERENCE = 0.8
# Two clusters whose voices are this alike, line noise taken out (``_merge_voices``), are one
# voice that average linkage split by chance (about 1.0; 0.88 for JFK's lines with noise added
# to them); the two readers score 0.80.
SAME_VOICE = 0.85
# Less speech than this in all of a cluster's lines is too little to call it another voice:
# lines of 1.2 s score as low as 0.64 to their own speaker, under the 0.67 of the other reader.
# Such a cluster joins the one its lines are most alike to.
MIN_VOICE_S = 2.0
# One speaker's lines, by median F0 (of lines with ``PITCHED_S`` voiced): JFK's 1.3-2.6
# semitones apart as Whisper cuts them, the halves of the left reader's recording 2.9; the two
# readers 5-9 apart. Two speakers of about one pitch recorded alike would pass as well, so the
# threshold sits at the tight end: lines that vary more (JFK's 2.6) are embedded, which costs
# about 0.1 s a line, far less than merging two people.
ONE_VOICE_SEMITONES = 2.0
# RMS difference of two lines' mean log mel spectra (natural log): one recording's lines
# 0.2-0.9 apart (JFK), separate recordings 2.1-3.2, the two readers (one microphone each,
# alike) 0.5-0.65, which pitch tells apart.
ONE_VOICE_SPECTRUM = 1.0
# Voiced speech a line needs for its median F0 to be compared (lines with less are compared
# by spectrum only, and may add up to less than ``MIN_VOICE_S``).
PITCHED_S = 0.5
_LOUD_FRAME = 10 ** (-35 / 10)  # mel frames this far below the loudest (power) are silence


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
    """``diarize`` on a recognition file (16 kHz mono WAV); every line "S1", without loading
    the encoder, when the lines are ``one_voice``."""
    samples, rate = media.decode_audio(path, sample_rate=SAMPLE_RATE, channels="mono")
    if one_voice(samples, rate, spans):
        return ["S1"] * len(spans)
    return diarize(samples, rate, spans, encoder)


def one_voice(audio_16k_mono: FloatAudio, rate: int, spans: Sequence[Span]) -> bool:
    """Whether the lines hold one voice for sure, as far as cheap measures can tell:

    - ``assign_speakers`` could not find two: fewer than two lines long enough to embed, or
      less speech in them than two voices of ``MIN_VOICE_S`` each;
    - or every such line's median F0 lies within ``ONE_VOICE_SEMITONES`` of the others' and
      its mean spectrum within ``ONE_VOICE_SPECTRUM``, and the lines with too little voiced
      speech to compare pitch add up to less than one voice.
    """
    embeddable = [(start, end) for start, end in spans if end - start >= MIN_SPEECH_S]
    if len(embeddable) < 2 or sum(end - start for start, end in embeddable) < 2 * MIN_VOICE_S:
        return True
    pitches: list[float] = []
    spectra = []
    unpitched_s = 0.0
    for start, end in embeddable:
        line = audio_16k_mono[round(start * rate) : round(end * rate)]
        f0 = track_f0(line, rate)
        if len(f0) * HOP_S >= PITCHED_S:
            pitches.append(float(np.median(f0)))
        else:
            unpitched_s += end - start
        spectra.append(_mean_log_spectrum(line))
    if unpitched_s >= MIN_VOICE_S or not pitches:
        return False
    if semitones(min(pitches), max(pitches)) > ONE_VOICE_SEMITONES:
        return False
    table = np.stack(spectra)
    gaps = np.sqrt(np.mean((table[:, None, :] - table[None, :, :]) ** 2, axis=2))
    return bool(gaps.max() <= ONE_VOICE_SPECTRUM)


def _mean_log_spectrum(line: FloatAudio) -> npt.NDArray[np.float64]:
    """The mean log mel spectrum of a line's loud frames, its overall level taken out."""
    mel = mel_power(np.asarray(line, dtype=np.float32)).astype(np.float64)
    energy = mel.sum(axis=1)
    logs = np.log(mel[energy >= energy.max() * _LOUD_FRAME] + 1e-10).mean(axis=0)
    return logs - logs.mean()


def diarize(
    audio_16k_mono: FloatAudio,
    rate: int,
    spans: Sequence[Span],
    encoder: SpeakerEncoder,
) -> list[str]:
    """A speaker label for each line span: "S1", "S2"… in order of first appearance."""
    if rate != SAMPLE_RATE:
        raise InvalidInput(f"Diarization takes {SAMPLE_RATE} Hz audio, not {rate} Hz.")
    long_enough = [i for i, (start, end) in enumerate(spans) if end - start >= MIN_SPEECH_S]
    clips = [audio_16k_mono[round(start * rate) : round(end * rate)] for start, end in spans]
    embedded = dict(zip(long_enough, encoder.embed([clips[i] for i in long_enough]), strict=True))
    return assign_speakers(spans, [embedded.get(i) for i in range(len(spans))])


def assign_speakers(
    spans: Sequence[Span],
    embeddings: Sequence[npt.NDArray[np.floating] | None],
    threshold: float = SAME_SPEAKER,
    min_speech_s: float = MIN_SPEECH_S,
    same_voice: float = SAME_VOICE,
    min_voice_s: float = MIN_VOICE_S,
) -> list[str]:
    """Label lines by voice: lines with an embedding and at least ``min_speech_s`` are
    clustered (``_cluster``, then ``_merge_voices``); the others take the label of the nearest
    such line in time (the earlier one on a tie). Labels are "S1", "S2"… in order of first
    appearance."""
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
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    seconds = np.array([spans[i][1] - spans[i][0] for i in voiced])
    found = _merge_voices(unit, _cluster(unit, threshold), seconds, same_voice, min_voice_s)
    clusters = dict(zip(voiced, found, strict=True))
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


def _cluster(unit: npt.NDArray[np.float64], threshold: float) -> list[int]:
    """Average-linkage agglomerative clustering: merge the two clusters whose lines are most
    alike on average until no pair reaches ``threshold``; returns a cluster id per vector.

    Not centroid linkage: a centroid averages away each line's noise, so centroids of two
    speakers score higher than their lines do (lines 0.8 alike within each speaker and 0.6
    across give centroids of many lines up to 0.6 / 0.8 = 0.75 alike, over the threshold).
    The mean similarity of line pairs stays on the scale the threshold was measured on,
    whatever the sizes.
    """
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


def _merge_voices(
    unit: npt.NDArray[np.float64],
    cluster: Sequence[int],
    seconds: npt.NDArray[np.float64],
    same_voice: float,
    min_voice_s: float,
) -> list[int]:
    """Second pass over ``_cluster``'s clusters (``unit`` vectors, ``seconds`` of each line).

    First, merge the two clusters whose voices are most alike while they reach
    ``same_voice``: the mean similarity of their lines over what lines of one voice score
    (each cluster's own mean, ``LINE_COHERENCE`` for a single line). That is the cosine of
    the two centroids with each line's noise taken out; a voice that linkage split by chance
    scores about 1, two similar voices (lines 0.8 alike, 0.64 across) 0.8. Then, briefest
    first, merge each cluster with under ``min_voice_s`` of lines into the one its lines are
    most alike to on average. Returns a cluster id per vector.
    """
    ids, index = np.unique(np.asarray(cluster), return_inverse=True)
    sums = np.zeros((len(ids), unit.shape[1]))
    np.add.at(sums, index, unit)
    counts = np.bincount(index).astype(np.float64)
    total_s = np.bincount(index, weights=seconds)
    alive = np.ones(len(ids), dtype=bool)
    # Dot products of the clusters' vector sums: sums[a] @ sums[b] / (n_a n_b) is the mean
    # similarity of a line of a and a line of b; rows of retired clusters are never read.
    dots = sums @ sums.T

    def coherence() -> npt.NDArray[np.float64]:
        """Each cluster's mean similarity of two of its lines (the diagonal of ``dots``
        also counts each line with itself)."""
        own = (np.diag(dots) - counts) / np.maximum(counts * (counts - 1), 1)
        return np.where(counts < 2, LINE_COHERENCE, own)

    voices = dots / np.outer(counts, counts) / np.sqrt(np.outer(coherence(), coherence()))
    np.fill_diagonal(voices, -np.inf)

    def merge(into: int, other: int) -> None:
        sums[into] += sums[other]
        counts[into] += counts[other]
        total_s[into] += total_s[other]
        total_s[other] = np.inf
        alive[other] = False
        index[index == other] = into
        dots[into] = dots[:, into] = sums @ sums[into]
        spread = coherence()
        spread = np.sqrt(spread * spread[into])
        row = np.where(alive, dots[into] / (counts * counts[into]) / spread, -np.inf)
        row[into] = -np.inf
        voices[into] = voices[:, into] = row
        voices[other] = voices[:, other] = -np.inf

    while True:
        a, b = np.unravel_index(int(np.argmax(voices)), voices.shape)
        if voices[a, b] < same_voice:
            break
        merge(int(a), int(b))
    while alive.sum() > 1:
        brief = int(np.argmin(total_s))
        if total_s[brief] >= min_voice_s:
            break
        mean_similarity = np.where(alive, dots[brief] / (counts * counts[brief]), -np.inf)
        mean_similarity[brief] = -np.inf
        merge(int(np.argmax(mean_similarity)), brief)
    return [int(i) for i in index]
