"""Recognise audio and video containers by their first bytes, before FFmpeg sees them.

The upload path answers 415 for text, images and noise without decoding anything, and
``open_input`` refuses files whose content matches none of these signatures. Every check is
strict (whole magic numbers, or two consecutive valid frame headers for headerless MP3 and
ADTS AAC), so random bytes almost never pass.
"""

from __future__ import annotations

from collections.abc import Callable

SNIFF_BYTES = 4096
"""Bytes ``sniff`` needs to see: two MPEG-audio or ADTS frames fit in this much."""

# Sony Wave64 opens with the GUID of its "riff" chunk, then "wave" at offset 24.
_W64_RIFF = bytes.fromhex("726966662e91cf11a5d628db04c10000")
_W64_WAVE = bytes.fromhex("77617665f3acd3118cd100c04f8edb8a")

# ISO-BMFF brands that are still images (HEIF, AVIF), not audio or video.
_IMAGE_BRANDS = frozenset(
    {b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
)

# MPEG audio bit rates (kbit/s) by [MPEG-1?][layer 1..3][index]; index 0 (free) and 15 invalid.
_MPEG_KBPS = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}

# A frame's byte length and what must stay the same from one frame to the next.
_Frame = tuple[int, tuple[int, ...]]


def sniff(head: bytes) -> str | None:
    """A short container name for the first bytes of a file, or None if not media we accept.

    Names: ``wav``, ``w64``, ``flac``, ``ogg``, ``mp3``, ``aac`` (ADTS), ``mp4`` (any ISO
    base media: mp4, m4a, mov, 3gp), ``webm``, ``matroska``, ``amr``, ``caf``, ``aiff``. Pass
    at least ``SNIFF_BYTES`` bytes when the file is that long.
    """
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:16] == _W64_RIFF and head[24:40] == _W64_WAVE:
        return "w64"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:6] == b"caff\x00\x01":
        return "caf"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:6] == b"OggS\x00\x02":  # version 0, first page of a stream
        return "ogg"
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return "amr"
    if head[:4] == b"\x1aE\xdf\xa3":  # EBML; the DocType string sits in the first bytes
        return "webm" if b"webm" in head[:64] else "matroska"
    if _is_iso_media(head):
        return "mp4"
    tag = _id3_length(head)
    if tag:
        # MP3 usually, but FLAC and ADTS files sometimes carry an ID3 tag too.
        rest = head[tag:]
        if not rest:
            return "mp3"
        first = _mpeg_frame_length(rest, 0)
        if first is not None and first[0] + 4 > len(rest):
            return "mp3"  # a big tag leaves room for one frame only: it must do
        return sniff(rest)
    if _two_frames(head, _mpeg_frame_length):
        return "mp3"
    if _two_frames(head, _adts_frame_length):
        return "aac"
    return None


def _is_iso_media(head: bytes) -> bool:
    """An ``ftyp`` box first, of plausible size, whose brand is not a still image."""
    if head[4:8] != b"ftyp" or len(head) < 12:
        return False
    size = int.from_bytes(head[:4], "big")
    return 16 <= size <= 1024 and head[8:12] not in _IMAGE_BRANDS


def _id3_length(head: bytes) -> int:
    """Length of a leading ID3v2 tag (header, body, footer), or 0 if there is none."""
    if len(head) < 10 or head[:3] != b"ID3" or head[3] not in (2, 3, 4) or head[4] == 0xFF:
        return 0
    size_bytes = head[6:10]
    if any(b & 0x80 for b in size_bytes):  # sizes are "syncsafe": 7 bits per byte
        return 0
    size = 0
    for b in size_bytes:
        size = (size << 7) | b
    footer = 10 if head[5] & 0x10 else 0
    return 10 + size + footer


def _two_frames(head: bytes, frame_length: Callable[[bytes, int], _Frame | None]) -> bool:
    """A valid frame header at 0 and another, of the same stream, right after the first."""
    first = frame_length(head, 0)
    if first is None:
        return False
    length, key = first
    second = frame_length(head, length)
    return second is not None and second[1] == key


def _mpeg_frame_length(head: bytes, at: int) -> _Frame | None:
    """Length of the MPEG audio (layer I-III) frame at ``at`` and its stream key."""
    if len(head) < at + 4:
        return None
    b1, b2, b3 = head[at + 1], head[at + 2], head[at + 3]
    if head[at] != 0xFF or b1 & 0xE0 != 0xE0:
        return None
    version, layer_bits = (b1 >> 3) & 3, (b1 >> 1) & 3
    rate_index, kbps_index = (b2 >> 2) & 3, b2 >> 4
    if version == 1 or layer_bits == 0 or rate_index == 3 or kbps_index in (0, 15):
        return None
    if b3 & 3 == 2:  # reserved emphasis
        return None
    layer, mpeg1 = 4 - layer_bits, version == 3
    kbps = _MPEG_KBPS[mpeg1, layer][kbps_index]
    rate = _MPEG_RATES[version][rate_index]
    padding = (b2 >> 1) & 1
    if layer == 1:
        length = (12 * kbps * 1000 // rate + padding) * 4
    else:
        per_frame = 144 if mpeg1 or layer == 2 else 72
        length = per_frame * kbps * 1000 // rate + padding
    return length, (version, layer, rate_index)


def _adts_frame_length(head: bytes, at: int) -> _Frame | None:
    """Length of the ADTS AAC frame at ``at`` and its stream key."""
    if len(head) < at + 7:
        return None
    h = head[at : at + 7]
    if h[0] != 0xFF or h[1] & 0xF6 != 0xF0:  # 12-bit sync, layer 00
        return None
    profile, rate_index = h[2] >> 6, (h[2] >> 2) & 0xF
    channels = ((h[2] & 1) << 2) | (h[3] >> 6)
    if rate_index > 12:
        return None
    length = ((h[3] & 3) << 11) | (h[4] << 3) | (h[5] >> 5)
    header = 7 if h[1] & 1 else 9  # protection_absent=0 adds a CRC
    if length <= header:
        return None
    return length, (profile, rate_index, channels)
