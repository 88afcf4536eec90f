"""Decoding real and generated media to PCM: rates, channels, and corrupt input."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from dubbing_studio.domain.errors import (
    InvalidInput,
    UndecodableMedia,
    UnsupportedMedia,
    UploadTooLarge,
)
from dubbing_studio.media import decode_audio, encode_audio
from dubbing_studio.media.decode import TRUNCATION_TOLERANCE
from tests.media.synth import dominant_frequency, live_webm, make_video, tone, write_with_pyav


def test_flac_at_16k_mono(jfk: Path) -> None:
    samples, rate = decode_audio(jfk)
    assert rate == 16000
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) / rate == pytest.approx(11.0, abs=0.03)
    assert 0.05 < np.abs(samples).max() <= 1.0


def test_native_rate_and_all_channels(jfk: Path) -> None:
    samples, rate = decode_audio(jfk, sample_rate=None, channels=None)
    assert rate == 44100
    assert samples.shape == (2, 11 * 44100)


def test_channels_are_extracted_separately(stereo_wav: Path) -> None:
    left, rate = decode_audio(stereo_wav, channel=0)
    right, _ = decode_audio(stereo_wav, channel=1)
    both, _ = decode_audio(stereo_wav, channels=None)
    mono, _ = decode_audio(stereo_wav)
    assert rate == 16000 and left.shape == right.shape == (80000,)
    np.testing.assert_array_equal(left, both[0])
    np.testing.assert_array_equal(right, both[1])
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-6)
    # Two different people: the channels are far from each other.
    assert abs(np.corrcoef(left, right)[0, 1]) < 0.3
    assert np.abs(left - right).mean() > 0.5 * np.abs(left).mean()


def test_channel_extraction_with_resampling(stereo_wav: Path) -> None:
    right, rate = decode_audio(stereo_wav, sample_rate=8000, channel=1)
    assert rate == 8000 and right.shape == (40000,)


def test_missing_channel_is_invalid(stereo_wav: Path) -> None:
    with pytest.raises(InvalidInput, match="Channel 2 does not exist; the audio has 2"):
        decode_audio(stereo_wav, channel=2)


def test_mono_becomes_stereo_by_duplication(tmp_path: Path) -> None:
    path = write_with_pyav(tmp_path / "m.flac", muxer="flac", codec="flac", rate=16000, seconds=1)
    stereo, _ = decode_audio(path, channels="stereo")
    assert stereo.shape == (2, 16000)
    np.testing.assert_array_equal(stereo[0], stereo[1])
    everything, _ = decode_audio(path, channels=None)
    assert everything.shape == (1, 16000)  # channels=None is always 2-D


def test_surround_is_downmixed(tmp_path: Path) -> None:
    path = write_with_pyav(
        tmp_path / "s.flac", muxer="flac", codec="flac", rate=48000, seconds=1, layout="5.1"
    )
    stereo, _ = decode_audio(path, channels="stereo")
    mono, _ = decode_audio(path)
    centre, _ = decode_audio(path, channel=2)
    assert stereo.shape == (2, 16000) and mono.shape == centre.shape == (16000,)
    assert dominant_frequency(centre, 16000) == pytest.approx(1760, abs=2)  # 440 Hz · 2²


@pytest.mark.parametrize(
    ("muxer", "video_codec", "audio_codec", "suffix"),
    [
        ("mp4", "libx264", "aac", ".mp4"),
        ("webm", "libvpx", "libopus", ".webm"),
        ("matroska", "mpeg4", "libmp3lame", ".mkv"),
    ],
)
def test_audio_track_of_videos(
    tmp_path: Path, muxer: str, video_codec: str, audio_codec: str, suffix: str
) -> None:
    path = make_video(
        tmp_path / f"v{suffix}",
        muxer=muxer,
        video_codec=video_codec,
        audio_codec=audio_codec,
        seconds=2.0,
    )
    samples, rate = decode_audio(path)
    assert len(samples) / rate == pytest.approx(2.0, abs=0.03)
    assert dominant_frequency(samples, rate) == pytest.approx(440, abs=2)


@pytest.mark.parametrize(
    ("muxer", "codec", "rate"),
    [
        ("w64", "pcm_s16le", 16000),
        ("aiff", "pcm_s16be", 22050),
        ("caf", "pcm_s16le", 44100),
        ("amr", "libopencore_amrnb", 8000),
    ],
)
def test_other_containers(tmp_path: Path, muxer: str, codec: str, rate: int) -> None:
    path = write_with_pyav(tmp_path / f"a.{muxer}", muxer=muxer, codec=codec, rate=rate, seconds=2)
    samples, out_rate = decode_audio(path)
    assert len(samples) / out_rate == pytest.approx(2.0, abs=0.03)


def test_truncated_flac_is_refused_not_half_used(tmp_path: Path, jfk: Path) -> None:
    """Half the bytes decode to 5.4 s of 11 s and one corrupt frame: refused (400)."""
    half = tmp_path / "half.flac"
    half.write_bytes(jfk.read_bytes()[: jfk.stat().st_size // 2])
    with pytest.raises(UndecodableMedia, match=r"truncated.*only 5\.\d s of its 11\.0 s") as e:
        decode_audio(half)
    assert e.value.status_code == 400


def test_flac_cut_inside_its_header(tmp_path: Path, jfk: Path) -> None:
    stub = tmp_path / "stub.flac"
    stub.write_bytes(jfk.read_bytes()[:200])
    with pytest.raises(UndecodableMedia, match="truncated"):
        decode_audio(stub)


def test_damaged_frames_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Like the ffmpeg tool: a few bad MP3 frames cost those frames, not the whole file."""
    data = bytearray(encode_audio(tone(10.0, 44100), 44100, "mp3"))
    middle = len(data) // 2
    data[middle : middle + 500] = np.random.default_rng(0).bytes(500)
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="dubbing_studio.media.decode"):
        samples, rate = decode_audio(damaged)
    assert "corrupt audio packet" in caplog.text
    assert 10.0 * (1 - TRUNCATION_TOLERANCE) < len(samples) / rate < 10.0


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.wav", b""),
        ("notes.wav", b"RIFF? no, just text that starts oddly.\n" * 40),
        ("noise.mp3", np.random.default_rng(3).bytes(64_000)),
    ],
)
def test_non_media_is_unsupported(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnsupportedMedia):
        decode_audio(path)


def test_duration_cap(jfk: Path) -> None:
    with pytest.raises(UploadTooLarge):
        decode_audio(jfk, max_duration_s=10.0)
    samples, rate = decode_audio(jfk, max_duration_s=11.0)
    assert len(samples) == 11 * rate


def test_duration_cap_holds_without_a_header_duration(tmp_path: Path) -> None:
    """Nothing in the header to check: the decoded length itself is capped."""
    path = live_webm(tmp_path / "live.webm", 4.0)
    with pytest.raises(UploadTooLarge):
        decode_audio(path, max_duration_s=2.0)
    samples, rate = decode_audio(path, max_duration_s=4.0)
    assert len(samples) / rate == pytest.approx(4.0, abs=0.03)


def test_invalid_rate(jfk: Path) -> None:
    with pytest.raises(InvalidInput):
        decode_audio(jfk, sample_rate=0)
