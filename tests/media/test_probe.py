"""Header facts, the duration cap before decoding, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from dubbing_studio.domain.errors import UndecodableMedia, UnsupportedMedia, UploadTooLarge
from dubbing_studio.media import AudioStreamInfo, MediaInfo, VideoStreamInfo, probe
from tests.media.synth import live_webm, make_video, write_with_pyav


def test_audio_file(jfk: Path) -> None:
    assert probe(jfk) == MediaInfo(
        format_name="flac",
        duration=11.0,
        audio=AudioStreamInfo(codec="flac", sample_rate=44100, channels=2),
        video=None,
    )


def test_video_with_audio(tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", muxer="mp4", video_codec="libx264", audio_codec="aac")
    info = probe(path)
    assert info.has_audio and info.has_video
    assert info.format_name == "mov,mp4,m4a,3gp,3g2,mj2"
    assert info.duration == pytest.approx(1.0, abs=0.05)
    assert info.audio == AudioStreamInfo(codec="aac", sample_rate=48000, channels=1)
    assert info.video == VideoStreamInfo(codec="h264", width=64, height=48, fps=10.0)


@pytest.mark.parametrize(
    ("muxer", "video_codec", "audio_codec", "suffix", "codecs"),
    [
        ("webm", "libvpx", "libopus", ".webm", ("vp8", "opus")),
        ("matroska", "mpeg4", "libmp3lame", ".mkv", ("mpeg4", "mp3")),
    ],
)
def test_matroska_videos(
    tmp_path: Path,
    muxer: str,
    video_codec: str,
    audio_codec: str,
    suffix: str,
    codecs: tuple[str, str],
) -> None:
    path = make_video(
        tmp_path / f"v{suffix}", muxer=muxer, video_codec=video_codec, audio_codec=audio_codec
    )
    info = probe(path)
    assert info.format_name == "matroska,webm"
    assert info.video is not None and info.audio is not None
    assert (info.video.codec, info.audio.codec) == codecs


def test_video_without_audio_is_refused_unless_asked(tmp_path: Path) -> None:
    path = make_video(tmp_path / "silent.mp4", muxer="mp4", video_codec="mpeg4", audio_codec=None)
    with pytest.raises(UnsupportedMedia, match="no audio track"):
        probe(path)
    info = probe(path, require_audio=False)
    assert not info.has_audio and info.has_video


def test_duration_cap_is_checked_on_the_header(jfk: Path) -> None:
    assert probe(jfk, max_duration_s=11.0).duration == pytest.approx(11.0)
    with pytest.raises(UploadTooLarge) as caught:
        probe(jfk, max_duration_s=10.0)
    assert caught.value.status_code == 413
    assert caught.value.detail == (
        "The media lasts 0:00:11; the longest accepted is 0:00:10 (h:mm:ss)."
    )


def test_missing_header_duration_is_read_from_packets(tmp_path: Path) -> None:
    path = live_webm(tmp_path / "live.webm", 3.0)
    with av.open(str(path)) as container:
        assert container.duration is None  # what makes this case
    assert probe(path).duration == pytest.approx(3.0, abs=0.03)
    with pytest.raises(UploadTooLarge):
        probe(path, max_duration_s=2.0)


def test_other_accepted_containers(tmp_path: Path) -> None:
    for muxer, codec, rate in [
        ("w64", "pcm_s16le", 16000),
        ("aiff", "pcm_s16be", 22050),
        ("caf", "pcm_s16le", 22050),
        ("amr", "libopencore_amrnb", 8000),
    ]:
        path = write_with_pyav(
            tmp_path / f"a.{muxer}", muxer=muxer, codec=codec, rate=rate, seconds=1
        )
        info = probe(path)
        assert info.format_name == muxer
        assert info.duration == pytest.approx(1.0, abs=0.03)


def test_truncated_files_are_undecodable(tmp_path: Path, jfk: Path) -> None:
    stub = tmp_path / "stub.flac"
    stub.write_bytes(jfk.read_bytes()[:200])
    with pytest.raises(UndecodableMedia, match="truncated") as caught:
        probe(stub)
    assert caught.value.status_code == 400

    video = make_video(tmp_path / "v.mp4", muxer="mp4", video_codec="libx264", audio_codec="aac")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])  # the index is at the end
    with pytest.raises(UndecodableMedia):
        probe(cut)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.wav", b"", "empty"),
        ("notes.wav", b"These are my meeting notes, not a recording.\n" * 20, "not audio"),
        ("noise.mp3", np.random.default_rng(7).bytes(50_000), "not audio"),
    ],
)
def test_non_media_is_unsupported(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnsupportedMedia, match=message) as caught:
        probe(path)
    assert caught.value.status_code == 415
