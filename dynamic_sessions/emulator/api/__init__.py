"""The emulator's HTTP surface: routes and both data-plane contracts (`app`, `contract`), request bodies read
with limits (`bodies`), bearer-token checks (`auth`), the server's connection guards (`server`) and the
bounded execution history (`history`). Imports the sessions room, never the other way."""
