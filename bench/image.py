"""`python -m bench.image`: the emulator's container image, each figure beside the emulator on this host in the
same run: the image's size; from `podman run` to the first execute answered; the warm hello-world p50 through
the published port. Builds the image first (tests/image_build.py: Podman, debootstrap's base, cached).
"""

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from bench.emulators import ROOT, EmulatorProcess
from bench.executions import HELLO, SESSION_API, warm_latency
from bench.table import row
from dynamic_sessions.client import SessionsClient
from dynamic_sessions.container import RunningImage
from tests import image_build

MIB = 1024 * 1024


def first_answer_ms(start: Callable[[], tuple[str, object]]) -> tuple[float, object]:
    """Milliseconds from `start()` (which starts a pool and returns its endpoint) to a first execute answered."""
    began = time.perf_counter()
    endpoint, handle = start()
    with SessionsClient(endpoint, api_version=SESSION_API) as client:
        assert client.execute(HELLO, "bench-first").stdout == "hello-world\n"
    return (time.perf_counter() - began) * 1000, handle


def in_image() -> tuple[str, object]:
    options = (*image_build.engine_options(), *image_build.run_options())
    running = RunningImage("podman", image_build.IMAGE, "--log-level", "error", engine_options=options)
    return running.endpoint, running


def on_host() -> tuple[str, object]:
    pool = EmulatorProcess("--max-sessions", "20")
    return pool.url, pool


def stop(handle: object) -> None:
    if isinstance(handle, RunningImage):
        handle.stop()
    elif isinstance(handle, EmulatorProcess):
        handle.__exit__()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.image", description=__doc__)
    parser.add_argument("--starts", type=int, default=3, help="starts timed each way (default 3)")
    parser.add_argument("--warm", type=int, default=1000, help="warm executions timed each way (default 1000)")
    args = parser.parse_args()
    began = time.perf_counter()
    image_build.build_image()
    built_s = time.perf_counter() - began
    base, _ = image_build.base_reference()
    size, base_size = image_build.image_size(), image_build.image_size(f"docker.io/library/{base}")
    podman = subprocess.run(["podman", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"{podman}; image built (or found in the layer cache) in {built_s:.0f} s; from {ROOT}\n")

    image_starts: list[float] = []
    host_starts: list[float] = []
    for _ in range(args.starts):
        for starts, start in ((image_starts, in_image), (host_starts, on_host)):
            elapsed, handle = first_answer_ms(start)
            starts.append(elapsed)
            stop(handle)
    running = RunningImage(
        "podman", image_build.IMAGE, "--log-level", "error", "--max-sessions", "20",
        engine_options=(*image_build.engine_options(), *image_build.run_options()),
    )  # fmt: skip
    try:
        image_warm = warm_latency(running.endpoint, args.warm)
    finally:
        running.stop()
    with EmulatorProcess("--max-sessions", "20") as pool:
        host_warm = warm_latency(pool.url, args.warm)

    print(row("figure", "measured", "baseline", "target", None))
    print(row("image size (uncompressed)", f"{size / MIB:.0f} MiB", f"{base} {base_size / MIB:.0f} MiB", "", None))
    image_start, host_start = statistics.median(image_starts), statistics.median(host_starts)
    print(row("run to first execute answered, p50", f"{image_start:.0f} ms", f"host {host_start:.0f} ms", "", None))
    image_p50, host_p50 = statistics.median(image_warm), statistics.median(host_warm)
    print(row("warm hello-world in the image, p50", f"{image_p50:.3f} ms", f"host {host_p50:.3f} ms", "", None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
