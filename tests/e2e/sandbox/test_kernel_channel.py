"""The channel between the emulator and a session's kernel: floods between calls, forged and unreadable
answers, huge outputs and results, large programs, request numbers, and kernels that exit mid-request.

Each attack runs as session code (or a client) against a real emulator process, and is judged by what
the host sees."""

import contextlib
import json
import shutil
import threading
import time

import pytest

from tests.conditions import until
from tests.sandbox_support import EXECUTION, _names, _params, _rss_mib, _run, run

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


FLOOD_CHANNEL = """
const fs = require('fs');
const chunk = Buffer.alloc(1 << 16, 120);  // no newline: never a whole answer
globalThis.sent = 0;
const timer = setInterval(() => {{
  for (let i = 0; i < 64; i++) {{
    try {{ fs.writeSync({fd}, chunk); globalThis.sent += chunk.length; }} catch (e) {{ break; }}
  }}
  if (globalThis.sent > 256 * 1024 * 1024) clearInterval(timer);
}}, 1);
'flooding'
"""


class PeakRss:
    """The emulator's highest RSS while the block runs, sampled every 20 ms from /proc."""

    def __init__(self, pid: int):
        self.pid = pid
        self.before = _rss_mib(pid)
        self.peak = self.before
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            with contextlib.suppress(OSError, AssertionError):
                self.peak = max(self.peak, _rss_mib(self.pid))

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    @property
    def growth(self) -> float:
        return self.peak - self.before


# Written straight to the channel's descriptor, all of it before the kernel's real answer.
FORGE = """
const forged = Buffer.from(%s);
let sent = 0;
while (sent < forged.length) {
  try {
    sent += require('fs').writeSync(Number(process.argv[2]), forged, sent);
  } catch (e) { if (e.code !== 'EAGAIN') throw e; }
}
'after the forgery'
"""


# The number of the request being run, read from the kernel's own frames (the request it parsed).
OWN_NUMBER = """
import sys
frame, seen = sys._getframe(), None
while frame is not None and seen is None:
    found = (v["seq"] for v in list(frame.f_locals.values()) if isinstance(v, dict) and {"seq", "code"} <= v.keys())
    seen = next(found, None)
    frame = frame.f_back
seen
"""


def test_a_channel_flooded_between_calls_costs_the_emulator_no_memory(emulator):
    fd = run(
        emulator,
        "require('fs').readdirSync('/proc/self/fd').map(Number).find((n) => "
        "require('fs').readlinkSync('/proc/self/fd/' + n).startsWith('socket:'))",
        "flood-0",
    )["executionResult"]
    before = _rss_mib(emulator.process.pid)
    for n in range(3):
        assert run(emulator, FLOOD_CHANNEL.format(fd=fd), f"flood-{n}")["executionResult"] == "flooding"
    peak = before
    for _ in range(15):  # 1.5 s: an emulator that read the flood holds over 200 MiB of it within 1 s
        time.sleep(0.1)
        peak = max(peak, _rss_mib(emulator.process.pid))
    assert peak - before < 48, f"emulator RSS grew {peak - before} MiB"
    # The flood is not an answer: the next call ends that session and a fresh one answers the one after.
    emulator.execute("1", "flood-1", timeoutInSeconds=20)
    assert run(emulator, "6 * 7", "flood-1")["executionResult"] == 42
    for ended in ("flood-0", "flood-1", "flood-2"):  # the shared emulator runs no flood past this test
        emulator.http.delete("/session", params=_params(ended))


def test_a_forged_answer_of_millions_of_objects_costs_the_emulator_little_and_ends_that_session(emulator):
    emulator.execute("1", "forger")
    emulator.execute("1", "bystander")
    # 32 MB of empty objects: about 900 MiB of Python dicts once parsed.
    line = """'{"seq":2,"ok":true,"stdout":"","stderr":"","result":[' + '{},'.repeat(11e6) + '{}],"ms":0}\\n'"""
    with PeakRss(emulator.process.pid) as rss:
        attack = emulator.execute(FORGE % line, "forger", timeoutInSeconds=60)
    assert attack["status"] == "Failed" and "session was stopped" in attack["result"]["stderr"], attack
    assert rss.growth < 120, f"emulator RSS grew {rss.growth:.0f} MiB"
    assert emulator.execute("6 * 7", "bystander")["result"]["executionResult"] == 42
    assert emulator.execute("typeof forged", "forger")["result"]["executionResult"] == "undefined"


def test_a_forged_answer_with_the_right_number_is_held_to_the_output_limit(emulator):
    # The session's first request is number 1: its answer, forged, carries 5,000,000 characters.
    line = """JSON.stringify({seq: 1, ok: true, stdout: 'x'.repeat(5e6), stderr: 'e'.repeat(5e6),
                            result: 'r'.repeat(5e6), ms: 0, extra: ['y'.repeat(5e6)]}) + '\\n'"""
    body = emulator.execute(FORGE % line, "number-forger", timeoutInSeconds=60)["result"]
    limit = 1024 * 1024
    for name in ("stdout", "stderr", "executionResult"):
        assert len(body[name]) <= limit + 200, (name, len(body[name]))
    assert len(json.dumps(body)) < 4 * limit


@pytest.mark.parametrize(
    "forged",
    [
        "'not json\\n'",
        "JSON.stringify({seq: -1, ok: true, stdout: 'forged', stderr: '', result: 'forged', ms: 0}) + '\\n'",
        "JSON.stringify({ok: true}) + '\\n'",
    ],
)
def test_an_unreadable_or_foreign_answer_ends_the_session_and_never_shifts_answers(emulator, forged):
    ident = f"forger-{abs(hash(forged)) % 10_000}"
    _run(emulator, "globalThis.marker = 'old session'", ident)
    attack = emulator.execute(f"require('fs').writeSync(Number(process.argv[2]), {forged}); 'real'", ident)
    assert attack["status"] == "Failed" and "session was stopped" in attack["result"]["stderr"]
    assert "forged" not in json.dumps(attack)
    after = [emulator.execute(f"typeof marker + ' {i}'", ident)["result"]["executionResult"] for i in range(3)]
    assert after == ["undefined 0", "undefined 1", "undefined 2"]


def test_a_70_mb_output_is_truncated_with_a_marker_and_answers_stay_in_order(emulator):
    ident = "flood"
    flooded = emulator.execute(
        "console.log('x'.repeat(70 * 1024 * 1024)); 'flooded'", ident, outputStreamsMaxLength=1024 * 1024
    )
    stdout = flooded["result"]["stdout"]
    assert flooded["status"] == "Succeeded" and flooded["result"]["executionResult"] == "flooded"
    assert stdout.startswith("x" * 1000) and "[output truncated:" in stdout
    assert len(stdout) < 1024 * 1024 + 200
    assert flooded["result"]["outputStreamsMaxLength"] == 1024 * 1024
    for i in range(3):
        assert emulator.execute(f"'answer {i}'", ident)["result"]["executionResult"] == f"answer {i}"


def test_a_huge_result_is_truncated_and_the_session_keeps_answering(emulator):
    ident = "huge-result"
    body = emulator.execute("'y'.repeat(80 * 1024 * 1024)", ident)
    result = body["result"]["executionResult"]
    assert isinstance(result, str) and "[result truncated:" in result and len(result) < 1024 * 1024 + 200
    assert emulator.execute("6 * 7", ident)["result"]["executionResult"] == 42


def test_the_output_cap_is_a_flag(launch):
    small = launch("--output-max-length", "10")
    body = small.execute("console.log('abcdefghijklmnop'); console.error('e'); 'r'.repeat(50)", "cap-check")
    assert body["result"]["stdout"].startswith("abcdefghij\n[output truncated: 7 more characters")
    assert body["result"]["stderr"] == "e\n"
    assert body["result"]["executionResult"] == "r" * 50  # the cap is the streams', as outputStreamsMaxLength


def test_lone_surrogates_in_output_are_escaped_not_a_500(emulator):
    body = emulator.execute("console.log('a\\ud800b'); console.error('\\udfff'); ({k: '\\ud83d'})", "surrogates")
    assert body["status"] == "Succeeded"
    assert body["result"]["stdout"] == "a\ud800b\n" and body["result"]["stderr"] == "\udfff\n"
    assert body["result"]["executionResult"] == {"k": "\ud83d"}


def test_a_large_program_arrives_whole(emulator):
    # About 3 MB on one request line, to the kernel in many chunks.
    code = "let total = 0;\n" + "total += 1;\n" * 250_000 + "total"
    assert emulator.execute(code, "big-code")["result"]["executionResult"] == 250_000


def test_request_numbers_are_per_session_so_no_tenant_counts_anothers_calls(python_emulator):
    first = python_emulator.execute(OWN_NUMBER, "watcher")["result"]["executionResult"]
    assert isinstance(first, int)
    for n in range(5):
        python_emulator.execute(f"{n}", "busy-neighbour")
    second = python_emulator.execute(OWN_NUMBER, "watcher")["result"]["executionResult"]
    assert second == first + 1, (first, second)


def test_a_kernel_that_exits_with_a_request_unread_fails_that_call_and_the_next_starts_fresh(emulator):
    # Busy when the next request arrives, then gone without reading it: its end of the channel is reset. It says
    # it is busy by a file (the files API needs no kernel), and stays so for 5 s: the test's request arrives in
    # that time however busy the machine.
    exits = (
        "setTimeout(() => { require('fs').writeFileSync('/mnt/data/busy', '');"
        " Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000); process.exit(3); }, 0); 1"
    )
    assert emulator.execute(exits, "unread")["status"] == "Succeeded"
    until(lambda: "busy" in _names(emulator, "unread"), "the kernel is busy")
    cut = emulator.http.post("/executions", params=_params("unread"), json={**EXECUTION, "code": "2"})
    assert cut.status_code == 200, cut.text  # before: 500, and the client's connection was dropped with it
    assert cut.json()["status"] == "Failed" and "exited" in cut.json()["result"]["stderr"]
    assert emulator.execute("3", "unread")["result"]["executionResult"] == 3
