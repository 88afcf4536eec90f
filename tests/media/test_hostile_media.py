"""Hostile media never crashes the studio: each generated file decodes, or is refused with a
4xx StudioError. Uploads are read in a child process, so even a crash there is a clean 400."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest

from dubbing_studio.domain.errors import (
    StudioError,
    UndecodableMedia,
    UnsupportedMedia,
    UploadTooLarge,
)
from dubbing_studio.media import (
    Channels,
    ChildLimits,
    ChildPerCall,
    decode_audio,
    decode_untrusted,
    probe,
    probe_and_decode_untrusted,
    probe_untrusted,
    write_audio,
)
from dubbing_studio.media.probe import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from dubbing_studio.media.sandbox import ForkServer, Sandbox
from tests.media.hostile import (
    HOSTILE_FILES,
    LYING_MP3_SECONDS,
    HostileFile,
    lying_mp3,
    pcm_wav,
)
from tests.media.synth import dominant_frequency


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for hostile in HOSTILE_FILES:
        hostile.write(folder)
    return folder


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.mark.parametrize("hostile", HOSTILE_FILES, ids=lambda h: h.name)
def test_each_file_decodes_or_is_refused_with_a_4xx(
    hostile: HostileFile, hostile_dir: Path, work_dir: Path
) -> None:
    path = hostile_dir / hostile.name
    try:
        info = probe_untrusted(path, max_duration_s=60)
        samples, rate = decode_untrusted(path, max_duration_s=60, work_dir=work_dir)
    except StudioError as e:
        assert 400 <= e.status_code < 500 and e.detail, e
        assert not hostile.decodes, f"{hostile.name} was refused: {e.detail}"
    else:
        assert info.audio is not None and 1 <= info.audio.channels <= MAX_CHANNELS
        assert rate == 16000 and samples.ndim == 1 and samples.dtype == np.float32
        assert np.isfinite(samples).all()
        if hostile.decodes:
            assert np.abs(samples).max() > 0.01
    assert list(work_dir.glob("*")) == []  # the child's PCM never outlives the call


@pytest.mark.parametrize("hostile", HOSTILE_FILES, ids=lambda h: h.name)
def test_probing_and_decoding_in_one_child_gives_what_two_children_give(
    hostile: HostileFile, hostile_dir: Path, work_dir: Path
) -> None:
    """Two channels kept apart, any other count mixed to mono; the same refusals."""
    path = hostile_dir / hostile.name
    one_child = partial(
        probe_and_decode_untrusted, path, sample_rate=16000, max_duration_s=60, work_dir=work_dir
    )
    try:
        info = probe_untrusted(path, max_duration_s=60)
        two = info.audio is not None and info.audio.channels == 2
        channels: Channels = "stereo" if two else "mono"
        samples, rate = decode_untrusted(
            path, max_duration_s=60, channels=channels, work_dir=work_dir
        )
    except StudioError as refused:
        with pytest.raises(type(refused)):
            one_child()
    else:
        both = one_child()
        assert both[0] == info and both[2] == rate
        np.testing.assert_array_equal(both[1], samples)
    assert list(work_dir.glob("*")) == []


@pytest.mark.parametrize("channels", [3, 6, 8, 9, 12, 16])
def test_each_channel_of_many_can_be_taken_alone(
    channels: int, tmp_path: Path, work_dir: Path
) -> None:
    """Speakers panned to separate channels: any channel of a 16-channel file, by index, even
    where the file does not say which channel is where."""
    path = tmp_path / "many.wav"
    path.write_bytes(pcm_wav(channels=channels, rate=16000, seconds=1.0))
    for index in (0, channels - 1):
        alone, rate = decode_untrusted(path, channel=index, work_dir=work_dir)
        assert dominant_frequency(alone, rate) == pytest.approx(220 * (index + 1), abs=2)
    stereo, _ = decode_untrusted(path, channels="stereo", work_dir=work_dir)
    mono, _ = decode_untrusted(path, work_dir=work_dir)
    assert stereo.shape == (2, 16000) and mono.shape == (16000,)
    np.testing.assert_allclose(stereo[0], mono, atol=1e-6)  # unlabelled: all into both


@pytest.mark.parametrize("name", ["aac-7.1.mp4", "aac-7.1.mkv", "pcm-7.1-mask.wav"])
def test_seven_one_downmixes_and_splits(name: str, hostile_dir: Path, work_dir: Path) -> None:
    path = hostile_dir / name
    info = probe_untrusted(path)
    assert info.audio is not None and info.audio.channels == 8
    stereo, rate = decode_untrusted(path, sample_rate=None, channels="stereo", work_dir=work_dir)
    assert rate == 48000 and stereo.shape[0] == 2
    assert stereo.shape[1] / rate == pytest.approx(info.duration, abs=0.05)
    rear_right, rate = decode_untrusted(path, channel=7, sample_rate=48000, work_dir=work_dir)
    assert dominant_frequency(rear_right, rate) == pytest.approx(1760, abs=3)  # 220 Hz · 8


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"header_rate": 1}, "sample rate is 1 Hz"),
        ({"header_rate": 3_999}, "sample rate is 3,999 Hz"),
        ({"header_rate": 10_000_000}, "sample rate is 10,000,000 Hz"),
        ({"header_rate": 400_000}, "sample rate is 400,000 Hz"),
        ({"channels": 33, "seconds": 0.05}, "33 channels"),
    ],
)
def test_absurd_rates_and_channel_counts_are_refused_before_decoding(
    header: dict[str, int], reason: str, tmp_path: Path, work_dir: Path
) -> None:
    path = tmp_path / "absurd.wav"
    path.write_bytes(pcm_wav(**header))  # type: ignore[arg-type]
    for read in (
        lambda: probe(path),
        lambda: probe_untrusted(path),
        lambda: decode_untrusted(path, work_dir=work_dir),
    ):
        with pytest.raises(UnsupportedMedia, match=reason) as caught:
            read()
        assert caught.value.status_code == 415
        assert f"{MIN_SAMPLE_RATE:,} to {MAX_SAMPLE_RATE:,} Hz" in caught.value.detail or (
            f"1 to {MAX_CHANNELS}" in caught.value.detail
        )


@pytest.mark.parametrize("rate", [4_000, 8_000, 192_000, 384_000])
def test_real_rates_at_the_bounds_decode(rate: int, tmp_path: Path, work_dir: Path) -> None:
    path = tmp_path / "edge.wav"
    path.write_bytes(pcm_wav(rate=rate, seconds=0.25))
    samples, out_rate = decode_untrusted(path, sample_rate=None, work_dir=work_dir)
    assert out_rate == rate and len(samples) == rate // 4


def test_an_mp3_whose_header_lies_is_capped_while_decoding(tmp_path: Path, work_dir: Path) -> None:
    path = tmp_path / "lying.mp3"
    path.write_bytes(lying_mp3(tmp_path))
    assert probe(path, max_duration_s=5).duration < 1.0  # the header passes the cap
    with pytest.raises(UploadTooLarge, match="longer than the longest accepted, 0:00:05"):
        decode_untrusted(path, max_duration_s=5, work_dir=work_dir)
    with pytest.raises(UploadTooLarge):
        decode_audio(path, max_duration_s=5)
    samples, rate = decode_audio(path)
    assert len(samples) / rate == pytest.approx(LYING_MP3_SECONDS, abs=0.1)


def test_a_window_is_decoded_alone(jfk: Path, work_dir: Path) -> None:
    whole, rate = decode_audio(jfk, sample_rate=None, channels="stereo")
    part, part_rate = decode_untrusted(
        jfk, sample_rate=None, channels="stereo", start_s=4.0, end_s=5.5, work_dir=work_dir
    )
    assert part_rate == rate and part.shape == (2, round(1.5 * rate))
    np.testing.assert_allclose(part, whole[:, 4 * rate : round(5.5 * rate)], atol=1e-6)


@pytest.mark.parametrize("fmt", ["mp3", "m4a", "opus", "flac"])
def test_a_window_of_a_compressed_file_matches_the_whole(
    fmt: str, jfk: Path, tmp_path: Path
) -> None:
    """Seeking lands where the full decode has the same speech (no offset, no codec
    warm-up in the window), for codecs with and without encoder delay. At the file's own
    rate, as a line's source audio is served (resampling a window starts the resampler at
    another phase: a fraction of a sample away, inaudible but not bit-exact)."""
    speech, rate = decode_audio(jfk, sample_rate=48000)
    path = write_audio(tmp_path / f"jfk.{fmt}", speech, rate, fmt)
    whole, rate = decode_audio(path, sample_rate=None)
    for start in (2.0, 7.5):
        part, _ = decode_audio(path, sample_rate=None, start_s=start, end_s=start + 1.0)
        reference = whole[round(start * rate) : round((start + 1.0) * rate)]
        assert len(part) == len(reference) == rate
        assert np.corrcoef(part, reference)[0, 1] > 0.999


def test_a_window_past_the_end_is_empty(jfk: Path) -> None:
    samples, _ = decode_audio(jfk, start_s=20.0, end_s=21.0)
    assert samples.shape == (0,)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("segfault", r"crashed on it \(SIGSEGV\)"),
        ("abort", r"crashed on it \(SIGABRT\)"),
        ("spin", "more CPU time than allowed"),
        ("hang", "could not be read within 3 s"),
        ("babble", "gave no answer"),
    ],
)
@pytest.mark.parametrize("sandbox_kind", ["child per call", "fork server"])
def test_a_crashing_or_runaway_child_is_a_400_and_leaves_nothing(
    how: str, reason: str, sandbox_kind: str, tmp_path: Path, work_dir: Path
) -> None:
    path = tmp_path / f"{how}.wav"
    path.write_bytes(pcm_wav())
    limits = ChildLimits(base_cpu_s=1, wall_slack_s=1)  # CPU 1 s, wall 3 s
    sandbox: Sandbox = (
        ChildPerCall("tests.media.crashing_worker")
        if sandbox_kind == "child per call"
        else ForkServer("tests.media.crashing_worker")
    )
    try:
        with pytest.raises(UndecodableMedia, match=reason) as caught:
            decode_untrusted(path, work_dir=work_dir, limits=limits, sandbox=sandbox)
    finally:
        sandbox.close()
    assert caught.value.status_code == 400
    assert list(work_dir.glob("*")) == []


@pytest.mark.parametrize("sandbox", [ChildPerCall(), ForkServer()], ids=["per call", "forked"])
def test_the_child_cannot_use_more_memory_than_allowed(
    sandbox: Sandbox, tmp_path: Path, work_dir: Path
) -> None:
    """Too little address space even to start (or, forked, to allocate anything): a clean
    400, not a dead server."""
    path = tmp_path / "tone.wav"
    path.write_bytes(pcm_wav())
    try:
        with pytest.raises(UndecodableMedia):
            decode_untrusted(
                path, work_dir=work_dir, limits=ChildLimits(memory_mb=64), sandbox=sandbox
            )
    finally:
        sandbox.close()
    assert list(work_dir.glob("*")) == []
