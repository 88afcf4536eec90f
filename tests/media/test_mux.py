"""The dub muxed into a copy of the input video."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from dubbing_studio import media
from dubbing_studio.domain.errors import InvalidInput
from dubbing_studio.domain.speech import TimedText
from dubbing_studio.media.testpattern import speech_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> Path:
    return speech_video(tmp_path_factory.mktemp("mux") / "talk.mp4", samples_dir / "jfk.flac")


def _video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [bytes(p) for p in container.demux(stream) if p.size]


CUES = [TimedText(0.5, 2.0, "Hola, amigos"), TimedText(3.0, 5.5, "Segunda línea")]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_video_copied_dub_default_and_subtitles(video: Path, tmp_path: Path, suffix: str) -> None:
    rate = 44100
    dub = np.zeros((2, rate * 11), dtype=np.float32)
    dub[:, rate : rate * 2] = 0.2
    out = media.mux_dub(
        video_source=video,
        out_path=tmp_path / f"dubbed{suffix}",
        dub=dub,
        dub_rate=rate,
        dub_language="es",
        keep_original_audio=True,
        original_language="en",
        subtitles=[(CUES, "es", "Dub"), (CUES, "en", "Original")],
    )
    assert _video_packets(out) == _video_packets(video), "video must be copied, not re-encoded"
    with av.open(str(out)) as container:
        audio = container.streams.audio
        assert len(audio) == 2
        assert audio[0].metadata.get("language") == "spa"
        assert audio[0].disposition & av.stream.Disposition.default
        assert not audio[1].disposition & av.stream.Disposition.default
        subtitles = container.streams.subtitles
        assert [s.metadata.get("language") for s in subtitles] == ["spa", "eng"]
        texts = [sub.dialogue.decode() for sub in container.decode(subtitles[0])]
        assert any("Hola, amigos" in t for t in texts)
    info = media.probe(out)
    assert abs(info.duration - media.probe(video).duration) < 0.05
    assert list(tmp_path.iterdir()) == [out], "no temp files left"


def test_without_original_track(video: Path, tmp_path: Path) -> None:
    out = media.mux_dub(
        video_source=video,
        out_path=tmp_path / "d.mp4",
        dub=np.zeros(44100 * 11, dtype=np.float32),
        dub_rate=44100,
        dub_language="es",
    )
    with av.open(str(out)) as container:
        assert len(container.streams.audio) == 1
        assert not container.streams.subtitles


def test_refuses_other_containers_and_audio_only(
    video: Path, tmp_path: Path, samples_dir: Path
) -> None:
    silence = np.zeros(100, dtype=np.float32)
    with pytest.raises(InvalidInput, match="mp4 or .mkv"):
        media.mux_dub(
            video_source=video,
            out_path=tmp_path / "x.avi",
            dub=silence,
            dub_rate=8000,
            dub_language="es",
        )
    with pytest.raises(InvalidInput, match="no video"):
        media.mux_dub(
            video_source=samples_dir / "jfk.flac",
            out_path=tmp_path / "x.mp4",
            dub=silence,
            dub_rate=8000,
            dub_language="es",
        )
    assert list(tmp_path.iterdir()) == []
