"""``dubbing-studio mcp``: the MCP server on stdin/stdout, running dubs in this process."""

from __future__ import annotations

import logging.config

import anyio.to_thread

from dubbing_studio.bootstrap import build_studio, open_dub_service, running
from dubbing_studio.config import Settings
from dubbing_studio.logs import logging_config
from dubbing_studio.mcp_server.server import build_mcp_server


async def serve_stdio(settings: Settings) -> None:
    """Until the client closes stdin. The SDK points fd 1 at stderr while it serves, so
    nothing an engine or a child process prints can corrupt the protocol; logs go to
    stderr in the studio's format."""
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))
    studio = build_studio(settings)
    dubs = await anyio.to_thread.run_sync(open_dub_service, settings, studio)
    server = build_mcp_server(settings, studio, lambda: dubs, local=True)
    try:
        async with running(dubs):
            await server.run_stdio_async()
    finally:
        studio.gate.close()
        studio.media_sandbox.close()
