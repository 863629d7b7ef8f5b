"""The HTTP server under the tests' stand-ins (Resource Manager, fault server, MCP key endpoint): threaded, quick
to shut down, and quiet about a handler's errors.

socketserver prints a handler's exception as a traceback, most often a client that hung up on purpose. Python
3.11 formats tracebacks with `ast.parse`, whose recursion counter all threads share (python/cpython#106905):
a handler thread formatting one while the test's own thread parses (pytest rewriting a module's asserts, or
formatting a failure) can make either fail with "AST constructor recursion depth mismatch". One line, without
the traceback, says as much.
"""

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        super().__init__(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        # A short poll: shutdown() waits for serve_forever's next look, half a second by default.
        self.thread = threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True)

    def handle_error(self, request: object, client_address: object) -> None:
        kind, error, _ = sys.exc_info()
        sys.stderr.write(
            f"stand-in server, request from {client_address}: {getattr(kind, '__name__', kind)}: {error}\n"
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
