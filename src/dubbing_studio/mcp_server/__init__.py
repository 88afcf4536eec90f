"""The MCP server: the studio's tools and outputs for AI agents, over stdio or HTTP."""
