"""The app factory: everything the HTTP shell needs is built here from settings."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from dubbing_studio import __version__
from dubbing_studio.api.errors import install_error_handlers
from dubbing_studio.api.observability import Metrics, install_observability
from dubbing_studio.api.routes import batches as batch_routes
from dubbing_studio.api.routes import dubs as dub_routes
from dubbing_studio.api.routes import engines, openai_v1, seed
from dubbing_studio.api.security import install_security
from dubbing_studio.bootstrap import (
    build_studio,
    open_dub_service,
    preload_engine_libraries,
    running,
)
from dubbing_studio.config import Settings
from dubbing_studio.jobs.runner import JobRunner
from dubbing_studio.jobs.store import ApiKeyStore
from dubbing_studio.mcp_server.http import mount_mcp
from dubbing_studio.mcp_server.server import build_mcp_server
from dubbing_studio.services.batches import BatchService
from dubbing_studio.services.dubs import DubService
from dubbing_studio.services.events import EventHub
from dubbing_studio.services.quotas import RateLimiter
from dubbing_studio.services.studio import Studio
from dubbing_studio.web import mount_studio

if TYPE_CHECKING:
    from dubbing_studio.scale.events import EventRelay

log = logging.getLogger(__name__)

STALE_UPLOAD_S = 24 * 3600
GIL_SWITCH_S = 0.001
REAP_INTERVAL_S = 60.0


def create_app(settings: Settings | None = None, studio: Studio | None = None) -> FastAPI:
    settings = settings or Settings()
    studio = studio or build_studio(settings)
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Python hands the GIL between threads every 5 ms by default; with inference threads
        # busy, each hand-back to the event loop can wait that long, many times per request.
        sys.setswitchinterval(GIL_SWITCH_S)
        if not settings.distributed:  # with worker processes, this node runs no engine
            await anyio.to_thread.run_sync(preload_engine_libraries)
        settings.temp_dir.mkdir(parents=True, exist_ok=True)
        removed = remove_stale_uploads(settings.temp_dir, STALE_UPLOAD_S)
        if removed:
            log.info("Removed %d stale upload(s) from %s", removed, settings.temp_dir)
        dubs = await anyio.to_thread.run_sync(open_dub_service, settings, studio)
        keyring.attach(ApiKeyStore(dubs.store))
        relay = None
        if settings.distributed:
            dubs.runner, relay = await _attach_workers(app, settings, dubs, dubs.hub)
        app.state.dubs = dubs
        app.state.batches = BatchService(dubs)
        stop_metrics = metrics.watch(studio.gate, dubs)
        reaper = asyncio.create_task(_release_idle_models(studio))
        try:
            async with running(dubs), mcp_endpoint.serving():
                yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            if relay is not None:
                await anyio.to_thread.run_sync(relay.stop)
            stop_metrics()
            studio.gate.close()
            studio.media_sandbox.close()

    app = FastAPI(
        title="AI Dubbing Studio",
        version=__version__,
        description=(
            "Transcribe, translate and re-voice speech with local engines (offline) or "
            "OpenAI-compatible servers. Errors are `{detail, error_code, errors?, request_id}`."
        ),
        lifespan=lifespan,
    )
    app.state.studio = studio
    app.state.health_checks = None  # with worker processes: a HealthProbe of the servers
    app.state.rate_limiter = RateLimiter(settings.rate_limit)

    def app_dubs() -> DubService:
        dubs: DubService = app.state.dubs
        return dubs

    mcp = build_mcp_server(
        settings, studio, app_dubs, local=False, rate_limiter=app.state.rate_limiter
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=[
            "Content-Disposition",
            "X-Voice-Engine",
            "X-Voice",
            "X-Language",
            "X-Request-ID",
        ],
    )
    install_error_handlers(app)
    app.include_router(seed.public)
    app.include_router(seed.audio)
    app.include_router(engines.router)
    app.include_router(openai_v1.router)
    app.include_router(dub_routes.router)
    app.include_router(batch_routes.router)
    mount_studio(app)
    keyring = install_security(app, settings)
    mcp_endpoint = mount_mcp(app, mcp, keyring, settings.mcp.max_inline_mb * 1024 * 1024)
    install_observability(app, metrics)  # last: the outermost middleware
    return app


def remove_stale_uploads(temp_dir: Path, max_age_s: float) -> int:
    """Uploads and decoded PCM left by a killed process; live requests' files are younger
    than this."""
    cutoff = time.time() - max_age_s
    removed = 0
    for path in itertools.chain(temp_dir.glob("upload-*"), temp_dir.glob(".tmp-*")):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


async def _attach_workers(
    app: FastAPI, settings: Settings, dubs: DubService, hub: EventHub
) -> tuple[JobRunner, EventRelay]:
    """Dubs go to worker processes through Redis; events come back through PostgreSQL."""
    from dubbing_studio.scale.broker import DramatiqRunner, HealthProbe, build_broker
    from dubbing_studio.scale.events import EventRelay

    assert settings.redis_url is not None  # checked by the settings
    broker = build_broker(settings.redis_url)
    runner = DramatiqRunner(broker, dubs.store)
    dubs.revoice_elsewhere = runner.revoice
    app.state.health_checks = HealthProbe(broker, dubs.store)
    # Only this machine's dead processes' partial files: the folder is shared.
    await anyio.to_thread.run_sync(dubs.remove_partial_files, True)
    relay = EventRelay(settings.database, hub, asyncio.get_running_loop())
    relay.start()
    return runner, relay


async def _release_idle_models(studio: Studio) -> None:
    while True:
        await asyncio.sleep(REAP_INTERVAL_S)
        await studio.release_idle_models()
