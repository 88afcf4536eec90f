"""Every output format round-trips through the decoder; streams decode like whole files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dubbing_studio.domain.errors import InvalidInput, StudioError
from dubbing_studio.media import (
    AUDIO_FORMATS,
    STREAMING_FORMATS,
    StreamingEncoder,
    content_type,
    decode_audio,
    encode_audio,
    extension,
    probe,
    write_audio,
)
from dubbing_studio.media import encode as encode_module
from tests.media.synth import dominant_frequency, tone

FILE_FORMATS = [f for f in AUDIO_FORMATS if f != "pcm"]  # raw PCM has no header to decode

# Samples a decoder may add beyond the input. Raw ADTS records no encoder delay, so its
# 1024 priming samples and the last frame's padding stay; MP4 trims the priming only.
# Streamed MP3 cannot go back to write LAME's gapless header.
EXTRA = {"aac": 2048, "m4a": 1024}
STREAM_EXTRA = {"aac": 2048, "mp3": 3 * 1152}


def _roundtrip(tmp_path: Path, data: bytes, fmt: str, **decode: object) -> tuple[np.ndarray, int]:
    path = tmp_path / f"out.{extension(fmt)}"
    path.write_bytes(data)
    return decode_audio(path, **decode)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_speech_round_trip_at_16k_mono(tmp_path: Path, jfk: Path, fmt: str) -> None:
    """Real speech (44.1 kHz stereo) out in each format and back at Whisper's 16 kHz mono."""
    original, rate = decode_audio(jfk, sample_rate=None, channels=None)
    reference, _ = decode_audio(jfk)
    samples, out_rate = _roundtrip(tmp_path, encode_audio(original, rate, fmt), fmt)
    extra_s = EXTRA.get(fmt, 0) / rate
    assert out_rate == 16000
    assert 11.0 - 0.03 <= len(samples) / out_rate <= 11.0 + 0.03 + extra_s
    if fmt != "aac":  # ADTS keeps the priming samples, so its audio starts late
        n = min(len(samples), len(reference))
        assert np.corrcoef(samples[:n], reference[:n])[0, 1] > 0.95


def test_mp3_of_a_16k_voice_keeps_its_sibilants(tmp_path: Path, jfk: Path) -> None:
    """At 16 kHz mono LAME would pick 24 kbps and cut everything above 6 kHz; the studio's
    64 kbps keeps the 6-8 kHz band of real speech within 3 dB."""
    voice, rate = decode_audio(jfk, sample_rate=16000)
    heard, _ = _roundtrip(tmp_path, encode_audio(voice, rate, "mp3"), "mp3", sample_rate=16000)

    def high_band_db(samples: np.ndarray) -> float:
        frames = np.lib.stride_tricks.sliding_window_view(samples, 1024)[::512] * np.hanning(1024)
        power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
        band = np.fft.rfftfreq(1024, 1 / rate) >= 6000
        return float(10 * np.log10(power[band].sum()))

    assert abs(high_band_db(heard) - high_band_db(voice)) < 3.0


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_mono_tone_at_a_tts_rate(tmp_path: Path, fmt: str) -> None:
    """Piper speaks at 22.05 kHz: every format takes it (Opus after resampling to 24 kHz)."""
    source = tone(2.0, 22050)
    samples, rate = _roundtrip(tmp_path, encode_audio(source, 22050, fmt), fmt, sample_rate=22050)
    assert rate == 22050
    assert 0 <= len(samples) - len(source) <= EXTRA.get(fmt, 0) + 0.01 * 22050
    assert dominant_frequency(samples, 22050) == pytest.approx(440, abs=2)


@pytest.mark.parametrize(
    ("fmt", "stored_rate"),
    [("mp3", 22050), ("opus", 48000), ("aac", 22050), ("m4a", 22050), ("flac", 22050)],
)
def test_rates_are_kept_where_the_codec_allows(tmp_path: Path, fmt: str, stored_rate: int) -> None:
    path = write_audio(tmp_path / f"a.{fmt}", tone(1.0, 22050), 22050, fmt)
    info = probe(path)
    assert info.audio is not None and info.audio.sample_rate == stored_rate


def test_lossless_formats_are_exact(tmp_path: Path) -> None:
    source = tone(1.0, 16000)
    for fmt in ("wav", "flac"):
        samples, _ = _roundtrip(tmp_path, encode_audio(source, 16000, fmt), fmt)
        np.testing.assert_allclose(samples, source, atol=1 / 32767)


@pytest.mark.parametrize("fmt", FILE_FORMATS)
def test_stereo_keeps_its_channels(tmp_path: Path, fmt: str) -> None:
    source = tone(2.0, 48000, channels=2)
    samples, rate = _roundtrip(
        tmp_path, encode_audio(source, 48000, fmt), fmt, sample_rate=48000, channels=None
    )
    assert samples.shape[0] == 2
    assert dominant_frequency(samples[0], rate) == pytest.approx(440, abs=2)
    assert dominant_frequency(samples[1], rate) == pytest.approx(880, abs=2)


def test_pcm_is_raw_interleaved_s16le() -> None:
    """FFmpeg scales by 32768 and saturates: 1.0 becomes 32767, -1.0 becomes -32768."""
    source = np.array([[0.5, -0.5, 0.25], [1.0, -1.0, 0.0]], np.float32)
    data = encode_audio(source, 8000, "pcm")
    assert np.frombuffer(data, "<i2").tolist() == [16384, 32767, -16384, -32768, 8192, 0]


def test_out_of_range_samples_are_clipped(tmp_path: Path) -> None:
    samples, _ = _roundtrip(tmp_path, encode_audio(tone(1.0, 16000) * 8, 16000, "wav"), "wav")
    assert np.abs(samples).max() <= 1.0


@pytest.mark.parametrize(
    ("samples", "rate", "fmt", "message"),
    [
        (tone(0.1, 16000), 16000, "wma", "Unknown audio format 'wma'"),
        (np.zeros((1600, 2), np.float32), 16000, "wav", "not shape"),  # frames first
        (np.full(1600, np.nan, np.float32), 16000, "wav", "NaN"),
        (tone(0.1, 16000), 0, "wav", "positive"),
    ],
)
def test_bad_input_is_refused(samples: np.ndarray, rate: int, fmt: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        encode_audio(samples, rate, fmt)


@pytest.mark.parametrize("fmt", STREAMING_FORMATS)
def test_streams_arrive_early_and_decode_whole(tmp_path: Path, fmt: str) -> None:
    source = tone(4.0, 22050)
    with StreamingEncoder(fmt, 22050) as encoder:
        early = [encoder.feed(source[i : i + 11025]) for i in range(0, len(source), 11025)]
        tail = encoder.finish()
    data = b"".join([*early, tail])
    assert sum(map(len, early)) > len(data) / 2, "most bytes should flow before the end"
    if fmt == "pcm":
        assert data == encode_audio(source, 22050, "pcm")
        return
    samples, _ = _roundtrip(tmp_path, data, fmt, sample_rate=22050)
    assert 0 <= len(samples) - len(source) <= STREAM_EXTRA.get(fmt, 0) + 0.01 * 22050
    assert dominant_frequency(samples, 22050) == pytest.approx(440, abs=2)


def test_streamed_wav_header_says_unknown_length() -> None:
    with StreamingEncoder("wav", 16000) as encoder:
        head = encoder.feed(tone(0.5, 16000))
        encoder.finish()
    assert head[:4] == b"RIFF" and head[4:8] == b"\xff\xff\xff\xff"


def test_stream_refusals() -> None:
    with pytest.raises(InvalidInput, match="m4a cannot be streamed"):
        StreamingEncoder("m4a", 16000)
    # Leaving without finish (a client that went away) just releases the encoder.
    with StreamingEncoder("mp3", 16000) as encoder, pytest.raises(InvalidInput, match="1 chan"):
        encoder.feed(tone(0.1, 16000, channels=2))


def test_write_audio_is_atomic_and_leaves_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "speech.mp3"
    assert write_audio(target, tone(1.0, 22050), 22050, "mp3") == target
    good = target.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["speech.mp3"]

    with pytest.raises(InvalidInput):
        write_audio(target, np.full(100, np.nan, np.float32), 22050, "mp3")

    def fail(self: object) -> None:  # the encoder dies after part of the file is written
        raise StudioError("Encoding audio as mp3 failed.")

    monkeypatch.setattr(encode_module._Muxer, "finish", fail)
    with pytest.raises(StudioError):
        write_audio(target, tone(5.0, 22050), 22050, "mp3")
    assert target.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["speech.mp3"]


def test_content_types_and_extensions() -> None:
    assert {f: content_type(f) for f in AUDIO_FORMATS} == {
        "mp3": "audio/mpeg",
        "opus": "audio/ogg",
        "aac": "audio/aac",
        "flac": "audio/flac",
        "wav": "audio/wav",
        "pcm": "audio/pcm",
        "m4a": "audio/mp4",
    }
    assert [extension(f) for f in AUDIO_FORMATS] == list(AUDIO_FORMATS)
    assert set(STREAMING_FORMATS) == set(AUDIO_FORMATS) - {"m4a"}
    with pytest.raises(InvalidInput):
        content_type("ogg")
