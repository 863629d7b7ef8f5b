"""A real HTTP server on loopback that answers from a script and records every request it gets."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.stand_in_server import StandInServer


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    """A dict or list is sent as JSON; bytes or str as they are."""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False
    """Close the connection without answering."""


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


class FaultServer:
    """Each request takes the next reply of the script; the last one repeats."""

    def __init__(self, *script: Reply):
        self.script = list(script) or [Reply()]
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                with server._lock:
                    server.requests.append(
                        Recorded(
                            self.command,
                            parts.path,
                            parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                        )
                    )
                    reply = server.script[min(len(server.requests) - 1, len(server.script) - 1)]
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                payload = reply.body
                content_type = "application/json"
                if isinstance(payload, dict | list):
                    payload = json.dumps(payload).encode()
                elif isinstance(payload, str):
                    payload, content_type = payload.encode(), "text/html"
                elif payload is None:
                    payload = b""
                self.send_response(reply.status)
                headers = {"Content-Type": content_type, **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = _answer

            def log_message(self, *_: Any) -> None:
                return

        self._server = StandInServer(Handler)
        self.url = self._server.url

    def __enter__(self) -> "FaultServer":
        self._server.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._server.stop()

    def executions(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]


def legacy_ok(stdout: str = "hello-world\n", key: str = "executionResult", status: str = "Success") -> Reply:
    return Reply(
        body={
            "$id": "1",
            "properties": {
                "$id": "2",
                "status": status,
                "stdout": stdout,
                "stderr": "" if status == "Success" else "ReferenceError: x is not defined\n",
                key: "",
                "executionTimeInMilliseconds": 5,
            },
        }
    )


def executions_ok(stdout: str = "hello-world\n", status: str = "Succeeded", http_status: int = 200) -> Reply:
    return Reply(
        status=http_status,
        body={
            "id": "6a0c7f0e-0000-4000-8000-000000000001",
            "identifier": "x",
            "executionType": "Synchronous",
            "status": status,
            "result": {
                "stdout": stdout,
                "stderr": "" if status == "Succeeded" else "Error: boom\n",
                "executionResult": "",
                "executionTimeInMilliseconds": 5,
            },
        },
    )


def error(status: int, code: str, message: str = "denied", headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status=status,
        body={"error": {"code": code, "message": message}, "traceId": "trace-123"},
        headers={"x-ms-error-code": code, **(headers or {})},
    )


RELEASED = Reply(status=204)
