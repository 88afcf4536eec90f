"""One OpenAI client per process, the chat call every engine shares, and the one place where
the SDK's exceptions become the studio's errors.

The SDK (and httpx under it) takes about 0.4 s to import, so it is imported on the first
request, not at start-up: the local engines and the CLI never pay for it.

The same code talks to api.openai.com and to OpenAI-compatible servers (llama.cpp, vLLM,
Ollama, the studio itself); where they differ (the name of the output-token limit, voices) it
is decided here from the base URL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dubbing_studio.config import Settings
from dubbing_studio.domain.errors import EngineFailed, EngineUnavailable, InvalidInput

if TYPE_CHECKING:
    import httpx
    import openai

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
NO_KEY_PLACEHOLDER = "not-needed"
NOT_CONFIGURED = "set OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)"
LISTING_TIMEOUT_S = 3.0
LISTING_TTL_S = 300.0


class UpstreamFailed(EngineFailed):
    """The OpenAI(-compatible) server could not be reached or answered with an error."""

    status_code = 502
    error_code = "upstream_error"


class UpstreamTimeout(EngineFailed):
    """The server did not answer within ``openai.timeout_s`` (after the SDK's retries)."""

    status_code = 504
    error_code = "upstream_timeout"


class UpstreamRateLimited(EngineFailed):
    """The server refused for now because of its rate limits; trying later can work."""

    status_code = 429
    error_code = "upstream_rate_limited"


@contextmanager
def upstream_errors(action: str) -> Iterator[None]:
    """Turn an SDK exception raised by ``action`` (e.g. "translation") into a studio error."""
    import openai

    try:
        yield
    except openai.APITimeoutError as exc:  # before APIConnectionError, its base class
        raise UpstreamTimeout(f"OpenAI {action} timed out.") from exc
    except openai.APIConnectionError as exc:
        raise UpstreamFailed(f"OpenAI {action} failed: cannot reach the server.") from exc
    except openai.AuthenticationError as exc:
        raise EngineUnavailable("OpenAI rejected the API key; set OPENAI_API_KEY.") from exc
    except openai.RateLimitError as exc:
        if exc.code == "insufficient_quota":
            raise EngineUnavailable(f"OpenAI {action} refused: {_message(exc)}") from exc
        raise UpstreamRateLimited(f"OpenAI {action} was rate limited: {_message(exc)}") from exc
    except openai.BadRequestError as exc:
        raise InvalidInput(f"OpenAI {action} refused the request: {_message(exc)}") from exc
    except openai.APIStatusError as exc:
        raise UpstreamFailed(
            f"OpenAI {action} failed with HTTP {exc.status_code}: {_message(exc)}"
        ) from exc
    except openai.APIError as exc:
        raise UpstreamFailed(f"OpenAI {action} failed: {_message(exc)}") from exc


def _message(exc: openai.APIError) -> str:
    """The server's own message (``error.message``), not the SDK's dump of the whole body."""
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return exc.message


class OpenAIConnection:
    """One capability's server (``Settings.openai_endpoint``): builds the SDK client on first
    use, runs chat completions and reads what the server says it offers.

    ``http_client`` lets tests put an ``httpx.MockTransport`` (or event hooks) underneath.
    """

    def __init__(
        self,
        settings: Settings,
        capability: str = "chat",
        *,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.settings = settings
        self.endpoint = settings.openai_endpoint(capability)
        self.base_url = self.endpoint.base_url or OPENAI_BASE_URL
        self.is_openai = (urlsplit(self.base_url).hostname or "").endswith("openai.com")
        self._http_client = http_client
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()
        self._listings: dict[str, tuple[float, Any]] = {}
        # OpenAI's newer (reasoning) models reject ``max_tokens``; llama.cpp's server ignores
        # ``max_completion_tokens`` and would generate until its context is full.
        self._send_max_tokens = not self.is_openai

    @property
    def configured(self) -> bool:
        return self.endpoint.configured

    @property
    def not_configured(self) -> str:
        """Why this capability has no server, and the settings that give it one."""
        variable = f"DUBBING_STUDIO_OPENAI__{self.endpoint.capability.upper()}__BASE_URL"
        return f"{NOT_CONFIGURED}, or {variable}"

    def model_for(self, capability: str) -> str:
        """The configured model of ``transcription``, ``chat`` or ``speech``."""
        return self.settings.openai_endpoint(capability).model

    def model_id(self, *models: str) -> str:
        """Models named by a server are its own: ``whisper-1`` elsewhere is another model."""
        return f"{'+'.join(models)}@{self.base_url}"

    @property
    def client(self) -> openai.OpenAI:
        """The SDK client; ``EngineUnavailable`` when neither key nor base URL is set."""
        if not self.configured:
            raise EngineUnavailable(f"OpenAI is not configured: {self.not_configured}.")
        with self._lock:
            if self._client is None:
                self._client = self._build()
            return self._client

    def _build(self) -> openai.OpenAI:
        import openai

        key = self.endpoint.api_key
        log.info(
            "OpenAI %s client for %s (key %s)",
            self.endpoint.capability,
            self.base_url,
            "set" if key else "not set",
        )
        return openai.OpenAI(
            api_key=key.get_secret_value() if key else NO_KEY_PLACEHOLDER,
            base_url=self.base_url,
            timeout=self.endpoint.timeout_s,
            max_retries=self.settings.openai.max_retries,
            http_client=self._http_client,  # type: ignore[arg-type]  # legacy httpx accepted
        )

    def listing(self, path: str, *, fetch: bool = True) -> Any | None:
        """``GET {base_url}{path}`` as JSON (``/models``, ``/audio/voices``), cached for
        ``LISTING_TTL_S``; None when the server does not offer it or does not answer within
        ``LISTING_TIMEOUT_S`` (many compatible servers have no voice listing). ``fetch=False``
        answers from the cache only, for callers that must not wait on the network."""
        if not self.configured:
            return None
        now = time.monotonic()
        with self._lock:
            cached = self._listings.get(path)
        if cached is not None and (cached[0] > now or not fetch):
            return cached[1]
        if not fetch:
            return None
        value = self._fetch(path)
        with self._lock:
            self._listings[path] = (now + LISTING_TTL_S, value)
        return value

    def _fetch(self, path: str) -> Any | None:
        import httpx

        key = self.endpoint.api_key
        headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
        url = f"{self.base_url}{path}"
        try:
            if self._http_client is not None:
                response = self._http_client.get(url, headers=headers, timeout=LISTING_TIMEOUT_S)
            else:
                response = httpx.get(url, headers=headers, timeout=LISTING_TIMEOUT_S)
            if response.status_code != 200:
                return None
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.info("%s did not list %s: %s", self.base_url, path, exc)
            return None

    def server_models(self, *, fetch: bool = True) -> list[str]:
        """Model ids from ``GET /models`` (empty when the server does not say)."""
        data = self.listing("/models", fetch=fetch)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            return []
        return [str(m["id"]) for m in items if isinstance(m, dict) and m.get("id")]

    def chat(
        self,
        system: str,
        user: str,
        *,
        json_mode: bool = False,
        action: str = "chat",
    ) -> str:
        """One chat completion with the configured model; the reply text ('' if none).

        The output-token limit (``max_output_tokens``) is always sent. Its parameter's name
        is chosen by server, and switched for good if the server rejects it by name.
        """
        try:
            return self._complete(system, user, json_mode=json_mode, action=action)
        except InvalidInput as exc:
            rejected = "max_tokens" if self._send_max_tokens else "max_completion_tokens"
            if rejected not in exc.detail:
                raise
            self._send_max_tokens = not self._send_max_tokens
            log.info("%s rejected %s; switching to the other name", self.base_url, rejected)
            return self._complete(system, user, json_mode=json_mode, action=action)

    def _complete(self, system: str, user: str, *, json_mode: bool, action: str) -> str:
        from openai import omit

        limit = self.settings.openai.max_output_tokens
        with upstream_errors(action):
            response = self.client.chat.completions.create(
                model=self.model_for("chat"),
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                response_format={"type": "json_object"} if json_mode else omit,
                max_tokens=limit if self._send_max_tokens else omit,
                max_completion_tokens=omit if self._send_max_tokens else limit,
            )
        if not response.choices:
            raise UpstreamFailed(f"OpenAI {action} returned no choices.")
        choice = response.choices[0]
        if choice.finish_reason == "length":
            log.warning("%s reply was cut at %d tokens", action, limit)
        return choice.message.content or ""


def server_or_configured(
    connection: OpenAIConnection, capability: str, live: bool
) -> tuple[str, ...]:
    """The models the server reports (asking it when ``live``), the configured one first;
    just the configured one when the server does not say."""
    configured = connection.model_for(capability)
    return tuple(dict.fromkeys((configured, *connection.server_models(fetch=live))))
