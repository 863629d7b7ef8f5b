"""The emulator's HTTP surface: what every contract shares (`state`), the route table and the code interpreter's
data-plane contracts (`app`, `contract`), the Shell pools' executions contract (`shell`), the pool's MCP server over
JSON-RPC (`mcp`), its key and environment ids (`mcp_state`) and its per-request bounds (`batches`), request bodies
read with limits (`bodies`), bearer-token checks (`auth`), the server's connection guards (`server`) and the bounded
execution history (`history`). `state` imports no contract; `app` imports them all. Imports the sessions room,
never the other way."""
