"""Runs `python -m emulator` as a real process on a free loopback port, as a user would."""

import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt

ROOT = Path(__file__).resolve().parent.parent
AUDIENCE = "https://dynamicsessions.io"
# For the tests' plain-http loopback clients, as the package's own clients do: httpx would load the CA bundle
# for each client it makes (~30 ms of CPU) where no TLS is spoken, and this context trusts no CA, so TLS
# through it could never pass.
NO_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def bearer(**claims: Any) -> dict[str, str]:
    """An Authorization header with an unsigned JWT; the pool's audience and an hour's life by default."""
    body = {"aud": AUDIENCE, "exp": int(time.time()) + 3600, **claims}
    return {"Authorization": f"Bearer {jwt.encode(body, key='', algorithm='none')}"}


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


class Emulator:
    """`python -m emulator --port 0 <flags>`, by this interpreter from the clone unless told otherwise:
    `interpreter` is the command before `-m` (a user switch may lead it), `log_owner` the uid that must
    be able to write its log, `pass_fds` descriptors it inherits (as from a careless parent)."""

    def __init__(
        self,
        *flags: str,
        interpreter: Sequence[str] = (sys.executable,),
        cwd: str | Path = ROOT,
        env: dict[str, str] | None = None,
        log_owner: int | None = None,
        pass_fds: Sequence[int] = (),
    ):
        self.log = tempfile.NamedTemporaryFile(prefix="emulator-", suffix=".log", delete=False)  # noqa: SIM115
        if log_owner is not None:
            os.chown(self.log.name, log_owner, log_owner)
        self.process = subprocess.Popen(
            [*interpreter, "-m", "emulator", "--port", "0", *flags],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            pass_fds=pass_fds,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("POOL_MANAGEMENT_ENDPOINT="):
            self.process.kill()
            raise RuntimeError(f"emulator did not start: {line!r} {self.logs()}")
        self.url = line.split("=", 1)[1]
        self.http = httpx.Client(base_url=self.url, timeout=30, headers=bearer(), verify=NO_TLS)

    def logs(self) -> str:
        return Path(self.log.name).read_text()

    def execute(self, code: str, identifier: str = "test", version: str = "2025-10-02-preview", **extra: Any) -> Any:
        body = {"codeInputType": "Inline", "executionType": "Synchronous", "code": code, "timeoutInSeconds": 10}
        body.update(extra)
        response = self.http.post("/executions", params={"api-version": version, "identifier": identifier}, json=body)
        assert response.status_code in (200, 202), f"{response.text}\n{self.log_tail()}"
        return response.json()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the emulator's log (a session that did not start says why there), for a failure."""
        kept = self.logs().splitlines()[-lines:] if os.path.exists(self.log.name) else []
        return "the emulator's log, last lines:\n" + "\n".join(kept)

    def stop(self, stop_signal: int = signal.SIGTERM) -> int:
        """Stops the emulator (again is harmless) and returns its exit status."""
        self.http.close()
        if self.process.poll() is None:
            self.process.send_signal(stop_signal)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if os.path.exists(self.log.name):
            os.unlink(self.log.name)
        return self.process.returncode


def serving(*flags: str) -> Iterator[Emulator]:
    """One emulator for as long as a fixture lasts: `yield from serving(...)` in the fixture."""
    running = Emulator(*flags)
    yield running
    running.stop()


def running_below(pid: int, command_line: str) -> list[int]:
    """Live processes below `pid` whose command line (arguments joined by spaces) contains `command_line`."""
    found = []
    for child in descendants(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ")
        except OSError:
            continue
        if command_line in argv.decode(errors="replace"):
            found.append(child)
    return found
