"""The streaming multipart receiver, driven with a real Starlette request over a byte stream."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from starlette.requests import Request

from dubbing_studio.api.uploads import receive_upload
from dubbing_studio.domain.errors import InvalidInput, UnsupportedMedia, UploadTooLarge

BOUNDARY = "studio-test-boundary"


def _sniff(head: bytes) -> str | None:
    return "wav" if head.startswith(b"RIFF") else None


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> bytes:
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def _request(body: bytes, chunk: int = 1000, declare_length: bool = False) -> Request:
    chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
    headers = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]
    if declare_length:
        headers.append((b"content-length", str(len(body)).encode()))

    async def receive() -> dict[str, object]:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    return Request({"type": "http", "method": "POST", "headers": headers}, receive)


async def test_file_streams_to_a_random_name_with_fields(tmp_path: Path) -> None:
    audio = b"RIFF" + bytes(10_000)
    body = _multipart([("language", None, b"en"), ("file", "../../etc/passwd.wav", audio)])
    upload = await receive_upload(
        _request(body), temp_dir=tmp_path, max_bytes=1 << 20, sniff=_sniff
    )
    assert upload.path.parent == tmp_path and upload.path.name.startswith("upload-")
    assert upload.path.read_bytes() == audio
    assert upload.filename == "passwd.wav"
    assert upload.field("language") == "en" and upload.kind == "wav"
    upload.discard()
    assert list(tmp_path.iterdir()) == []


async def test_cap_is_enforced_while_streaming_and_the_partial_file_removed(
    tmp_path: Path,
) -> None:
    body = _multipart([("file", "big.wav", b"RIFF" + bytes(50_000))])
    with pytest.raises(UploadTooLarge):
        await receive_upload(_request(body), temp_dir=tmp_path, max_bytes=20_000, sniff=_sniff)
    assert list(tmp_path.iterdir()) == []


async def test_declared_length_over_cap_is_refused_before_reading(tmp_path: Path) -> None:
    body = _multipart([("file", "big.wav", b"RIFF" + bytes(3 << 20))])
    request = _request(body, declare_length=True)
    with pytest.raises(UploadTooLarge):
        await receive_upload(request, temp_dir=tmp_path, max_bytes=1 << 20, sniff=_sniff)
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


async def test_non_media_is_refused_after_the_first_bytes(tmp_path: Path) -> None:
    body = _multipart([("file", "song.mp3", b"just text " * 1000)])
    with pytest.raises(UnsupportedMedia, match="song.mp3"):
        await receive_upload(_request(body), temp_dir=tmp_path, max_bytes=1 << 20, sniff=_sniff)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "body",
    [
        _multipart([("language", None, b"en")]),
        _multipart([("file", "empty.wav", b"")]),
        b"--not-the-boundary\r\ngarbage",
    ],
    ids=["no-file", "empty-file", "malformed"],
)
async def test_missing_empty_or_malformed(tmp_path: Path, body: bytes) -> None:
    with pytest.raises(InvalidInput):
        await receive_upload(_request(body), temp_dir=tmp_path, max_bytes=1 << 20, sniff=_sniff)
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


async def test_not_multipart(tmp_path: Path) -> None:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    request = Request(
        {"type": "http", "method": "POST", "headers": [(b"content-type", b"application/json")]},
        receive,
    )
    with pytest.raises(InvalidInput, match="multipart"):
        await receive_upload(request, temp_dir=tmp_path, max_bytes=100, sniff=_sniff)


async def test_two_files_in_one_request_are_refused(tmp_path: Path) -> None:
    body = _multipart([("file", "a.wav", b"RIFF1"), ("file", "b.wav", b"RIFF2")])
    with pytest.raises(InvalidInput, match="one file"):
        await receive_upload(_request(body), temp_dir=tmp_path, max_bytes=1 << 20, sniff=_sniff)
    assert list(tmp_path.iterdir()) == []


def test_start_up_removes_only_stale_uploads_and_decoded_pcm(tmp_path: Path) -> None:
    from dubbing_studio.api.app import remove_stale_uploads

    old = time.time() - 2 * 3600
    stale = [tmp_path / "upload-abc", tmp_path / ".tmp-x1.wav"]
    fresh = [tmp_path / "upload-new", tmp_path / ".tmp-x2.wav"]
    other = tmp_path / "keep.txt"
    for path in [*stale, *fresh, other]:
        path.write_bytes(b"x")
    for path in [*stale, other]:
        os.utime(path, (old, old))
    assert remove_stale_uploads(tmp_path, 3600) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tmp-x2.wav", "keep.txt", "upload-new"]
