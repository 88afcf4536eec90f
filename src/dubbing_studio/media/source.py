"""The single door through which untrusted media reaches FFmpeg.

FFmpeg's HLS demuxer follows ``file://`` segments of an uploaded playlist, and its concat
demuxer follows ``file`` lines even in a file named ``.mp3``: an upload could make the server
read any file it can. So: the path must be a local regular file, never a URL or an FFmpeg
protocol string; the content must match a known audio/video signature (``sniff``, which
turns away text, images and noise early, but can be fooled, e.g. by a long ID3 tag in front
of a concat script); FFmpeg may then pick a demuxer only from ``FORMAT_WHITELIST`` (the
lock that holds on its own) and use only the ``file`` protocol; and the demuxer it picked is
checked once more after opening.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import av.error
from av.container import InputContainer

from dubbing_studio.domain.errors import (
    InvalidInput,
    NotFound,
    UndecodableMedia,
    UnsupportedMedia,
)
from dubbing_studio.media.sniff import SNIFF_BYTES, sniff

ALLOWED_DEMUXERS = frozenset(
    {
        "wav",
        "w64",
        "aiff",
        "caf",
        "flac",
        "ogg",
        "mp3",
        "aac",
        "amr",
        "mov,mp4,m4a,3gp,3g2,mj2",
        "matroska,webm",
    }
)
"""FFmpeg demuxer names exactly as ``container.format.name`` reports them.

Single-file formats only: none of them opens other files or URLs (the mov demuxer could follow
external data references, but only with ``enable_drefs``, which is off by default).
"""

FORMAT_WHITELIST = ",".join(sorted(ALLOWED_DEMUXERS))
"""FFmpeg's ``format_whitelist``: a demuxer passes when any comma-separated part of its name
equals any entry, so the compound names above can be listed as they are."""

ACCEPTED_FORMATS = "WAV, W64, AIFF, CAF, FLAC, Ogg, MP3, AAC, AMR, MP4/M4A/MOV/3GP, Matroska/WebM"

_NOT_ACCEPTED = f"The file is not a supported media format; accepted: {ACCEPTED_FORMATS}."
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def local_file(path: str | os.PathLike[str]) -> Path:
    """The absolute path of an existing regular file; URLs and FFmpeg protocol strings
    (``http:``, ``file:``, ``concat:``, ``pipe:``) are refused outright."""
    text = os.fspath(path)
    if _URL.match(text):
        raise InvalidInput("Only local media files can be opened, not URLs.")
    resolved = Path(text).resolve()
    if not resolved.is_file():  # also refuses FIFOs and devices, on which FFmpeg could block
        raise NotFound(f"Media file {resolved.name!r} does not exist.")
    return resolved


@contextmanager
def open_input(path: str | os.PathLike[str]) -> Iterator[InputContainer]:
    """Open an untrusted local media file for demuxing, or raise a domain error.

    415 ``UnsupportedMedia`` when the content is not audio/video we accept (empty, text,
    images, noise, playlists); 400 ``UndecodableMedia`` when it looks like media but FFmpeg
    cannot read its header (truncated or corrupt).
    """
    resolved = local_file(path)
    with resolved.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if not head:
        raise UnsupportedMedia("The file is empty.")
    kind = sniff(head)
    if kind is None:
        raise UnsupportedMedia(f"The file is not audio or video; accepted: {ACCEPTED_FORMATS}.")
    try:
        container = av.open(
            str(resolved),
            "r",
            container_options={"format_whitelist": FORMAT_WHITELIST, "protocol_whitelist": "file"},
        )
    except av.error.ArgumentError as e:  # EINVAL: what FFmpeg says for "not on whitelist"
        raise UnsupportedMedia(_NOT_ACCEPTED) from e
    except av.error.EOFError as e:
        raise UndecodableMedia(f"The {kind} file ends before its header does (truncated?).") from e
    except av.FFmpegError as e:
        raise UndecodableMedia(f"The {kind} file is corrupt: its header cannot be read.") from e
    try:
        check_demuxer(container.format.name)
        yield container
    finally:
        container.close()


def check_demuxer(name: str) -> None:
    """Refuse any demuxer outside ``ALLOWED_DEMUXERS`` (playlists, concat, image2, …)."""
    if name not in ALLOWED_DEMUXERS:
        raise UnsupportedMedia(_NOT_ACCEPTED)
