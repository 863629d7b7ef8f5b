"""`make demo`: start the emulator on a free loopback port, run the smoke against it, stop the emulator.

Both run as the separate commands a user would type; this only wires them together.
"""

import shutil
import signal
import subprocess
import sys


def main() -> int:
    flags = ["--port", "0", "--log-level", "warning"]
    if shutil.which("bwrap") is None:
        # The demo runs only its own hello-world, so running it unsandboxed is safe; say so.
        print("demo: bubblewrap is not installed; running the emulator --unsandboxed for this trusted demo code")
        flags += ["--unsandboxed", "--egress", "enabled"]
    emulator = subprocess.Popen(
        [sys.executable, "-m", "dynamic_sessions.emulator", *flags], stdout=subprocess.PIPE, text=True
    )
    try:
        assert emulator.stdout is not None
        line = emulator.stdout.readline().strip()
        if not line.startswith("POOL_MANAGEMENT_ENDPOINT="):
            print("demo: the emulator did not start", file=sys.stderr)
            return 1
        endpoint = line.split("=", 1)[1]
        print(f"demo: emulator serving a NodeLTS pool at {endpoint}")
        print(f"demo: python -m smoke --endpoint {endpoint}\n", flush=True)
        return subprocess.run(
            [sys.executable, "-m", "dynamic_sessions.smoke", "--endpoint", endpoint], check=False
        ).returncode
    finally:
        emulator.send_signal(signal.SIGTERM)
        try:
            emulator.wait(15)
        except subprocess.TimeoutExpired:
            emulator.kill()
        print("\ndemo: emulator stopped")


if __name__ == "__main__":
    sys.exit(main())
