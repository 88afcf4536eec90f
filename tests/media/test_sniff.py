"""Magic-byte recognition: real media of every format passes, everything else is None."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dubbing_studio.media import SNIFF_BYTES, encode_audio, sniff
from tests.media.synth import make_video, tone

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06"


@pytest.mark.parametrize(
    ("fmt", "rate", "expected"),
    [
        ("mp3", 22050, "mp3"),
        ("mp3", 8000, "mp3"),  # MPEG-2.5: the shortest frames
        ("wav", 16000, "wav"),
        ("opus", 24000, "ogg"),
        ("aac", 44100, "aac"),
        ("flac", 48000, "flac"),
        ("m4a", 22050, "mp4"),
    ],
)
def test_every_encoded_format_is_recognised(fmt: str, rate: int, expected: str) -> None:
    data = encode_audio(tone(1.0, rate), rate, fmt)
    assert sniff(data[:SNIFF_BYTES]) == expected


def test_mp3_without_id3_tag_is_recognised_by_two_frames() -> None:
    data = encode_audio(tone(1.0, 44100), 44100, "mp3")
    tag = 10 + int.from_bytes(bytes(b & 0x7F for b in data[6:10]), "big")  # ID3 syncsafe size
    assert data[tag] == 0xFF
    assert sniff(data[tag : tag + SNIFF_BYTES]) == "mp3"
    assert sniff(data[tag : tag + 4]) is None  # one header alone is not enough


def test_shared_samples_are_recognised(jfk: Path, stereo_wav: Path) -> None:
    assert sniff(jfk.read_bytes()[:SNIFF_BYTES]) == "flac"
    assert sniff(stereo_wav.read_bytes()[:SNIFF_BYTES]) == "wav"


@pytest.mark.parametrize(
    ("muxer", "video_codec", "audio_codec", "suffix", "expected"),
    [
        ("mp4", "libx264", "aac", ".mp4", "mp4"),
        ("webm", "libvpx", "libopus", ".webm", "webm"),
        ("matroska", "mpeg4", "libmp3lame", ".mkv", "matroska"),
    ],
)
def test_videos_are_recognised(
    tmp_path: Path, muxer: str, video_codec: str, audio_codec: str, suffix: str, expected: str
) -> None:
    path = make_video(
        tmp_path / f"v{suffix}", muxer=muxer, video_codec=video_codec, audio_codec=audio_codec
    )
    assert sniff(path.read_bytes()[:SNIFF_BYTES]) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"\x00" * SNIFF_BYTES,
        b"\xff" * SNIFF_BYTES,
        b"hello, this is a plain text file\n" * 100,
        PNG_HEADER,
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",  # JPEG
        b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic",  # HEIF still image
        b"%PDF-1.7\n",
        b"#EXTM3U\n#EXTINF:5.0,\nfile:///etc/passwd\n",
        b"ffconcat version 1.0\nfile other.wav\n",
        b"ID3\x04\x00\x00\x00\x00\x00\x00ffconcat version 1.0\nfile other.wav\n",
        b"RIFF\x24\x00\x00\x00AVI LIST",  # RIFF but not WAVE
    ],
    ids=[
        "empty",
        "zeros",
        "ones",
        "text",
        "png",
        "jpeg",
        "heif",
        "pdf",
        "hls",
        "concat",
        "id3-concat",
        "avi",
    ],
)
def test_non_media_is_refused(head: bytes) -> None:
    assert sniff(head) is None


def test_random_bytes_are_refused() -> None:
    rng = np.random.default_rng(1234)
    hits = [sniff(rng.bytes(SNIFF_BYTES)) for _ in range(1000)]
    assert hits == [None] * 1000


def test_random_bytes_behind_a_frame_sync_are_refused() -> None:
    """The hardest case for the MP3/ADTS checks: every input starts with a sync word."""
    rng = np.random.default_rng(99)
    hits = [
        sniff(b"\xff" + bytes([0xE0 | rng.integers(32)]) + rng.bytes(4094)) for _ in range(1000)
    ]
    hits += [sniff(b"\xff\xf1" + rng.bytes(4094)) for _ in range(1000)]
    assert [hit for hit in hits if hit] == []


def test_mp3_behind_an_id3_tag_that_fills_most_of_the_window() -> None:
    """Only one frame fits after the tag in the sniffed bytes: still an MP3."""
    from dubbing_studio import media

    tone = np.zeros(22050, dtype=np.float32)
    frames = media.encode_audio(tone, 22050, "mp3")
    start = frames.index(b"\xff\xfb") if b"\xff\xfb" in frames else frames.index(b"\xff\xf3")
    for body in (3700, 3900):
        size = bytes([(body >> 21) & 0x7F, (body >> 14) & 0x7F, (body >> 7) & 0x7F, body & 0x7F])
        tag = b"ID3\x04\x00\x00" + size + bytes(body)
        assert media.sniff((tag + frames[start:])[: media.SNIFF_BYTES]) == "mp3"
