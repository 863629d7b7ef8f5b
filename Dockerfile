# The emulator of a dynamic-sessions pool's data plane, with real sandboxed sessions, as one image:
#   docker run --rm -p 127.0.0.1:8480:8480 <security options from docs/container.md> <image>
# serves a NodeLTS pool at http://127.0.0.1:8480 on the host. docs/container.md says why each option is there.
#
# Behind a TLS-intercepting proxy, hand its CA to the build (never copied into the image):
#   podman build -v "$SSL_CERT_FILE:/run/build-ca.pem:ro" --build-arg PIP_CERT=/run/build-ca.pem .

FROM debian:trixie-slim AS build
# A CA bundle pip trusts while building (pip reads $PIP_CERT); empty: pip's own.
ARG PIP_CERT=
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md /src/
COPY dynamic_sessions /src/dynamic_sessions
# The emulator extra's dependencies, in the ranges pyproject.toml pins, into a virtual environment the
# final stage copies whole. Byte-compiled here: the emulator's user cannot write there, and without the
# caches each start compiled every module again (p50 to the first execute 756 ms without, 618 ms with, for 10 MB).
RUN python3 -m venv /opt/dynamic-sessions \
 && /opt/dynamic-sessions/bin/pip install --no-cache-dir --disable-pip-version-check "/src[emulator]"

FROM debian:trixie-slim
# Node.js for NodeLTS sessions, Python for the emulator and PythonLTS sessions, bash for Shell ones; bubblewrap,
# slirp4netns and libseccomp for the sandbox; prlimit (util-linux) sets each session's limits. No apt cache and
# no package lists are kept.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      nodejs python3 bubblewrap slirp4netns libseccomp2 util-linux ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
COPY --from=build /opt/dynamic-sessions /opt/dynamic-sessions
# The emulator runs as an ordinary user: sessions then live in unprivileged user namespaces, and the container
# needs no capability at all (as root the emulator would mount a file system per session, which needs one).
RUN useradd --system --uid 999 --user-group --create-home --home-dir /home/emulator --shell /usr/sbin/nologin emulator
USER emulator
WORKDIR /home/emulator
ENV PATH=/opt/dynamic-sessions/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DYNAMIC_SESSIONS_CONTAINER_MODE=1
EXPOSE 8480
# SIGTERM (docker stop) ends every session and the emulator within its grace period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["dynamic-sessions-emulator"]
