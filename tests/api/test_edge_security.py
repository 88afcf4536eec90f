"""The HTTP edge: body and form caps, the Host allow-list, the Origin check on a studio
without keys, Last-Event-ID, keys from the store, and signed media links with keys on."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from fastapi import Depends, Request
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from dubbing_studio import media
from dubbing_studio.api.app import create_app
from dubbing_studio.api.deps import require_api_key
from dubbing_studio.api.security import LINK_SECRET_FILE, HostAllowList, MediaLinks
from dubbing_studio.config import LimitSettings, Settings
from dubbing_studio.domain.dub import DubPlan, Segment, SegmentStatus
from dubbing_studio.domain.jobs import DubJob, JobStatus
from dubbing_studio.jobs.store import ApiKeyStore, DubStore
from dubbing_studio.services.api_keys import create_key, env_client_id

TEST_HOST = "testserver"  # TestClient's host name
CORS_ORIGIN = "https://ui.example"
ENV_KEY = "edge-test-key-0123456789"


def edge_settings(root: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": root / "data",
        "temp_dir": root / "tmp",
        "allowed_hosts": [TEST_HOST],
        "cors_origins": [CORS_ORIGIN],
        "limits": LimitSettings(max_json_kb=4, max_form_fields=3, max_form_field_kb=1),
        **overrides,
    }
    return Settings(**values, _env_file=None)  # type: ignore[call-arg]


@contextmanager
def serve(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)

    @app.get("/test/whoami", dependencies=[Depends(require_api_key)])
    def whoami(request: Request) -> dict[str, str | None]:
        return {"client_id": getattr(request.state, "client_id", None)}

    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def open_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A studio without API keys and with small limits."""
    with serve(edge_settings(tmp_path_factory.mktemp("edge-open"))) as client:
        yield client


@pytest.fixture(scope="module")
def keyed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("edge-keyed")


@pytest.fixture(scope="module")
def stored_key(keyed_root: Path) -> str:
    """A key made with the CLI's service before the server starts."""
    store = DubStore(edge_settings(keyed_root).database)
    store.migrate()
    try:
        return create_key(ApiKeyStore(store), "edge tests").secret
    finally:
        store.close()


@pytest.fixture(scope="module")
def keyed_client(keyed_root: Path, stored_key: str) -> Iterator[TestClient]:
    """A studio with an environment key and a stored key."""
    with serve(edge_settings(keyed_root, api_keys=[SecretStr(ENV_KEY)])) as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def tone_wav(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return media.encode_audio((0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, "wav")


# --- request limits -----------------------------------------------------------------------
def test_json_bodies_are_capped_by_length_and_while_streaming(open_client: TestClient) -> None:
    big = json.dumps({"text": "a" * 5000, "source_language": "en", "target_language": "es"})
    declared = open_client.post(
        "/api/v1/audio/translate", content=big, headers={"Content-Type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["error_code"] == "payload_too_large"
    assert "4 KB" in declared.json()["detail"]

    chunks = iter([big[i : i + 500].encode() for i in range(0, len(big), 500)])
    chunked = open_client.post(
        "/api/v1/audio/translate", content=chunks, headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 413
    assert chunked.json()["error_code"] == "payload_too_large"

    # A multipart body is only exempt on the routes that stream uploads themselves.
    form = open_client.post(
        "/api/v1/audio/translate", files={"file": ("x.bin", b"x" * 8000)}, data={"text": "hi"}
    )
    assert form.status_code == 413

    small = open_client.patch("/api/v1/dubs/nope/segments/s1", json={"target_text": "hola"})
    assert small.status_code == 404  # under the cap: the route ran


def test_form_fields_are_capped_and_nothing_is_left_behind(open_client: TestClient) -> None:
    wav = tone_wav(0.2)
    many = open_client.post(
        "/api/v1/dubs",
        data={f"field{i}": "x" for i in range(4)},
        files={"file": ("tone.wav", wav, "audio/wav")},
    )
    assert many.status_code == 400
    assert "Too many form fields" in many.json()["detail"]

    long = open_client.post(
        "/api/v1/dubs",
        data={"target_language": "es", "options": "x" * 2000},
        files={"file": ("tone.wav", wav, "audio/wav")},
    )
    assert long.status_code == 413
    assert "'options'" in long.json()["detail"]

    for route in ("/api/v1/audio/transcribe", "/v1/audio/transcriptions"):
        refused = open_client.post(
            route, data={"language": "x" * 2000}, files={"file": ("tone.wav", wav, "audio/wav")}
        )
        assert refused.status_code == 413, route
    temp_dir = open_client.app.state.studio.settings.temp_dir  # type: ignore[attr-defined]
    assert not list(temp_dir.glob("upload-*"))
    assert open_client.get("/api/v1/dubs").json()["total"] == 0


# --- Host allow-list ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "host", ["localhost:8000", "127.0.0.1", "[::1]:8000", "192.168.1.20:8000", TEST_HOST]
)
def test_local_names_addresses_and_allowed_hosts_are_served(
    open_client: TestClient, host: str
) -> None:
    assert open_client.get("/health", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "localhost.evil.example"])
def test_other_host_names_are_refused(open_client: TestClient, host: str) -> None:
    """A DNS-rebinding page's requests carry its own name as Host."""
    response = open_client.post("/api/v1/dubs", headers={"Host": host})
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "invalid_host" and "DUBBING_STUDIO_ALLOWED_HOSTS" in body["detail"]


def test_host_allow_list_entries(tmp_path: Path) -> None:
    default = HostAllowList.from_settings(Settings(data_dir=tmp_path, _env_file=None))  # type: ignore[call-arg]
    assert default.allows("localhost:8000") and default.allows("LOCALHOST.")
    assert not default.allows(TEST_HOST) and not default.allows("attacker.example")

    configured = HostAllowList.from_settings(
        edge_settings(
            tmp_path,
            host="studio.lan",
            allowed_hosts=["Studio.Example", "api.example:8443", "*.corp.example"],
        )
    )
    assert configured.allows("studio.lan:8000")  # the configured host, any port
    assert configured.allows("studio.example") and configured.allows("studio.example:443")
    assert configured.allows("api.example:8443") and not configured.allows("api.example:8000")
    assert configured.allows("dubs.corp.example") and not configured.allows("corp.example.evil")
    assert not configured.allows("example")

    anything = HostAllowList.from_settings(edge_settings(tmp_path, allowed_hosts=["*"]))
    assert anything.allows("whatever.example")

    with pytest.raises(ValidationError, match="host names"):
        edge_settings(tmp_path, allowed_hosts=["https://studio.example/"])


# --- Origin check without keys --------------------------------------------------------------
def test_cross_origin_state_changes_are_refused_without_keys(open_client: TestClient) -> None:
    wav = tone_wav(0.2)
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://[not-an-address"},
        {"Sec-Fetch-Site": "cross-site", "Referer": "http://evil.example/page.html"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        refused = open_client.post(
            "/api/v1/dubs",
            headers=headers,
            data={"target_language": "es"},
            files={"file": ("tone.wav", wav, "audio/wav")},
        )
        assert refused.status_code == 403, headers
        assert refused.json()["error_code"] == "cross_origin_refused"
        deleted = open_client.delete("/api/v1/dubs/some-id", headers=headers)
        assert deleted.status_code == 403
    assert open_client.get("/api/v1/dubs").json()["total"] == 0

    for headers in (
        {},  # curl, SDKs
        {"Origin": f"http://{TEST_HOST}"},  # the studio's own page
        {"Origin": CORS_ORIGIN},
        {"Sec-Fetch-Site": "cross-site", "Referer": f"{CORS_ORIGIN}/app"},
        {"Sec-Fetch-Site": "same-origin"},
    ):
        allowed = open_client.post("/api/v1/dubs/nope/cancel", headers=headers)
        assert allowed.status_code == 404, headers  # reached the route
    # Reading is not a state change.
    assert open_client.get("/api/v1/dubs", headers={"Origin": "http://evil.example"}).is_success


def test_with_keys_a_cross_origin_request_needs_a_key(keyed_client: TestClient) -> None:
    headers = {"Origin": "http://evil.example"}
    assert keyed_client.post("/api/v1/dubs/nope/cancel", headers=headers).status_code == 401
    with_key = keyed_client.post("/api/v1/dubs/nope/cancel", headers=headers | auth(ENV_KEY))
    assert with_key.status_code == 404


# --- blank keys, Last-Event-ID --------------------------------------------------------------
def test_blank_api_keys_are_refused_at_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="blank"):
        edge_settings(tmp_path, api_keys=[SecretStr("good-key"), SecretStr("  ")])
    monkeypatch.setenv("DUBBING_STUDIO_API_KEYS", '["good-key", ""]')
    with pytest.raises(ValidationError, match="entry 2 is blank"):
        Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "value", ["²".encode("latin-1"), b"1" * 19, b"-1", b"abc", b"1e3", "١".encode()]
)
def test_a_malformed_last_event_id_is_a_400(open_client: TestClient, value: bytes) -> None:
    response = open_client.get("/api/v1/dubs/nope/events", headers={"Last-Event-ID": value})
    assert response.status_code == 400
    assert response.json()["error_code"] == "invalid_input"
    assert "Last-Event-ID" in response.json()["detail"]


# --- keys -----------------------------------------------------------------------------------
def test_stored_and_environment_keys_identify_their_client(
    keyed_client: TestClient, stored_key: str
) -> None:
    assert keyed_client.get("/test/whoami").status_code == 401
    assert keyed_client.get("/test/whoami", headers=auth("ds_wrong")).status_code == 401
    env = keyed_client.get("/test/whoami", headers=auth(ENV_KEY))
    assert env.json() == {"client_id": env_client_id(ENV_KEY)}
    assert ENV_KEY not in env.text
    stored = keyed_client.get("/test/whoami", headers={"X-API-Key": stored_key})
    keys = ApiKeyStore(keyed_client.app.state.dubs.store).list()  # type: ignore[attr-defined]
    assert stored.json() == {"client_id": keys[0].id}
    assert keys[0].last_used_at is not None
    assert stored_key.startswith("ds_") and keys[0].prefix == stored_key[:10]
    assert keyed_client.get("/health").status_code == 200  # stays open


# --- signed media links ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_dub(keyed_client: TestClient) -> dict[str, Any]:
    """A finished dub put straight into the store: one output, the input, one line."""
    service = keyed_client.app.state.dubs  # type: ignore[attr-defined]
    job_id = "0123456789abcdef"
    folder = service.projects / job_id
    (folder / "outputs").mkdir(parents=True)
    (folder / "input.wav").write_bytes(tone_wav(1.0))
    output = tone_wav(1.0, rate=24_000)
    (folder / "outputs" / "audio.wav").write_bytes(output)
    now = datetime.now(UTC)
    service.store.create_job(
        DubJob(
            id=job_id,
            created_at=now,
            updated_at=now,
            status=JobStatus.SUCCEEDED,
            input_name="tone.wav",
            input_path=str(folder / "input.wav"),
            input_digest="0" * 64,
            plan=DubPlan(target_language="es"),
            duration_s=1.0,
            progress=1.0,
            outputs={"audio.wav": "audio.wav"},
        )
    )
    line = Segment(id="s1", start=0.25, end=0.75, speaker="S1", source_text="Hi.")
    service.store.replace_segments(job_id, [line.edited(status=SegmentStatus.READY)], "en")
    dub = keyed_client.get(f"/api/v1/dubs/{job_id}", headers=auth(ENV_KEY)).json()
    segments = keyed_client.get(f"/api/v1/dubs/{job_id}/segments", headers=auth(ENV_KEY)).json()
    return {"dub": dub, "segment": segments["items"][0], "output": output}


def test_signed_links_play_and_download_without_a_key(
    keyed_client: TestClient, finished_dub: dict[str, Any]
) -> None:
    dub, segment = finished_dub["dub"], finished_dub["segment"]
    (output,) = dub["outputs"]
    assert keyed_client.get(output["url"]).status_code == 401
    download = keyed_client.get(output["signed_url"] + "&v=cache-buster")
    assert download.status_code == 200 and download.content == finished_dub["output"]
    partial = keyed_client.get(output["signed_url"], headers={"Range": "bytes=0-99"})
    assert partial.status_code == 206 and len(partial.content) == 100
    original = keyed_client.get(dub["signed_links"]["input"])
    assert original.status_code == 200 and original.content[:4] == b"RIFF"
    clip = keyed_client.get(segment["signed_links"]["source_audio"])
    assert clip.status_code == 200 and clip.headers["content-type"] == "audio/wav"
    with av.open(io.BytesIO(clip.content)) as container:
        assert abs(container.duration / 1e6 - 0.5) < 0.01  # the line's span of the input


def test_signed_links_open_only_their_own_media_and_only_for_reading(
    keyed_client: TestClient, finished_dub: dict[str, Any]
) -> None:
    dub = finished_dub["dub"]
    signed = dub["outputs"][0]["signed_url"]
    path, _, query = signed.partition("?")
    forged = signed[:-4] + ("AAAA" if not signed.endswith("AAAA") else "BBBB")
    assert keyed_client.get(forged).json()["error_code"] == "bad_signature"
    assert keyed_client.get(forged).status_code == 403
    other = path.replace("audio.wav", "report.json")
    assert keyed_client.get(f"{other}?{query}").status_code == 403
    base = f"/api/v1/dubs/{dub['id']}"
    assert keyed_client.get(f"{base}?{query}").status_code == 401  # not a media route
    assert keyed_client.post(f"{base}/render?{query}").status_code == 401
    assert keyed_client.delete(f"{base}?{query}").status_code == 401
    bad_expiry = signed.replace("exp=", "exp=9")
    assert keyed_client.get(bad_expiry).status_code == 403


def test_expired_links_are_refused_and_the_secret_is_private(
    keyed_client: TestClient, keyed_root: Path, finished_dub: dict[str, Any]
) -> None:
    secret_file = keyed_root / "data" / LINK_SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = bytes.fromhex(secret_file.read_text())
    an_hour_ago = MediaLinks(secret, ttl_s=60, clock=lambda: datetime.now(UTC).timestamp() - 3600)
    expired = an_hour_ago.sign(finished_dub["dub"]["outputs"][0]["url"])
    response = keyed_client.get(expired)
    assert response.status_code == 401 and response.json()["error_code"] == "link_expired"


def test_link_expiry_is_rounded_so_links_are_stable() -> None:
    now = [1_000_000.0]
    links = MediaLinks(b"k" * 32, ttl_s=3600, clock=lambda: now[0])
    first = links.sign("/api/v1/dubs/x/input")
    now[0] += 30
    assert links.sign("/api/v1/dubs/x/input") == first
    expires = int(first.split("exp=")[1].split("&")[0])
    assert 3600 <= expires - 1_000_000 <= 3600 + 600


def test_the_largest_last_event_id_ends_the_stream_cleanly(
    keyed_client: TestClient, finished_dub: dict[str, Any]
) -> None:
    url = f"/api/v1/dubs/{finished_dub['dub']['id']}/events"
    headers = auth(ENV_KEY) | {"Last-Event-ID": "9" * 18}
    with keyed_client.stream("GET", url, headers=headers) as stream:
        assert stream.status_code == 200
        assert "event:" not in "".join(stream.iter_text())  # nothing newer; closed, no error


# --- the MCP endpoint -----------------------------------------------------------------------
MCP_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "edge-test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def test_mcp_needs_a_key_when_the_studio_has_keys(
    keyed_client: TestClient, stored_key: str
) -> None:
    for headers in ({}, auth("ds_wrong"), {"X-API-Key": "ds_wrong"}):
        refused = keyed_client.post("/mcp", json=MCP_INITIALIZE, headers=MCP_HEADERS | headers)
        assert refused.status_code == 401, headers
        assert refused.json()["error_code"] == "unauthorized"
        assert refused.headers["WWW-Authenticate"] == "Bearer"
    sessions = {}
    for name, key in (("env", auth(ENV_KEY)), ("stored", {"X-API-Key": stored_key})):
        opened = keyed_client.post("/mcp", json=MCP_INITIALIZE, headers=MCP_HEADERS | key)
        assert opened.status_code == 200, opened.text
        sessions[name] = {"mcp-session-id": opened.headers["mcp-session-id"]}
    # A session answers only the key that opened it.
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    mine = MCP_HEADERS | auth(ENV_KEY) | sessions["env"]
    assert keyed_client.post("/mcp", json=ping, headers=mine).status_code == 200
    theirs = MCP_HEADERS | {"X-API-Key": stored_key} | sessions["env"]
    assert keyed_client.post("/mcp", json=ping, headers=theirs).status_code == 404


def test_mcp_sits_behind_the_host_and_origin_guards(open_client: TestClient) -> None:
    foreign = open_client.post(
        "/mcp", json=MCP_INITIALIZE, headers=MCP_HEADERS | {"Origin": "http://evil.example"}
    )
    assert foreign.status_code == 403
    assert foreign.json()["error_code"] == "cross_origin_refused"
    rebound = open_client.post(
        "/mcp", json=MCP_INITIALIZE, headers=MCP_HEADERS | {"Host": "evil.example"}
    )
    assert rebound.status_code == 400
    # Its body cap is its own (media may come inline), not the 4 KB of JSON routes.
    padded = MCP_INITIALIZE | {"params": MCP_INITIALIZE["params"] | {"_pad": "x" * 8000}}
    opened = open_client.post("/mcp", json=padded, headers=MCP_HEADERS)
    assert opened.status_code == 200, opened.text
    assert 'route="/mcp",status="200"' in open_client.get("/metrics").text
