"""Media MCP clients hand the studio: which paths they may name, and inline content checked
like an upload (size, base64, sniffed container), with nothing left in the temp folder."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from dubbing_studio import media
from dubbing_studio.config import McpSettings, Settings
from dubbing_studio.domain.errors import (
    InvalidInput,
    NotFound,
    UnsupportedMedia,
    UploadTooLarge,
)
from dubbing_studio.mcp_server.inputs import FilePolicy, received_media


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        temp_dir=tmp_path / "tmp",
        mcp=McpSettings(max_inline_mb=1),
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def wav() -> bytes:
    tone = 0.2 * np.sin(2 * np.pi * 440 * np.arange(1600) / 16_000)
    return media.encode_audio(tone.astype(np.float32), 16_000, "wav")


def test_a_shared_folder_confines_the_paths_clients_may_name(tmp_path: Path) -> None:
    shared, private = tmp_path / "shared", tmp_path / "private"
    shared.mkdir()
    private.mkdir()
    (shared / "talk.wav").write_bytes(b"x")
    (private / "secret.wav").write_bytes(b"x")
    (shared / "link.wav").symlink_to(private / "secret.wav")
    policy = FilePolicy(shared)

    assert policy.resolve("talk.wav") == (shared / "talk.wav").resolve()
    assert policy.resolve(str(shared / "talk.wav")) == (shared / "talk.wav").resolve()
    for escape in ("../private/secret.wav", str(private / "secret.wav"), "link.wav"):
        with pytest.raises(InvalidInput, match="inside the folder"):
            policy.resolve(escape)
    with pytest.raises(NotFound):
        policy.resolve("missing.wav")
    with pytest.raises(NotFound):
        policy.resolve(".")  # a folder is no file

    with pytest.raises(InvalidInput, match="FILES_DIR"):
        FilePolicy().resolve(str(shared / "talk.wav"))  # HTTP without a shared folder
    assert FilePolicy(anywhere=True).resolve(str(private / "secret.wav")).name == "secret.wav"


async def test_inline_and_named_media_arrive_as_sniffed_private_copies(
    settings: Settings, wav: bytes, tmp_path: Path
) -> None:
    inline = base64.b64encode(wav).decode()
    async with received_media(
        settings, FilePolicy(), path=None, content_base64=inline, filename="tone.wav"
    ) as received:
        assert received.kind == "wav" and received.name == "tone.wav"
        assert received.path.read_bytes() == wav
    named = tmp_path / "named.wav"
    named.write_bytes(wav)
    async with received_media(
        settings, FilePolicy(anywhere=True), path=str(named), content_base64=None
    ) as received:
        assert received.path != named and received.path.parent == settings.temp_dir
        assert received.name == "named.wav"
    assert named.exists()  # the client's file is only read
    assert not list(settings.temp_dir.iterdir())


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        ("not base64!", InvalidInput, "base64"),
        (base64.b64encode(b"<html>hello</html>").decode(), UnsupportedMedia, "not an audio"),
        ("", InvalidInput, "empty"),
        (base64.b64encode(b"\0" * (1024 * 1024 + 1)).decode(), UploadTooLarge, "1 MB"),
    ],
)
async def test_bad_inline_media_is_refused_and_leaves_nothing(
    settings: Settings, content: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        async with received_media(settings, FilePolicy(), path=None, content_base64=content):
            pass
    assert not list(settings.temp_dir.iterdir())


async def test_media_is_given_exactly_one_way(settings: Settings, wav: bytes) -> None:
    inline = base64.b64encode(wav).decode()
    for path, content in ((None, None), ("x.wav", inline)):
        with pytest.raises(InvalidInput, match="exactly one"):
            async with received_media(settings, FilePolicy(), path=path, content_base64=content):
                pass
