"""The one module that reads and writes media: untrusted input goes through ``open_input``.

- ``sniff``: is this upload audio/video at all (by magic bytes)?
- ``probe``: duration and streams from the header, capped before anything is decoded.
- ``decode_audio``: float32 PCM at any rate, mono, stereo or one channel, capped in length.
- ``probe_untrusted`` / ``decode_untrusted`` / ``convert_untrusted`` (and
  ``probe_and_decode_untrusted``, both in one child): the same for uploads, in a child
  process with resource limits, so a file that crashes FFmpeg costs one request; the
  child comes from a ``Sandbox``: a new Python each time (``ChildPerCall``, the default) or
  forked from a pre-started server (``ForkServer``, for long-running processes).
- ``encode_audio`` / ``write_audio`` / ``StreamingEncoder``: mp3, opus, aac, flac, wav, pcm, m4a.
- ``resample``, ``time_stretch``, ``loudness``, ``normalize_loudness``: for fitting and
  mixing dubbed speech.
- ``mux_dub``: the dub (and subtitles) into a copy of the input video.
- ``speech_video``: a test-pattern video carrying a speech recording (demo and tests).
"""

from dubbing_studio.media.decode import Channels, decode_audio
from dubbing_studio.media.dsp import loudness, normalize_loudness, resample, time_stretch
from dubbing_studio.media.encode import (
    AUDIO_FORMATS,
    STREAMING_FORMATS,
    StreamingEncoder,
    content_type,
    encode_audio,
    extension,
    write_audio,
)
from dubbing_studio.media.files import (
    left_by_dead_process,
    make_temp_file,
    owner_tag,
    process_gone,
    temp_path,
)
from dubbing_studio.media.mux import mux_dub
from dubbing_studio.media.pitch import pitch_shift, shift_voice, track_f0
from dubbing_studio.media.probe import AudioStreamInfo, MediaInfo, VideoStreamInfo, probe
from dubbing_studio.media.sandbox import ChildPerCall, ForkServer, Sandbox
from dubbing_studio.media.sniff import SNIFF_BYTES, sniff
from dubbing_studio.media.source import ALLOWED_DEMUXERS, FORMAT_WHITELIST, open_input
from dubbing_studio.media.testpattern import music_bed, over_music, speech_reel, speech_video
from dubbing_studio.media.untrusted import (
    ChildLimits,
    convert_untrusted,
    decode_untrusted,
    probe_and_decode_untrusted,
    probe_untrusted,
)

__all__ = [
    "ALLOWED_DEMUXERS",
    "AUDIO_FORMATS",
    "FORMAT_WHITELIST",
    "SNIFF_BYTES",
    "STREAMING_FORMATS",
    "AudioStreamInfo",
    "Channels",
    "ChildLimits",
    "ChildPerCall",
    "ForkServer",
    "MediaInfo",
    "Sandbox",
    "StreamingEncoder",
    "VideoStreamInfo",
    "content_type",
    "convert_untrusted",
    "decode_audio",
    "decode_untrusted",
    "encode_audio",
    "extension",
    "left_by_dead_process",
    "loudness",
    "make_temp_file",
    "music_bed",
    "mux_dub",
    "normalize_loudness",
    "open_input",
    "over_music",
    "owner_tag",
    "pitch_shift",
    "probe",
    "probe_and_decode_untrusted",
    "probe_untrusted",
    "process_gone",
    "resample",
    "shift_voice",
    "sniff",
    "speech_reel",
    "speech_video",
    "temp_path",
    "time_stretch",
    "track_f0",
    "write_audio",
]
