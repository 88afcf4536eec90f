"""The MCP server as a real MCP client sees it, over both transports: ``dubbing-studio mcp``
spawned on stdio, and ``/mcp`` of a real ``dubbing-studio serve`` behind an API key. Each
lists the tools, dubs JFK into Spanish while receiving progress, reads the dub's audio and
report as resources, edits one line and renders it into the subtitles."""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from dubbing_studio import media

from .conftest import Server

pytestmark = pytest.mark.slow

TOOLS = {
    "transcribe",
    "translate",
    "speak",
    "dub",
    "dub_status",
    "list_dubs",
    "list_lines",
    "edit_line",
    "render",
    "list_engines",
}
NEW_LINE = "Compatriotas, escuchad esto con atención."
API_KEY = "mcp-test-key-0123456789"


async def dub_read_edit_render(
    client: Client, source: dict[str, str], input_s: float, scratch: Path
) -> None:
    listed = await client.list_tools()
    assert {tool.name for tool in listed.tools} >= TOOLS

    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    arguments = {"target_language": "es", "options": {"audio_formats": ["wav"]}, "wait": True}
    result = await client.call_tool("dub", arguments | source, progress_callback=on_progress)
    assert not result.is_error, result.content
    dub = result.structured_content
    assert dub["status"] == "succeeded", dub
    values = [value for value, _ in progress]
    assert len(values) >= 3 and values == sorted(set(values)), progress  # only forward
    assert {"transcribe", "synthesize"} <= {m.split()[0] for _, m in progress if m}

    outputs = {output["name"]: output for output in dub["outputs"]}
    audio = (await client.read_resource(outputs["audio.wav"]["uri"])).contents[0]
    assert audio.mime_type == "audio/wav"
    wav = scratch / "dub.wav"
    wav.write_bytes(base64.b64decode(audio.blob))
    samples, rate = media.decode_audio(wav, sample_rate=None)
    assert abs(len(samples) / rate - input_s) < 0.1
    assert float(np.sqrt(np.mean(samples**2))) > 0.01  # a voice, not silence
    report = json.loads(
        (await client.read_resource(outputs["report.json"]["uri"])).contents[0].text
    )
    assert report["target_language"] == "es"

    lines = (await client.call_tool("list_lines", {"dub_id": dub["id"]})).structured_content
    first = lines["lines"][0]
    edit = {"dub_id": dub["id"], "line_id": first["id"], "target_text": NEW_LINE}
    edited = (await client.call_tool("edit_line", edit)).structured_content
    assert edited["status"] == "stale" and edited["target_text"] == NEW_LINE

    status = (await client.call_tool("dub_status", {"dub_id": dub["id"]})).structured_content
    assert status["status"] == "succeeded" and status["outputs"] == dub["outputs"]
    listed_dubs = (await client.call_tool("list_dubs", {})).structured_content
    assert [item["id"] for item in listed_dubs["items"]] == [dub["id"]]

    rendered = await client.call_tool("render", {"dub_id": dub["id"], "wait": True})
    assert rendered.structured_content["status"] == "succeeded", rendered.content
    srt = [o for o in rendered.structured_content["outputs"] if o["name"].endswith(".srt")]
    texts = [(await client.read_resource(o["uri"])).contents[0].text for o in srt]
    assert any(NEW_LINE in text for text in texts), texts


def input_seconds(path: Path) -> float:
    return float(media.probe(path).duration)


async def test_stdio_server_dubs_reports_progress_and_edits(
    tmp_path: Path, samples_dir: Path
) -> None:
    jfk = samples_dir / "jfk.flac"
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "dubbing_studio", "mcp"],
        env={
            **os.environ,
            "DUBBING_STUDIO_DATA_DIR": str(tmp_path / "data"),
            "DUBBING_STUDIO_TEMP_DIR": str(tmp_path / "tmp"),
            "DUBBING_STUDIO_LOG_LEVEL": "warning",
        },
        cwd=tmp_path,
    )
    async with Client(server) as client:
        await dub_read_edit_render(client, {"path": str(jfk)}, input_seconds(jfk), tmp_path)

        # The single steps, once each.
        engines = (await client.call_tool("list_engines", {})).structured_content
        assert engines["defaults"]["transcribe"] == "whisper"
        translation = await client.call_tool(
            "translate", {"texts": ["The house is big."], "target_language": "es"}
        )
        assert "casa" in translation.structured_content["texts"][0].lower()
        spoken = await client.call_tool("speak", {"text": "Hola a todos.", "language": "es"})
        audio = next(block for block in spoken.content if block.type == "audio")
        assert audio.mime_type == "audio/mpeg" and len(base64.b64decode(audio.data)) > 1000
        heard = await client.call_tool("transcribe", {"path": str(jfk), "language": "en"})
        assert "country" in heard.structured_content["text"].lower()


async def test_http_server_needs_the_key_then_dubs_inline_media(
    make_server: type[Server], samples_dir: Path, tmp_path: Path
) -> None:
    studio = make_server("mcp-http")
    studio.env = {"DUBBING_STUDIO_API_KEYS": json.dumps([API_KEY])}
    studio.start()
    url = f"{studio.url}/mcp"

    async with httpx.AsyncClient() as plain:
        refused = await plain.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert refused.status_code == 401 and refused.json()["error_code"] == "unauthorized"
    with pytest.raises(ExceptionGroup) as refused_call:
        async with Client(url) as client:
            await client.list_tools()
    assert refused_call.group_contains(MCPError)

    jfk = samples_dir / "jfk.flac"
    inline = {"content_base64": base64.b64encode(jfk.read_bytes()).decode(), "filename": jfk.name}
    assert len(inline["content_base64"]) > 1024 * 1024  # over the API's JSON body cap
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        await dub_read_edit_render(client, inline, input_seconds(jfk), tmp_path)
        leaked = await client.call_tool("transcribe", {"path": str(jfk)})
        assert leaked.is_error and "content_base64" in str(leaked.content)
    assert not [p for p in studio.temp_dir.glob("*") if p.is_file()]  # inline copies removed
