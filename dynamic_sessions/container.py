"""The emulator's container image: how to run it with Docker or Podman, written once for the docs, the pytest
fixture, the tests and the bench.

The image (the repository's Dockerfile) serves a NodeLTS pool on port 8480 with no arguments. Its port is published
on the host's loopback alone, since the emulator checks no token signature. Sessions inside stay sandboxed by
bubblewrap, which needs three things a container engine denies by default; `SECURITY_OPTIONS` grants exactly
those, and docs/container.md says why each is there and why `--privileged` is not.
"""

import contextlib
import shutil
import subprocess
import uuid

from dynamic_sessions.ready_lines import announced, read_ready_lines

PORT = 8480
"""The emulator's default port (`--port`), which the image serves on since its entry point passes none."""
# Where the image is when nothing else is named: a local build (`docker build -t dynamic-sessions-emulator .`),
# or the published one retagged. The release workflow pushes ghcr.io/<owner>/<repository>/emulator:<version>.
DEFAULT_IMAGE = "dynamic-sessions-emulator"
ENGINES = ("docker", "podman")
ENGINE_VARIABLE = "DYNAMIC_SESSIONS_ENGINE"  # docker or podman, where both are installed

# Per engine, the least that lets bubblewrap build a session's sandbox inside the container, then everything else
# taken away:
# - a fresh /proc for the session's pid namespace: the kernel refuses to mount one while parts of the container's
#   /proc are masked or read-only over it (Docker: systempaths=unconfined; Podman: unmask=/proc/*, /proc only);
# - the engine's seccomp profile off: Podman's refuses sethostname without CAP_SYS_ADMIN, and Docker's refuses clone
#   and unshare with namespace flags; sessions keep the emulator's own seccomp filter, which bubblewrap loads;
# - Docker only: its AppArmor profile (docker-default, where AppArmor runs) refuses mount;
# - then no capability at all and no way to gain one: the image's user is not root, bubblewrap makes its
#   namespaces from an unprivileged user namespace, and nothing in the container may raise its privileges.
HARDENING = ("--cap-drop", "ALL", "--security-opt", "no-new-privileges")
SECURITY_OPTIONS: dict[str, tuple[str, ...]] = {
    "docker": (
        "--security-opt", "seccomp=unconfined",
        "--security-opt", "apparmor=unconfined",
        "--security-opt", "systempaths=unconfined",
        *HARDENING,
    ),
    "podman": ("--security-opt", "seccomp=unconfined", "--security-opt", "unmask=/proc/*", *HARDENING),
}  # fmt: skip


class ContainerFailed(RuntimeError):
    """The container did not serve the pool; the message holds what the engine and the emulator said."""


def engine_on_path(preferred: str | None = None) -> str | None:
    """`preferred` if it is on PATH, else the first of Docker and Podman that is, else None."""
    for engine in (preferred,) if preferred else ENGINES:
        if engine and shutil.which(engine):
            return engine
    return None


def engine_name(engine: str) -> str:
    """docker or podman, from a command or path that names one of them."""
    for name in ENGINES:
        if name in engine.rsplit("/", 1)[-1]:
            return name
    raise ValueError(f"container engine {engine!r} is neither of {', '.join(ENGINES)}")


def run_command(
    engine: str,
    image: str,
    *flags: str,
    host_port: int | str = PORT,
    name: str | None = None,
    env: dict[str, str] | None = None,
    engine_options: tuple[str, ...] = (),
    security: tuple[str, ...] | None = None,
) -> list[str]:
    """`<engine> run` of the image as the docs give it: removed when it stops, its port published on the host's
    loopback only (`host_port` "" lets the engine pick one), the engine's `SECURITY_OPTIONS`; `flags` go to
    the emulator, `env` into the container, `engine_options` (ulimits, a runtime) before the image; `security`
    replaces the engine's `SECURITY_OPTIONS` (to show that each is needed)."""
    published = f"127.0.0.1:{host_port}:{PORT}"
    options = SECURITY_OPTIONS[engine_name(engine)] if security is None else security
    command = [engine, "run", "--rm", "-p", published, *options]
    if name is not None:
        command += ["--name", name]
    for variable, value in (env or {}).items():
        command += ["-e", f"{variable}={value}"]
    return [*command, *engine_options, image, *flags]


def documented_command(engine: str = "docker", image: str = DEFAULT_IMAGE) -> str:
    """The start the docs show for `engine`: one shell command, an option and its value per line (each option
    `run_command` gives takes a value), so it fits the width the site shows code at."""
    quoted = [arg if "*" not in arg else f"'{arg}'" for arg in run_command(engine, image)]
    head, options, last = quoted[:3], quoted[3:-1], quoted[-1]
    pairs = [" ".join(options[at : at + 2]) for at in range(0, len(options), 2)]
    return " \\\n  ".join([" ".join(head), *pairs, last])


class RunningImage:
    """One container of the image, started in the foreground of `engine` (so a signal to it reaches the
    emulator), its port published on a free loopback port of the host: `endpoint` is the host's address of it."""

    def __init__(
        self,
        engine: str,
        image: str,
        *flags: str,
        env: dict[str, str] | None = None,
        engine_options: tuple[str, ...] = (),
        security: tuple[str, ...] | None = None,
        ready_lines: int = 1,
        timeout: float = 120.0,
        stderr: int | None = None,
    ):
        self.engine = engine
        self.name = f"dynamic-sessions-{uuid.uuid4().hex[:12]}"
        self.command = run_command(
            engine,
            image,
            *flags,
            host_port="",
            name=self.name,
            env=env,
            engine_options=engine_options,
            security=security,
        )
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        self.announced = self._await_ready(ready_lines, timeout)
        self.endpoint = f"http://{self._published()}"

    def _await_ready(self, count: int, timeout: float) -> dict[str, str]:
        stdout = self.process.stdout
        assert stdout is not None
        lines = read_ready_lines(stdout, count, timeout)
        said = announced(lines)
        if "POOL_MANAGEMENT_ENDPOINT" not in said:
            # An engine that refused the container (its own error is on stderr) ended at once: say so, not a wait.
            # Its output ended when it closed it on its way out (an empty line read), so its exit comes right after.
            exited = self.process.poll()
            if exited is None and "" in lines:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    exited = self.process.wait(10)
            self.stop()
            why = (
                f"exited with status {exited} before it announced its endpoint (the engine said why on its stderr)"
                if exited is not None
                else f"did not announce its endpoint within {timeout:.0f} s; exit status {self.process.returncode}"
            )
            raise ContainerFailed(f"the emulator's container ({' '.join(self.command)}) {why}")
        return said

    def _published(self) -> str:
        """127.0.0.1:<host port> the engine published the container's port on."""
        answer = subprocess.run(
            [self.engine, "port", self.name, f"{PORT}/tcp"], capture_output=True, text=True, timeout=30, check=False
        )
        for line in answer.stdout.splitlines():
            if line.startswith("127.0.0.1:"):
                return line.strip()
        self.stop()
        raise ContainerFailed(f"{self.engine} port {self.name} named no loopback port: {answer.stdout}{answer.stderr}")

    @property
    def mcp_endpoint(self) -> str | None:
        return f"{self.endpoint}/mcp" if "MCP_SERVER_ENDPOINT" in self.announced else None

    def stop(self, timeout: float = 30.0) -> None:
        """Stops the container (the emulator ends every session on SIGTERM); again is harmless."""
        if self.process.poll() is None:
            subprocess.run(
                [self.engine, "stop", "-t", "10", self.name], capture_output=True, timeout=timeout, check=False
            )
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
