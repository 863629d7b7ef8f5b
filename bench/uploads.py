"""`make bench` rows for uploads: `SessionsClient.upload_file` of a large file, beside the same bytes handed to
httpx in one piece, against one emulator in the same run; the CPU is the client process's own."""

import time
from collections.abc import Callable

import httpx

from bench.emulators import EmulatorProcess
from bench.executions import SESSION_API
from bench.samples import own_cpu_s
from dynamic_sessions.client.client import SessionsClient
from dynamic_sessions.client.tokens import LocalToken

MIB = 1024 * 1024


def _costs(send: Callable[[], object], times: int) -> tuple[float, float]:
    """The lowest wall and CPU seconds of `times` runs of `send`."""
    walls, cpus = [], []
    for _ in range(times):
        wall, cpu = time.perf_counter(), own_cpu_s()
        send()
        walls.append(time.perf_counter() - wall)
        cpus.append(own_cpu_s() - cpu)
    return min(walls), min(cpus)


def rows(quick: bool) -> list[tuple[str, str, str, str, bool | None]]:
    # 100 MiB in both: the copying grows with the square of the size, and 20 MiB shows little of it (0.03 s).
    size, times = 100 * MIB, (1 if quick else 3)
    data = b"u" * size
    with EmulatorProcess("--max-sessions", "2") as pool:
        with SessionsClient(pool.url, api_version=SESSION_API) as client:
            client.execute("1", "bench-upload")
            wall, cpu = _costs(lambda: client.upload_file("bench-upload", "client.bin", data), times)
        headers = {"Authorization": f"Bearer {LocalToken().token()}"}
        params = {"api-version": SESSION_API, "identifier": "bench-upload"}
        with httpx.Client(base_url=pool.url, headers=headers, timeout=120) as http:

            def whole() -> None:
                http.post("/files", params=params, files={"file": ("whole.bin", data)}).raise_for_status()

            whole_wall, whole_cpu = _costs(whole, times)
    name = f"upload_file {size // MIB} MiB, SessionsClient"
    return [
        (
            f"{name}, client CPU",
            f"{cpu:.2f} s",
            f"bytes whole to httpx {whole_cpu:.2f} s",
            "<= 1/4 baseline",
            cpu <= whole_cpu / 4,
        ),
        (f"{name}, wall", f"{wall:.2f} s", f"bytes whole to httpx {whole_wall:.2f} s", "", None),
    ]
