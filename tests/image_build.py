"""Builds the emulator's image with Podman where no image registry is reachable: the Dockerfile's base from
Debian's own packages (debootstrap), imported under the name the Dockerfile asks for, then `podman build
--pull=never`. Used by tests/e2e/test_image.py and the bench.

The base is a tarball cached under ~/.cache/dynamic-sessions/image-base/, keyed by the Dockerfile's FROM line and
how it is made; a file lock lets parallel test processes build it, and the image, once.
"""

import fcntl
import hashlib
import os
import re
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
IMAGE = "localhost/dynamic-sessions-emulator:test"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dynamic-sessions" / "image-base"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# What debian:*-slim leaves out (docker-debian-artifacts' dpkg settings), and so what later installs skip too.
SLIM_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""
TRIMMED = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/lib/apt/lists", "var/cache/apt")
BUILD_CA = "/run/build-ca.pem"
# Open files and tasks per container: plenty for the emulator (it caps sessions at 256 tasks each), and within
# what runc may set here (65536 tasks was refused where the host's hard limit was 96367).
RUN_ULIMIT = 16384
# The tools, and the Debian package of each, a developer machine needs for the image tests.
TOOLS = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap"}


def missing_tools() -> list[str]:
    return [package for tool, package in TOOLS.items() if shutil.which(tool) is None]


def base_reference() -> tuple[str, str]:
    """The Dockerfile's base image (its first FROM) as name and suite: ("debian:trixie-slim", "trixie")."""
    match = re.search(r"^FROM\s+(debian:([a-z]+)-slim)\b", DOCKERFILE.read_text(), re.MULTILINE)
    if match is None:
        raise ValueError("the Dockerfile's first FROM is not debian:<suite>-slim, which debootstrap can make")
    return match.group(1), match.group(2)


def debian_mirror(sources: Path = Path("/etc/apt")) -> str:
    """This machine's Debian mirror from its apt sources (one line or deb822 style), else deb.debian.org."""
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*"))]
    for path in files:
        if path.is_file():
            for uri in re.findall(r"(?:^deb\s+(?:\[[^]]*\]\s+)?|^URIs:\s*)(\S+)", path.read_text(), re.MULTILINE):
                if uri.rstrip("/").endswith("/debian"):
                    return uri
    return DEFAULT_MIRROR


def engine_options() -> tuple[str, ...]:
    """Options this machine's Podman needs: runc (crun refuses hybrid cgroups), and ulimits within the host's
    hard limits (Podman asks for more than a container may get here)."""
    options: list[str] = []
    if shutil.which("runc"):
        options += ["--runtime", shutil.which("runc") or "runc"]
    return tuple(options)


NETWORK = ("--network", "slirp4netns:port_handler=slirp4netns")
"""The tests' containers publish their port through slirp4netns, a process of their own, not the bridge: a rootful
Podman's bridge adds DNAT rules for 127.0.0.1's ports to the host's firewall, which outlive a container killed
before Podman cleans up, and then take another test process's later listener on the same port (its clients got
'No route to host' or timed out)."""


def run_options() -> tuple[str, ...]:
    """What the tests' `podman run` adds: ulimits within the host's hard limits, and the network above."""
    limits: list[str] = [*NETWORK]
    for name, kind in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(kind)[1]
        value = RUN_ULIMIT if hard == resource.RLIM_INFINITY else min(hard, RUN_ULIMIT)
        limits += ["--ulimit", f"{name}={value}:{value}"]
    return tuple(limits)


def podman(*args: str, timeout: float = 900, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *engine_options(), *args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )  # type: ignore[call-overload]


@contextmanager
def locked() -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _as_root() -> list[str]:
    return [] if os.geteuid() == 0 else ["sudo", "-n"]


def base_tarball() -> Path:
    """The cached base's tarball, made by debootstrap the first time."""
    _, suite = base_reference()
    mirror = debian_mirror()
    key = hashlib.sha256(f"{suite}\nminbase\n{SLIM_EXCLUDES}\n{TRIMMED}".encode()).hexdigest()[:12]
    tarball = CACHE / f"{suite}-minbase-{key}.tar"
    if tarball.is_file():
        return tarball
    with tempfile.TemporaryDirectory(prefix="debootstrap-", dir=CACHE) as scratch:
        rootfs = Path(scratch, "rootfs")
        keyring = [f"--keyring={KEYRING}"] if KEYRING.is_file() else []
        done = subprocess.run(
            [*_as_root(), "debootstrap", "--variant=minbase", *keyring, suite, str(rootfs), mirror],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"debootstrap {suite} from {mirror} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        slim = "\n".join(
            [
                f"printf '%s' '{SLIM_EXCLUDES}' > {rootfs}/etc/dpkg/dpkg.cfg.d/slim",
                *(f"rm -rf {rootfs}/{path}/*" for path in TRIMMED),
                f"tar -C {rootfs} -cf {tarball}.part .",
                f"chown {os.getuid()}:{os.getgid()} {tarball}.part",
                f"rm -rf {rootfs}",
            ]
        )
        subprocess.run([*_as_root(), "sh", "-ec", slim], check=True, timeout=600)
    Path(f"{tarball}.part").rename(tarball)
    return tarball


def build_image(tag: str = IMAGE) -> str:
    """Builds the Dockerfile into `tag` (Podman's layer cache makes a second build quick); returns the tag."""
    with locked():
        name, _ = base_reference()
        base = f"docker.io/library/{name}"
        if podman("image", "exists", base).returncode != 0:
            imported = podman("import", str(base_tarball()), base)
            if imported.returncode != 0:
                raise RuntimeError(f"podman import failed: {imported.stderr}")
        ca = os.environ.get("SSL_CERT_FILE")
        # A TLS-intercepting proxy's CA, handed to the build read-only and never copied into the image.
        trust = ["-v", f"{ca}:{BUILD_CA}:ro", "--build-arg", f"PIP_CERT={BUILD_CA}"] if ca else []
        built = podman("build", "--pull=never", *trust, "-t", tag, str(ROOT))
        if built.returncode != 0:
            raise RuntimeError(f"podman build failed:\n{built.stdout[-4000:]}\n{built.stderr[-4000:]}")
    return tag


def image_size(tag: str = IMAGE) -> int:
    """The image's size in bytes, as Podman counts it (all layers, uncompressed)."""
    answer = podman("image", "inspect", "--format", "{{.Size}}", tag)
    return int(answer.stdout.strip())
