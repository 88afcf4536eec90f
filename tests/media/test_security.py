"""Uploads must not make FFmpeg read other files: playlists, concat scripts and URLs refused.

Each attack is first shown to work against a bare ``av.open`` (so the test proves something),
then shown refused by the media module, with Linux inotify confirming the other file was
never even opened.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import pytest

from dubbing_studio.domain.errors import (
    InvalidInput,
    NotFound,
    StudioError,
    UndecodableMedia,
    UnsupportedMedia,
)
from dubbing_studio.media import (
    ALLOWED_DEMUXERS,
    FORMAT_WHITELIST,
    SNIFF_BYTES,
    decode_audio,
    encode_audio,
    open_input,
    probe,
    sniff,
)
from dubbing_studio.media.source import check_demuxer
from tests.conftest import optional
from tests.media.synth import tone

REFUSED = (UnsupportedMedia, UndecodableMedia)


class FileWatch:
    """Tells whether anyone opened or read a file since the watch began (Linux inotify)."""

    IN_ACCESS, IN_OPEN = 0x01, 0x20

    def __init__(self, path: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self._fd >= 0, os.strerror(ctypes.get_errno())
        watch = libc.inotify_add_watch(self._fd, os.fsencode(path), self.IN_OPEN | self.IN_ACCESS)
        assert watch >= 0, os.strerror(ctypes.get_errno())

    def touched(self) -> bool:
        try:
            return bool(os.read(self._fd, 4096))
        except BlockingIOError:
            return False

    def close(self) -> None:
        os.close(self._fd)


@pytest.fixture
def watch() -> Iterator[Callable[[Path], FileWatch]]:
    optional("inotify", sys.platform.startswith("linux"), "it is Linux-only")
    watches: list[FileWatch] = []

    def start(path: Path) -> FileWatch:
        watches.append(FileWatch(path))
        return watches[-1]

    yield start
    for w in watches:
        w.close()


@pytest.fixture
def secret_aac(tmp_path: Path) -> Path:
    """A file an attacker would like the server to read (an extension HLS segments may use)."""
    path = tmp_path / "secret.aac"
    path.write_bytes(encode_audio(tone(1.0, 16000), 16000, "aac"))
    return path


@pytest.fixture
def secret_wav(tmp_path: Path) -> Path:
    path = tmp_path / "secret.wav"
    path.write_bytes(encode_audio(tone(1.0, 16000), 16000, "wav"))
    return path


def _hls(target: str) -> bytes:
    return (
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:1.0,\n{target}\n#EXT-X-ENDLIST\n"
    ).encode()


def _bare_ffmpeg_reads(path: Path) -> int:
    """Samples FFmpeg decodes from ``path`` with no guard at all."""
    with av.open(str(path)) as container:
        return sum(frame.samples for frame in container.decode(audio=0))


def _assert_refused_untouched(path: Path, secret: Path, watch: Callable[[Path], FileWatch]) -> None:
    seen = watch(secret)
    with pytest.raises(REFUSED):
        probe(path)
    with pytest.raises(REFUSED):
        decode_audio(path)
    assert not seen.touched(), f"{secret.name} was opened while handling {path.name}"


# FFmpeg detects HLS only under its own extensions.
@pytest.mark.parametrize("name", ["playlist.m3u8", "playlist.m3u"])
def test_hls_playlist_is_refused_without_reading_its_segment(
    tmp_path: Path, secret_aac: Path, watch: Callable[[Path], FileWatch], name: str
) -> None:
    playlist = tmp_path / name
    playlist.write_bytes(_hls(secret_aac.as_uri()))  # file:///…/secret.aac
    attacked = watch(secret_aac)
    assert _bare_ffmpeg_reads(playlist) > 0  # the attack is real
    assert attacked.touched()
    _assert_refused_untouched(playlist, secret_aac, watch)


def test_concat_script_named_mp3_is_refused_without_reading_its_file(
    tmp_path: Path, secret_wav: Path, watch: Callable[[Path], FileWatch]
) -> None:
    script = tmp_path / "song.mp3"
    script.write_bytes(f"ffconcat version 1.0\nfile {secret_wav.name}\n".encode())
    attacked = watch(secret_wav)
    assert _bare_ffmpeg_reads(script) > 0
    assert attacked.touched()
    _assert_refused_untouched(script, secret_wav, watch)


def test_whitelist_holds_when_sniffing_is_fooled(
    tmp_path: Path, secret_wav: Path, watch: Callable[[Path], FileWatch]
) -> None:
    """An ID3 tag longer than the sniffed head hides a concat script from ``sniff``; FFmpeg
    skips the tag, detects concat, and the demuxer whitelist refuses it."""
    padding = SNIFF_BYTES + 100
    syncsafe = bytes((padding >> shift) & 0x7F for shift in (21, 14, 7, 0))
    data = b"ID3\x04\x00\x00" + syncsafe + b"\x00" * padding
    data += f"ffconcat version 1.0\nfile {secret_wav.name}\n".encode()
    script = tmp_path / "tagged.mp3"
    script.write_bytes(data)
    assert sniff(data[:SNIFF_BYTES]) == "mp3"
    with pytest.raises(av.FFmpegError):  # FFmpeg itself refuses: concat is not whitelisted
        av.open(str(script), container_options={"format_whitelist": FORMAT_WHITELIST})
    with pytest.raises(UnsupportedMedia), open_input(script):
        pass
    _assert_refused_untouched(script, secret_wav, watch)


@pytest.mark.parametrize(
    "playlist", [_hls("file:///etc/hostname"), b"ffconcat version 1.0\nfile /etc/hostname\n"]
)
def test_ffmpeg_whitelist_refuses_playlists_by_itself(tmp_path: Path, playlist: bytes) -> None:
    path = tmp_path / "list.m3u8"
    path.write_bytes(playlist)
    with pytest.raises(av.FFmpegError):
        av.open(str(path), container_options={"format_whitelist": FORMAT_WHITELIST})


@pytest.mark.parametrize("name", ["hls", "concat", "image2", "mpegts", "avi", "sdp", "rtsp"])
def test_other_demuxers_are_refused_after_opening(name: str) -> None:
    with pytest.raises(UnsupportedMedia):
        check_demuxer(name)


@pytest.mark.parametrize("name", sorted(ALLOWED_DEMUXERS))
def test_allowed_demuxers_exist_under_those_names(name: str) -> None:
    """Each entry is a real FFmpeg demuxer name, as ``container.format.name`` reports it."""
    assert av.ContainerFormat(name.split(",")[0], "r").is_input
    check_demuxer(name)


@pytest.mark.parametrize(
    "path",
    [
        "http://example.com/a.mp3",
        "https://example.com/a.m3u8",
        "file:///etc/hostname",
        "concat:a.wav|b.wav",
        "pipe:0",
        "data:audio/wav;base64,UklGRg==",
    ],
)
def test_urls_and_protocols_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput, match="local"):
        probe(path)
    with pytest.raises(InvalidInput):
        decode_audio(path)


def test_missing_files_directories_and_fifos_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)  # opening it for reading would block forever
    for path in (tmp_path / "absent.wav", tmp_path, fifo):
        with pytest.raises(NotFound):
            probe(path)


def test_odd_local_names_stay_local_files(
    tmp_path: Path, stereo_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FFmpeg would read ``subfile,,…:x`` as its subfile protocol; absolute paths are files."""
    name = "subfile,,start,0,end,0,,:x.wav"
    (tmp_path / name).write_bytes(stereo_wav.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert probe(name).duration == pytest.approx(5.0)


def test_errors_are_domain_errors_with_readable_messages(tmp_path: Path) -> None:
    path = tmp_path / "list.m3u8"
    path.write_bytes(_hls("file:///etc/hostname"))
    with pytest.raises(StudioError) as caught:
        probe(path)
    assert "not audio or video" in caught.value.detail
    assert "Errno" not in caught.value.detail
