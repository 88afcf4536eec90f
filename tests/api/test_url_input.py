"""Dubbing from a URL: a real HTTP server on loopback, allow-listed by name ("localhost")
where a test wants it reached, and the SSRF, size and duration checks against it."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from typer.testing import CliRunner

from dubbing_studio.cli import app
from dubbing_studio.config import Settings, UrlFetchSettings
from dubbing_studio.domain.errors import UploadTooLarge
from dubbing_studio.services.url_fetch import UrlFetcher, UrlFetchFailed, UrlRefused
from tests.api.test_dubs import follow
from tests.live import serving
from tests.pipeline.test_subtitle_import import SPANISH_SRT

MB = 1024 * 1024


def _wav_header(data_bytes: int, rate: int = 16000) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def _stream_wav(total: int, declared: int) -> StreamingResponse:
    """A WAV of ``total`` bytes sent without a Content-Length (the cap must count)."""

    async def body() -> AsyncIterator[bytes]:
        yield _wav_header(declared)
        sent = 44
        while sent < total:
            chunk = min(256 * 1024, total - sent)
            yield b"\0" * chunk
            sent += chunk

    return StreamingResponse(body(), media_type="audio/wav")


@pytest.fixture(scope="module")
def media_server(samples_dir: Path) -> Iterator[str]:
    """``http://localhost:PORT`` serving a sample, a page with it, a redirect to 127.0.0.1,
    a 9 MB stream and a FLAC whose header says 10 hours."""
    jfk = samples_dir / "jfk.flac"

    async def sample(request: Request) -> FileResponse:
        return FileResponse(jfk, media_type="audio/flac")

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html><head><title>Kennedy speech</title></head>"
            '<body><audio src="/media/jfk.flac" controls></audio></body></html>'
        )

    async def elsewhere(request: Request) -> HTMLResponse:
        """A page whose media lies at the loopback address itself."""
        return HTMLResponse(
            "<!doctype html><html><head><title>Elsewhere</title></head><body><audio "
            f'src="http://127.0.0.1:{request.url.port}/media/jfk.flac"></audio></body></html>'
        )

    flips = [0]

    async def flip(request: Request) -> Response:
        """A page the first time, then a redirect to the loopback address: the second
        request is yt-dlp's own, through the checked client."""
        flips[0] += 1
        if flips[0] % 2:
            return await page(request)
        return RedirectResponse(f"http://127.0.0.1:{request.url.port}/talk.html", 302)

    async def disguised(request: Request) -> Response:
        """The page again, claiming to be bytes: its content decides."""
        return Response((await page(request)).body, media_type="application/octet-stream")

    async def playlist(request: Request) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html><head><title>Two talks</title></head><body>"
            '<audio src="/media/jfk.flac"></audio><audio src="/media/jfk.flac?2"></audio>'
            "</body></html>"
        )

    async def redirect(request: Request) -> RedirectResponse:
        return RedirectResponse(f"http://127.0.0.1:{request.url.port}/media/jfk.flac", 302)

    async def drip(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield _wav_header(1 * MB)
            for _ in range(4):
                await asyncio.sleep(0.5)
                yield b"\0" * 1024

        return StreamingResponse(body(), media_type="audio/wav")

    async def big(request: Request) -> StreamingResponse:
        return _stream_wav(9 * MB, 9 * MB - 44)

    async def long(request: Request) -> StreamingResponse:
        """The sample, its header saying 10 hours, then padding past the first MB."""
        data = bytearray(jfk.read_bytes())
        info = int.from_bytes(data[18:26], "big")  # FLAC STREAMINFO: rate, …, total samples
        info = info & ~((1 << 36) - 1) | (info >> 44) * 36000
        data[18:26] = info.to_bytes(8, "big")

        async def body() -> AsyncIterator[bytes]:
            yield bytes(data)
            for _ in range(8):
                yield b"\0" * (256 * 1024)

        return StreamingResponse(body(), media_type="audio/flac")

    app = Starlette(
        routes=[
            Route("/media/jfk.flac", sample),
            Route("/talk.html", page),
            Route("/two.html", playlist),
            Route("/disguised", disguised),
            Route("/flip.html", flip),
            Route("/elsewhere.html", elsewhere),
            Route("/redirect", redirect),
            Route("/big.wav", big),
            Route("/drip.wav", drip),
            Route("/long.flac", long),
        ]
    )
    with serving(app) as url:
        yield url.replace("127.0.0.1", "localhost")


def _fetcher(tmp_path: Path, **options: object) -> UrlFetcher:
    settings = Settings(
        data_dir=tmp_path / "data",
        temp_dir=tmp_path / "tmp",
        max_upload_mb=8,
        max_duration_s=600,
        url_fetch=UrlFetchSettings(**options),  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    return UrlFetcher(settings)


def _leftovers(temp_dir: Path) -> list[Path]:
    return sorted(temp_dir.glob("url-*")) if temp_dir.exists() else []


def test_direct_media_and_a_page_yt_dlp_reads(media_server: str, tmp_path: Path) -> None:
    fetcher = _fetcher(tmp_path, allowed_hosts=["localhost"])
    with fetcher.fetch(f"{media_server}/media/jfk.flac") as fetched:
        assert fetched.kind == "flac" and fetched.name == "jfk.flac"
        assert fetched.path.read_bytes()[:4] == b"fLaC"
    with fetcher.fetch(f"{media_server}/talk.html") as fetched:
        assert fetched.kind == "flac" and fetched.path.stat().st_size > 100_000
        assert "Kennedy" in fetched.name
    with fetcher.fetch(f"{media_server}/disguised") as fetched:
        assert fetched.kind == "flac" and "Kennedy" in fetched.name
    assert _leftovers(tmp_path / "tmp") == []


def test_redirects_to_loopback_and_playlists_are_refused(media_server: str, tmp_path: Path) -> None:
    fetcher = _fetcher(tmp_path, allowed_hosts=["localhost"])  # the name, not 127.0.0.1
    with (
        pytest.raises(UrlRefused, match="127.0.0.1, a loopback address"),
        fetcher.fetch(f"{media_server}/redirect"),
    ):
        pass
    with (
        pytest.raises(UrlRefused, match="loopback"),
        _fetcher(tmp_path).fetch(f"{media_server}/talk.html"),
    ):
        pass
    with (
        pytest.raises(UrlRefused, match="127.0.0.1, a loopback address"),
        fetcher.fetch(f"{media_server}/elsewhere.html"),  # the media link yt-dlp found
    ):
        pass
    with (
        pytest.raises(UrlRefused, match="127.0.0.1, a loopback address"),
        fetcher.fetch(f"{media_server}/flip.html"),
    ):
        pass
    with (
        pytest.raises(UrlRefused, match="playlist"),
        fetcher.fetch(f"{media_server}/two.html"),
    ):
        pass
    networks = _fetcher(tmp_path, allowed_networks=["127.0.0.0/8"])
    with networks.fetch(f"{media_server}/redirect") as fetched:
        assert fetched.kind == "flac"
    assert _leftovers(tmp_path / "tmp") == []


def test_size_and_duration_caps_stop_the_download(media_server: str, tmp_path: Path) -> None:
    fetcher = _fetcher(tmp_path, allowed_hosts=["localhost"])
    with pytest.raises(UploadTooLarge, match="8 MB"), fetcher.fetch(f"{media_server}/big.wav"):
        pass
    with (
        pytest.raises(UploadTooLarge, match="10:00:00"),  # its header, read mid-download
        fetcher.fetch(f"{media_server}/long.flac"),
    ):
        pass
    slow = _fetcher(tmp_path, allowed_hosts=["localhost"], max_download_s=0.2)
    with pytest.raises(UrlFetchFailed, match="longer than"), slow.fetch(f"{media_server}/drip.wav"):
        pass
    assert _leftovers(tmp_path / "tmp") == []


def _post(client: TestClient, url: str, **fields: str) -> httpx.Response:
    parts = {"url": (None, url), "target_language": (None, "es")}
    parts.update({k: (None, v) for k, v in fields.items()})
    return client.post("/api/v1/dubs", files=parts)


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/redirect", 422, "url_refused"),
        ("file:///etc/passwd", 422, "url_refused"),
        ("http://169.254.169.254/latest/meta-data/", 422, "url_refused"),
        ("http://[fd00:ec2::254]/", 422, "url_refused"),
        ("/big.wav", 413, "payload_too_large"),
    ],
)
def test_refusals_over_http_are_clear_4xx(
    client: TestClient, media_server: str, temp_dir: Path, path: str, status: int, code: str
) -> None:
    url = path if "://" in path else media_server.replace("localhost", "127.0.0.1") + path
    if path == "/big.wav":
        url = media_server + path
    response = _post(client, url)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error_code"] == code and body["detail"] and body["request_id"]
    assert _leftovers(temp_dir) == []


@pytest.mark.slow
def test_a_dub_from_a_url(client: TestClient, media_server: str, temp_dir: Path) -> None:
    response = _post(client, f"{media_server}/media/jfk.flac")
    assert response.status_code == 202, response.text
    dub_id = response.json()["id"]
    assert _leftovers(temp_dir) == []
    events = follow(client, dub_id)
    assert events[-1][2]["status"] == "succeeded", events[-3:]
    dub = client.get(f"/api/v1/dubs/{dub_id}").json()
    assert dub["input_name"] == "jfk.flac" and dub["source_language"] == "en"
    assert {"audio.mp3", "subtitles.target.srt"} <= {o["name"] for o in dub["outputs"]}
    client.delete(f"/api/v1/dubs/{dub_id}")


@pytest.mark.slow
def test_the_cli_dubs_a_url_with_an_imported_translation(
    media_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUBBING_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DUBBING_STUDIO_TEMP_DIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("DUBBING_STUDIO_URL_FETCH__ALLOWED_HOSTS", '["localhost"]')
    monkeypatch.chdir(tmp_path)
    subtitles = tmp_path / "jfk.es.srt"
    subtitles.write_text(SPANISH_SRT, encoding="utf-8")
    runner = CliRunner()
    refused = runner.invoke(app, ["dub", "file:///etc/passwd", "--to", "es"])
    assert refused.exit_code == 2 and "Only http and https" in refused.output
    bad = tmp_path / "bad.srt"
    bad.write_text(SPANISH_SRT.replace("00:00:08,000 -->", "00:00:08 -->"), encoding="utf-8")
    broken = runner.invoke(
        app, ["dub", f"{media_server}/media/jfk.flac", "--to", "es", "--translation", str(bad)]
    )
    assert broken.exit_code == 2 and "bad.srt, line 10" in broken.output, broken.output
    result = runner.invoke(
        app,
        ["dub", f"{media_server}/media/jfk.flac", "--to", "es", "--translation", str(subtitles)],
    )
    assert result.exit_code == 0, result.output
    srt = (tmp_path / "out" / "jfk.target.srt").read_text(encoding="utf-8")
    assert "00:00:00,300 -->" in srt and "Y así, mis compatriotas:" in srt
    assert _leftovers(tmp_path / "tmp") == []
