"""schemathesis over ``/openapi.json``: generated requests to every operation get no 5xx, and
every response conforms to the schema (status codes, content types, bodies, headers).

Bounded: a few examples per operation, derandomized, no stateful phase. The studio runs on a
loopback port with its own data folder and studio; rate limits are off and quotas wide, so
the fuzzer meets the validation, not the limits (tests of their own cover those).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.testclient import TestClient
from pydantic import SecretStr
from schemathesis.config import SchemathesisConfig

from dubbing_studio.api.app import create_app
from dubbing_studio.config import QuotaSettings, RateLimitSettings, Settings
from tests.live import serving

# A few per operation in CI; a deeper local run: STUDIO_FUZZ_EXAMPLES=100 (and STUDIO_FUZZ_SEED).
MAX_EXAMPLES = int(os.environ.get("STUDIO_FUZZ_EXAMPLES", "5"))
API_KEY = "fuzz-key"
CONFIG = {
    "auth": {"openapi": {"HTTPBearer": {"bearer": API_KEY}}},
    "seed": int(os.environ.get("STUDIO_FUZZ_SEED", "8")),
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    # Schema-valid is not enough for the studio to accept: uploads must be media by content
    # (415), languages, voices and models must exist (422). Schema-invalid requests must still
    # be refused (negative_data_rejection stays on).
    "checks": {"positive_data_acceptance": {"enabled": False}},
    "request-timeout": 120,
}


def fuzz_settings(root: Path) -> Settings:
    return Settings(
        data_dir=root / "data",
        temp_dir=root / "tmp",
        max_upload_mb=4,
        api_keys=[SecretStr(API_KEY)],
        rate_limit=RateLimitSettings(requests_per_minute=0),
        quotas=QuotaSettings(concurrent_dubs=100, queued_dubs=100, audio_minutes_per_day=1e6),
        _env_file=None,  # type: ignore[call-arg]
    )


# The schema as the app generates it (collection needs it before any server runs); the test
# checks the served one is the same. This app never serves: a fixed link secret keeps it from
# writing one into a data folder.
_SCHEMA_ONLY = {"media_link_secret": SecretStr("schema-only")}
OPENAPI = create_app(fuzz_settings(Path("unused")).model_copy(update=_SCHEMA_ONLY)).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI, config=SchemathesisConfig.from_dict(CONFIG))


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(create_app(fuzz_settings(tmp_path_factory.mktemp("fuzz")))) as url:
        assert httpx.get(f"{url}/openapi.json").json() == OPENAPI
        yield url


@schema.parametrize()
def test_every_operation_answers_within_its_schema(case: Any, fuzzed_server: str) -> None:
    case.call_and_validate(base_url=fuzzed_server)


# --- what the fuzzer found, pinned -------------------------------------------------------


def test_the_schema_documents_the_error_shape_the_studio_answers_with() -> None:
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            for status in ("422", "4XX", "5XX"):
                content = operation["responses"][status]["content"]
                assert content["application/json"]["schema"] == error, (method, path, status)
    assert "HTTPValidationError" not in OPENAPI["components"]["schemas"]
    speech = OPENAPI["paths"]["/v1/audio/speech"]["post"]["responses"]["200"]["content"]
    assert {"audio/mpeg", "audio/wav", "audio/pcm", "audio/ogg"} <= speech.keys()
    translate = OPENAPI["components"]["schemas"]["TranslateRequest"]["properties"]["text"]
    assert translate["pattern"] == r"\S"


def test_405_names_every_method_of_the_path(client: TestClient) -> None:
    response = client.put("/api/v1/dubs/some-id")
    assert response.status_code == 405
    assert response.json()["error_code"] == "method_not_allowed"
    assert set(response.headers["allow"].split(", ")) == {"GET", "DELETE"}


@pytest.mark.parametrize("text", ["...", "\x1a", "\u200b"])
def test_text_with_nothing_to_say_is_refused_not_a_500_or_empty_audio(
    client: TestClient, text: str
) -> None:
    for path, body in (
        ("/v1/audio/speech", {"input": text}),
        ("/api/v1/audio/tts", {"text": text}),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 400, (path, response.status_code, response.content[:80])
        assert response.json()["error_code"] == "invalid_input"


def test_a_page_offset_beyond_the_database_integers_is_a_422(client: TestClient) -> None:
    response = client.get("/api/v1/dubs", params={"offset": 750701109766546870239232})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "offset"]
