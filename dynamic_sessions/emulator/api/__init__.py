"""The emulator's HTTP surface: routes and the code interpreter's data-plane contracts (`app`, `contract`), the
Shell pools' executions contract (`shell`), the pool's MCP server over JSON-RPC (`mcp`), request bodies read
with limits (`bodies`), bearer-token checks (`auth`), the server's connection guards (`server`) and the
bounded execution history (`history`). Imports the sessions room, never the other way."""
