"""The emulator's HTTP surface. `state` holds what every contract shares (the pool, the execution history, the MCP
server's state); one module per contract imports it: the code interpreter's executions (`executions`, with the
request and answer shapes in `contract`), files (`files`), the pool's sessions and metadata (`pool_routes`), the
Shell pools' executions (`shell`), and the pool's MCP server over JSON-RPC (`mcp`, with its key and environment ids
in `mcp_state` and its per-request bounds in `batches`). `app` is the route table that imports them all; none
imports it. Beside them: request bodies read with limits (`bodies`), bearer-token checks (`auth`), the server's
connection guards (`server`), the bounded execution history (`history`), and what stops a call whose client hung up
(`hangup`). Imports the sessions room, never the other way."""
