"""Put a dub into a copy of the input video: the video stream copied packet for packet (never
re-encoded), the dub as the default AAC track, optionally the original audio as a second
track, and soft subtitle tracks (mov_text in MP4, SubRip in Matroska)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.packet import Packet
from av.subtitles.codeccontext import SubtitleCodecContext
from av.subtitles.subtitle import SubtitleSet

from dubbing_studio.domain.errors import InvalidInput
from dubbing_studio.domain.speech import FloatAudio, TimedText
from dubbing_studio.media.files import temp_path
from dubbing_studio.media.source import open_input

_ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
    b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    b"BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
    b"BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0"
    b"\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, "
    b"Effect, Text\n"
)
_MS = Fraction(1, 1000)
_CONTAINERS = {".mp4": ("mp4", "mov_text"), ".mkv": ("matroska", "subrip")}

# ISO 639-2 codes that container metadata expects, for the languages dubs are made in most.
_ISO639_2 = {
    "en": "eng",
    "es": "spa",
    "fr": "fra",
    "de": "deu",
    "it": "ita",
    "pt": "por",
    "ca": "cat",
    "gl": "glg",
    "eo": "epo",
    "ja": "jpn",
    "zh": "zho",
    "ko": "kor",
    "ru": "rus",
    "ar": "ara",
    "he": "heb",
    "hi": "hin",
    "nl": "nld",
    "pl": "pol",
    "tr": "tur",
    "uk": "ukr",
    "sv": "swe",
}

Subtitles = tuple[Sequence[TimedText], str, str]  # cues, language code, title


def mux_dub(
    *,
    video_source: Path,
    out_path: Path,
    dub: FloatAudio,
    dub_rate: int,
    dub_language: str,
    keep_original_audio: bool = False,
    original_language: str | None = None,
    subtitles: Sequence[Subtitles] = (),
) -> Path:
    """Write ``out_path`` (.mp4 or .mkv) atomically; ``dub`` is (channels, frames) or mono."""
    try:
        muxer, subtitle_codec = _CONTAINERS[out_path.suffix.lower()]
    except KeyError:
        raise InvalidInput(f"Video output must be .mp4 or .mkv, not {out_path.name}.") from None
    with open_input(video_source) as source, temp_path(out_path.parent, out_path.suffix) as part:
        if not source.streams.video:
            raise InvalidInput(f"{video_source.name} has no video stream to dub.")
        video_in = source.streams.video[0]
        audio_in = source.streams.audio[0] if source.streams.audio else None
        with av.open(str(part), "w", format=muxer) as out:
            video_out = out.add_stream_from_template(video_in)
            dub_stream = _dub_stream(out, dub, dub_rate, dub_language)
            copied: av.stream.Stream | None = None
            if keep_original_audio and audio_in is not None:
                copied = out.add_stream_from_template(audio_in)
                copied.metadata["language"] = _iso639_2(original_language)
                _name(copied, "Original")
            side: list[Iterator[Packet]] = [_encode_audio(dub_stream, dub, dub_rate)]
            for index, (cues, language, title) in enumerate(subtitles):
                stream = out.add_stream(subtitle_codec)
                cast(SubtitleCodecContext, stream.codec_context).subtitle_header = _ASS_HEADER
                stream.metadata["language"] = _iso639_2(language)
                _name(stream, title)
                stream.disposition = (
                    av.stream.Disposition(0) if index else av.stream.Disposition.default
                )
                side.append(_encode_subtitles(stream, cues))
            dub_stream.disposition = av.stream.Disposition.default
            if copied is not None:
                copied.disposition = av.stream.Disposition(0)
            wanted = [video_in] + ([audio_in] if copied is not None and audio_in else [])
            targets: dict[int, av.stream.Stream] = {video_in.index: video_out}
            if copied is not None and audio_in is not None:
                targets[audio_in.index] = copied
            pending = heapq.merge(*side, key=_seconds)
            upcoming = next(pending, None)
            for packet in source.demux(*wanted):
                if packet.dts is None:
                    continue
                while upcoming is not None and _seconds(upcoming) <= _seconds(packet):
                    out.mux(upcoming)
                    upcoming = next(pending, None)
                packet.stream = targets[packet.stream.index]
                out.mux(packet)
            while upcoming is not None:
                out.mux(upcoming)
                upcoming = next(pending, None)
        part.replace(out_path)
    return out_path


def _seconds(packet: Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts or 0
    return float(stamp * (packet.time_base or 0))


def _name(stream: av.stream.Stream, title: str) -> None:
    """Matroska shows ``title``; MP4 players show the track's handler name."""
    stream.metadata["title"] = title
    stream.metadata["handler_name"] = title


def _iso639_2(code: str | None) -> str:
    return _ISO639_2.get(code or "", "und")


def _dub_stream(out: OutputContainer, dub: FloatAudio, rate: int, language: str) -> AudioStream:
    layout = "stereo" if dub.ndim == 2 and dub.shape[0] == 2 else "mono"
    stream = out.add_stream("aac", rate=rate, layout=layout)
    stream.metadata["language"] = _iso639_2(language)
    _name(stream, "Dub")
    return stream


def _encode_audio(stream: AudioStream, dub: FloatAudio, rate: int) -> Iterator[Packet]:
    planes = dub if dub.ndim == 2 else dub[np.newaxis, :]
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(np.clip(planes, -1.0, 1.0), dtype=np.float32),
        format="fltp",
        layout=stream.layout.name,
    )
    frame.sample_rate = rate
    frame.time_base = Fraction(1, rate)
    frame.pts = 0
    packets = list(stream.encode(frame)) + list(stream.encode(None))
    yield from packets


def _encode_subtitles(stream: av.stream.Stream, cues: Sequence[TimedText]) -> Iterator[Packet]:
    context = cast(SubtitleCodecContext, stream.codec_context)
    for cue in cues:
        text = cue.text.strip().replace("\n", "\\N")
        if not text:
            continue
        start = round(cue.start * 1000)
        duration = max(1, round((cue.end - cue.start) * 1000))
        dialogue = f"0,0,Default,,0,0,0,,{text}".encode()
        packet = context.encode_subtitle(
            SubtitleSet.create(text=dialogue, start=0, end=duration, pts=0)
        )
        packet.stream = stream
        packet.time_base = _MS
        packet.pts = packet.dts = start
        packet.duration = duration
        yield packet
