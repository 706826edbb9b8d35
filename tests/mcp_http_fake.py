"""A streamable-HTTP MCP server (the SDK's own) that tells which request headers it received,
for the test of ``MCPServer(url=..., headers=...)``.

``python tests/mcp_http_fake.py PORT``: serves ``http://127.0.0.1:PORT/mcp`` with one tool,
``header(name)``, that answers the value of that header on the call's request, or ``(none)``.
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import Context, MCPServer


def main(port: int) -> None:
    server = MCPServer("headers")

    @server.tool()
    def header(name: str, ctx: Context) -> str:
        """The value of a request header."""
        return (ctx.headers or {}).get(name.lower(), "(none)")

    server.run("streamable-http", host="127.0.0.1", port=port)


if __name__ == "__main__":
    main(int(sys.argv[1]))
