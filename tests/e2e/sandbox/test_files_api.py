"""The files API against what session code plants in /mnt/data: links to host files, FIFOs, devices,
sockets, names too long or of the emulator's own form, and names swapped while requests run.

Each attack runs as session code (or a client) against a real emulator process, and is judged by what
the host sees."""

import os
import shutil
import stat
import time

import httpx
import pytest

from tests.conditions import until
from tests.emulator_process import Emulator
from tests.sandbox_support import (
    LEGACY,
    MB,
    Canary,
    V,
    _chunked_upload,
    _host_folder,
    _names,
    _params,
    _peak_rss_kib,
    _reset_peak_rss,
    _run,
    run,
)

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


SWAPPER = """
const fs = require('fs');
(async () => {{
  const end = Date.now() + 20000;
  for (let i = 0; Date.now() < end && !fs.existsSync('/mnt/data/stop'); i++) {{
    for (const name of ['/mnt/data/x', '/mnt/data/y']) {{ try {{ fs.unlinkSync(name); }} catch (e) {{}} }}
    try {{  // the client's uploads and deletes race these too
      if (i % 2) {{
        fs.symlinkSync({target!r}, '/mnt/data/x');
        fs.symlinkSync({absent!r}, '/mnt/data/y');
      }} else {{
        fs.writeFileSync('/mnt/data/x', 'mine');
        fs.linkSync('/mnt/data/x', '/mnt/data/y');
      }}
    }} catch (e) {{}}
    if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
  }}
}})();
'swapping'
"""


def _refused(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["error"]["code"] == response.headers["x-ms-error-code"]


def _every_file_route(emulator: Emulator, identifier: str, name: str) -> list[httpx.Response]:
    return [
        emulator.http.get(f"/files/{name}/content", params=_params(identifier)),
        emulator.http.get(f"/files/{name}", params=_params(identifier)),
        emulator.http.get(f"/files/content/{name}", params=_params(identifier, LEGACY)),
    ]


def test_a_symlink_to_a_host_file_is_neither_read_nor_written(emulator, canary):
    ident = "plant-symlink"
    _run(emulator, f"require('fs').symlinkSync({str(canary.path)!r}, '/mnt/data/link')", ident)
    _run(emulator, f"require('fs').symlinkSync({str(canary.absent)!r}, '/mnt/data/dangling')", ident)
    for response in _every_file_route(emulator, ident, "link"):
        _refused(response)
        assert b"host secret" not in response.content
    assert "link" not in _names(emulator, ident)
    for name in ("link", "dangling"):
        uploaded = emulator.http.post("/files", params=_params(ident), files={"file": (name, b"overwritten")})
        assert uploaded.status_code == 200, uploaded.text
    canary.assert_untouched()
    # The upload replaced each link with a file of the session's own.
    assert emulator.http.get("/files/link/content", params=_params(ident)).content == b"overwritten"
    assert _run(emulator, "require('fs').lstatSync('/mnt/data/dangling').isFile()", ident)["result"]["executionResult"]


def test_deleting_a_symlink_never_reaches_its_target(emulator, canary):
    ident = "delete-symlink"
    _run(emulator, f"require('fs').symlinkSync({str(canary.path)!r}, '/mnt/data/link')", ident)
    _refused(emulator.http.delete("/files/link", params=_params(ident)))
    canary.assert_untouched()


def test_a_hard_link_to_a_host_file_is_neither_read_nor_written(launch, canary):
    # Without caps, /mnt/data is a plain host folder, where a hard link to a host file can exist.
    emulator = launch("--no-caps")
    ident = "plant-hardlink"
    folder = _host_folder(emulator, ident)
    os.link(canary.path, folder / "hard")  # what a session could do to a host file it can reach
    for response in _every_file_route(emulator, ident, "hard"):
        _refused(response)
        assert b"host secret" not in response.content
    assert "hard" not in _names(emulator, ident)
    uploaded = emulator.http.post("/files", params=_params(ident), files={"file": ("hard", b"overwritten")})
    assert uploaded.status_code == 200
    canary.assert_untouched()
    assert canary.path.stat().st_nlink == 1
    os.link(canary.path, folder / "again")
    assert emulator.http.delete("/files/again", params=_params(ident)).status_code == 204  # the link only
    canary.assert_untouched()
    assert canary.path.stat().st_nlink == 1 and not (folder / "again").exists()


def test_a_fifo_never_blocks_a_request(emulator, canary):
    ident = "plant-fifo"
    _run(emulator, "require('child_process').execFileSync('mkfifo', ['/mnt/data/pipe'])", ident)
    started = time.monotonic()
    for response in _every_file_route(emulator, ident, "pipe"):
        _refused(response)
    assert time.monotonic() - started < 20  # far below the 30 s client timeout: nothing waited on the FIFO
    assert "pipe" not in _names(emulator, ident)
    # Still answering: no worker is stuck opening the FIFO.
    assert emulator.execute("'alive'", ident)["result"]["executionResult"] == "alive"


def test_device_nodes_sockets_and_directories_are_refused(emulator, canary):
    ident = "plant-others"
    folder = _host_folder(emulator, ident)
    os.mknod(folder / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    server = (
        "globalThis.server = require('net').createServer().listen('/mnt/data/sock');"
        "require('fs').mkdirSync('/mnt/data/dir'); require('fs').writeFileSync('/mnt/data/dir/inner', 'x')"
    )
    _run(emulator, server, ident)
    until(lambda: (folder / "sock").exists(), "the session's Unix socket is bound")
    for name in ("null", "sock", "dir"):
        for response in _every_file_route(emulator, ident, name):
            _refused(response)
        _refused(emulator.http.delete(f"/files/{name}", params=_params(ident)))
    _refused(emulator.http.post("/files", params=_params(ident), files={"file": ("dir", b"x")}))
    assert _names(emulator, ident) == set()
    assert (folder / "dir" / "inner").read_bytes() == b"x"
    assert stat.S_ISCHR((folder / "null").lstat().st_mode)
    canary.assert_untouched()


@pytest.mark.parametrize("length", [256, 300, 4096, 70_000])
def test_names_longer_than_255_bytes_get_a_clear_400(emulator, length):
    ident = "long-names"
    name = "n" * length
    upload = emulator.http.post("/files", params=_params(ident), files={"file": (name, b"x")})
    assert upload.status_code == 400, upload.text
    assert upload.json()["error"]["code"] == "InvalidFileName" and "255 bytes" in upload.text
    if length < 4096:
        fetched = emulator.http.get(f"/files/{name}/content", params=_params(ident))
        assert fetched.status_code == 400 and "255 bytes" in fetched.text
    assert _names(emulator, ident) == set()


def test_a_255_byte_name_still_works(emulator):
    ident = "long-names-ok"
    name = "é" * 127 + "n"  # 255 bytes of UTF-8
    assert emulator.http.post("/files", params=_params(ident), files={"file": (name, b"x")}).status_code == 200
    assert emulator.http.get(f"/files/{name}/content", params=_params(ident)).content == b"x"


def test_uploads_belong_to_the_folders_owner_and_replace_files_atomically(emulator):
    ident = "upload-owner"
    folder = _host_folder(emulator, ident)
    first = emulator.http.post("/files", params=_params(ident), files={"file": ("a.txt", b"one")})
    second = emulator.http.post("/files", params=_params(ident), files={"file": ("a.txt", b"two!")})
    assert (first.json()["sizeInBytes"], second.json()["sizeInBytes"]) == (3, 4)
    stored = folder / "a.txt"
    assert stored.read_bytes() == b"two!" and stored.stat().st_uid == folder.stat().st_uid
    assert [p.name for p in folder.iterdir()] == ["a.txt"]  # no temporary file left behind


def test_swapping_a_name_for_links_while_requests_run_never_reaches_the_host(emulator, tmp_path):
    tmp_path.chmod(0o755)
    canary = Canary(tmp_path)
    ident = "racer"
    code = SWAPPER.format(target=str(canary.path), absent=str(canary.absent))
    assert run(emulator, code, ident)["executionResult"] == "swapping"
    bodies: set[bytes] = set()
    for _ in range(150):
        for path, version in (("/files/x/content", V), ("/files/content/x", LEGACY), ("/files/y/content", V)):
            bodies.add(emulator.http.get(path, params=_params(ident, version)).content)
        for name in ("x", "y"):
            emulator.http.post("/files", params=_params(ident), files={"file": (name, b"overwrite")})
            emulator.http.delete(f"/files/{name}", params=_params(ident))
    emulator.http.post("/files", params=_params(ident), files={"file": ("stop", b"")})
    assert not any(b"host secret" in body for body in bodies)
    assert b"mine" in bodies  # the race ran: the regular file was served between swaps
    canary.assert_untouched()


def test_a_name_of_the_emulators_own_temporary_form_is_refused_and_others_like_it_are_listed(emulator):
    ident = "collider"
    folder = _host_folder(emulator, ident)
    reserved = ".upload-0011223344556677"
    refused = emulator.http.post("/files", params=_params(ident), files={"file": (reserved, b"x")})
    assert refused.status_code == 400 and "reserved" in refused.json()["error"]["message"]
    assert not (folder / reserved).exists()
    for name in (".upload-notes.txt", "lock", "kernel.js"):
        stored = emulator.http.post("/files", params=_params(ident), files={"file": (name, b"mine")})
        assert stored.status_code == 200, stored.text
        assert (folder / name).read_bytes() == b"mine"
    assert {".upload-notes.txt", "lock", "kernel.js"} <= _names(emulator, ident)


def test_a_chunked_upload_over_128_mb_gets_413_and_leaves_nothing(emulator):
    ident = "chunked-upload"
    response = _chunked_upload(emulator, ident, 129 * MB)
    assert response.status_code == 413, response.text
    assert _names(emulator, ident) == set()


def test_listing_a_hundred_thousand_files_costs_the_emulator_little_memory(emulator):
    # A session's inodes are charged to its own memory cap, the listing's JSON to the emulator: it is streamed.
    count, name = 100_000, "f" * 200
    made = emulator.execute(
        f"const fs = require('fs'); for (let i = 0; i < {count}; i++) fs.writeFileSync('/mnt/data/{name}' + i, ''); 1",
        "many-files",
        timeoutInSeconds=120,
    )
    assert made["status"] == "Succeeded", made
    _reset_peak_rss(emulator.process.pid)
    before = _peak_rss_kib(emulator.process.pid)
    listing = emulator.http.get("/files", params=_params("many-files"), timeout=120)
    assert listing.status_code == 200
    names = {entry["name"] for entry in listing.json()["value"]}
    assert names == {f"{name}{i}" for i in range(count)}
    grown_mib = (_peak_rss_kib(emulator.process.pid) - before) / 1024
    assert grown_mib < 48, f"the emulator's peak RSS grew by {grown_mib:.0f} MiB to list {len(listing.content)} bytes"
    assert emulator.http.delete("/session", params=_params("many-files")).status_code == 204  # its files with it
