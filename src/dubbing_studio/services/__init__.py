"""Use cases shared by every shell (HTTP API, CLI, MCP, workers)."""
