"""Media an MCP client hands the studio: a file it names, or the bytes inline (base64).

Either way the studio works on a private copy in its temp folder, under the upload cap and
sniffed by content like an HTTP upload; the copy then goes through the same child-process
probing and decoding (``media.untrusted``) as uploads do. Which paths a client may name is
the transport's ``FilePolicy``: over stdio the client is the local user, so any file they can
read; over HTTP only files inside a folder the operator shares, so a remote client can never
make the server read its other files.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread

from dubbing_studio import media
from dubbing_studio.config import Settings
from dubbing_studio.domain.errors import InvalidInput, NotFound, UnsupportedMedia, UploadTooLarge

MAX_NAME_CHARS = 200


@dataclass(frozen=True, slots=True)
class FilePolicy:
    """Which paths an MCP client may name: any (``anywhere``), those inside ``root``, or
    none (``root`` unset): then media comes inline only."""

    root: Path | None = None
    anywhere: bool = False

    def resolve(self, name: str) -> Path:
        """The file ``name`` means, symlinks resolved; refused outside what the policy
        allows, and when it is not a readable regular file."""
        if self.anywhere:
            path = Path(name).expanduser().resolve()
        elif self.root is None:
            raise InvalidInput(
                "This server takes media inline (content_base64); naming a path needs "
                "DUBBING_STUDIO_MCP__FILES_DIR on the server."
            )
        else:
            root = self.root.resolve()
            path = (root / name).resolve()
            if not path.is_relative_to(root):
                raise InvalidInput("Paths must lie inside the folder the server shares.")
        if not path.is_file():
            raise NotFound(f"No file at {name!r}.")
        return path


@dataclass(frozen=True, slots=True)
class ReceivedMedia:
    """A private copy of the client's media, sniffed: ``kind`` is its container."""

    path: Path
    name: str
    kind: str


@contextlib.asynccontextmanager
async def received_media(
    settings: Settings,
    policy: FilePolicy,
    *,
    path: str | None,
    content_base64: str | None,
    filename: str | None = None,
) -> AsyncIterator[ReceivedMedia]:
    """The named or inline media as a temp file (removed on exit, unless moved away)."""
    if (path is None) == (content_base64 is None):
        raise InvalidInput("Give the media as exactly one of path or content_base64.")
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    with media.temp_path(settings.temp_dir) as copy:
        if content_base64 is not None:
            await anyio.to_thread.run_sync(_write_inline, settings, content_base64, copy)
            name = filename or "inline media"
        else:
            assert path is not None
            source = policy.resolve(path)
            await anyio.to_thread.run_sync(_copy_capped, source, copy, settings.max_upload_bytes)
            name = filename or source.name
        with copy.open("rb") as handle:
            head = handle.read(media.SNIFF_BYTES)
        if not head:
            raise InvalidInput("The media is empty.")
        kind = media.sniff(head)
        if kind is None:
            raise UnsupportedMedia(
                f"{name[:MAX_NAME_CHARS]} is not an audio or video file (its content matches "
                "no supported container)."
            )
        yield ReceivedMedia(copy, name[:MAX_NAME_CHARS], kind)


def _write_inline(settings: Settings, content: str, out: Path) -> None:
    cap = min(settings.mcp.max_inline_mb * 1024 * 1024, settings.max_upload_bytes)
    too_large = UploadTooLarge(
        f"Inline media is limited to {cap // (1024 * 1024)} MB; name a file instead."
    )
    if len(content) > (cap + 2) // 3 * 4:  # base64 of ``cap`` bytes: refused undecoded
        raise too_large
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("content_base64 is not valid base64.") from None
    if len(data) > cap:
        raise too_large
    out.write_bytes(data)


def _copy_capped(source: Path, out: Path, max_bytes: int) -> None:
    """Copy at most ``max_bytes``: the size is counted while copying, not taken from
    ``stat`` alone (a file may grow, or be a device that never ends)."""
    with source.open("rb") as reader, out.open("wb") as writer:
        copied = 0
        while chunk := reader.read(1024 * 1024):
            copied += len(chunk)
            if copied > max_bytes:
                raise UploadTooLarge(
                    f"The file is larger than the {max_bytes // (1024 * 1024)} MB upload limit."
                )
            writer.write(chunk)
