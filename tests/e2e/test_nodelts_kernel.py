"""NodeLTS sessions evaluate as ijavascript (through nel) does: nel's own execution cases against real
sessions, and what Azure's data plane makes of the kernel's results."""

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conditions import until
from tests.emulator_process import Emulator

NEL = Path(__file__).parents[1] / "vendor" / "nel" / "execute.json"
NEL_CASES: list[dict[str, Any]] = json.loads(NEL.read_text())
SESSION_VERSION = "2025-10-02-preview"


def jupyter(emulator: Emulator, code: str, identifier: str, **extra: Any) -> dict[str, Any]:
    return emulator.execute(code, identifier, returnJupyterFormatExecutionResult=True, **extra)


def described(error: dict[str, Any]) -> str:
    """How an error output reads on stderr: its traceback, or `ename: evalue` when it has none."""
    return "\n".join(error["traceback"]) + "\n" if error["traceback"] else f"{error['ename']}: {error['evalue']}\n"


def _expected_list(expected: Any) -> list[Any]:
    return expected if isinstance(expected, list) else [expected]


class NelSession:
    """nel's cases run in order in one session, as nel runs them (later cases read what earlier ones declared);
    each answer is kept, so the state before case N is always what cases 0..N-1 left, whichever is checked."""

    def __init__(self, emulator: Emulator):
        self.emulator = emulator
        self.identifier = "nel-cases"
        self.answers: list[dict[str, Any]] = []

    def answer(self, index: int) -> dict[str, Any]:
        while len(self.answers) <= index:
            self.answers.append(jupyter(self.emulator, NEL_CASES[len(self.answers)]["code"], self.identifier))
        return self.answers[index]

    def close(self) -> None:
        self.emulator.http.delete("/session", params={"api-version": SESSION_VERSION, "identifier": self.identifier})


@pytest.fixture(scope="module")
def nel_session(emulator: Emulator) -> Iterator[NelSession]:
    session = NelSession(emulator)
    yield session
    session.close()


@pytest.mark.parametrize("index", range(len(NEL_CASES)), ids=[f"{i}:{c['code'][:60]}" for i, c in enumerate(NEL_CASES)])
def test_nel_execute_case(nel_session: NelSession, index: int) -> None:
    """The case's answer in nel's session, checked as nel's test checks it."""
    case = NEL_CASES[index]
    body = nel_session.answer(index)
    outputs = body["result"]["executionResult"]
    results = [o["data"] for o in outputs if o["output_type"] == "execute_result"]
    errors = [o for o in outputs if o["output_type"] == "error"]
    displays = [o for o in outputs if o["output_type"] == "display_data"]
    expected = case.get("result", {})

    if "mime" in expected:
        assert results == _expected_list(expected["mime"]), body
    if "error" in expected:
        wanted = _expected_list(expected["error"])
        assert len(errors) == len(wanted), body
        for error, want in zip(errors, wanted, strict=True):
            assert {k: error[k] for k in want} == want, body
        assert body["status"] == "Failed", body
    else:
        assert errors == [], body
        assert body["status"] == "Succeeded", body
    if "stdout" in case:
        assert body["result"]["stdout"] == case["stdout"], body
    if "stderr" in case:
        # Azure's answer carries the kernel's errors on stderr too, after what the code wrote there.
        assert body["result"]["stderr"] == case["stderr"] + "".join(described(e) for e in errors), body
    shown = [
        {**({"display_id": o["transient"]["display_id"]} if "transient" in o else {}), "mime": o["data"]}
        for o in displays
    ]
    assert shown == case.get("display", []), body


def value(body: dict[str, Any]) -> Any:
    return body["result"]["executionResult"]


def test_execution_result_is_the_value_as_json_or_its_inspect_text(emulator: Emulator) -> None:
    ident = "mapping"
    assert value(emulator.execute("'Hello'", ident)) == "Hello"
    assert value(emulator.execute("[1, 2, 3]", ident)) == [1, 2, 3]
    assert value(emulator.execute("({a: {b: null}})", ident)) == {"a": {"b": None}}
    assert value(emulator.execute("var unseen = 1", ident)) == ""  # undefined: the tutorial's ""
    assert value(emulator.execute("new Map([[1, 'one']])", ident)) == "Map(1) { 1 => 'one' }"
    assert value(emulator.execute("10n ** 20n", ident)) == "100000000000000000000n"
    assert value(emulator.execute("new Date(0)", ident)) == "1970-01-01T00:00:00.000Z"  # its toJSON
    # A Promise is a value like any other: nel does not await it.
    assert value(emulator.execute("new Promise(() => {})", ident)) == "Promise { <pending> }"
    assert value(emulator.execute("$$.async(); setTimeout(() => $$.done(6 * 7), 20)", ident)) == 42
    assert value(emulator.execute("$$.html('<b>bold</b>')", ident)) == ""  # no text/plain: nothing to show


def test_the_mime_bundle_text_plain_is_util_inspect(emulator: Emulator) -> None:
    bundles = [value(jupyter(emulator, code, "inspect"))[0]["data"] for code in ("'Hello'", "[1, 2, 3]", "({a: 1})")]
    assert bundles == [{"text/plain": "'Hello'"}, {"text/plain": "[ 1, 2, 3 ]"}, {"text/plain": "{ a: 1 }"}]
    # A session's own mimer, as nel's `$$mimer$$`, shapes every later result's bundle; deleting it restores nel's.
    jupyter(emulator, "$$mimer$$ = (r) => ({'text/plain': `custom ${r}`, 'text/html': `<b>${r}</b>`})", "inspect")
    assert value(jupyter(emulator, "5", "inspect"))[0]["data"] == {"text/plain": "custom 5", "text/html": "<b>5</b>"}
    jupyter(emulator, "delete globalThis.$$mimer$$", "inspect")
    assert value(jupyter(emulator, "5", "inspect"))[0]["data"] == {"text/plain": "5"}


def test_asynchronous_cells_end_when_they_say_so(emulator: Emulator) -> None:
    ident = "asynchronous"
    waited = emulator.execute(
        "$$.async(); Promise.resolve(5).then((v) => { console.log('then'); $$.sendResult(v * 2); })", ident
    )
    assert (waited["status"], waited["result"]["stdout"], value(waited)) == ("Succeeded", "then\n", 10)
    rejected = emulator.execute("$$.sendError(Promise.reject(new TypeError('nope')))", ident)
    assert rejected["status"] == "Failed" and rejected["result"]["stderr"].startswith("TypeError: nope\n"), rejected
    # awaitExecution, off by default as in ijavascript, awaits a returned Promise once a cell turns it on.
    emulator.execute("$$.config.awaitExecution = true", ident)
    assert value(emulator.execute("Promise.resolve('awaited')", ident)) == "awaited"
    emulator.execute("$$.config.awaitExecution = false", ident)
    never = emulator.execute("var kept = 'state'; $$.async()", ident, timeoutInSeconds=1)
    assert never["status"] == "Failed" and "timed out after 1 s" in never["result"]["stderr"], never
    assert value(emulator.execute("kept", ident)) == "state"
    # No output area to clear; no way for the data plane to answer a kernel's input request.
    assert value(emulator.execute("$$.clear(); 'cleared'", ident)) == "cleared"
    asked = emulator.execute("$$.input({prompt: 'name?'})", ident)
    assert asked["status"] == "Failed" and "$$.input: this session cannot read input" in asked["result"]["stderr"]


def test_top_level_await_is_a_syntax_error_as_in_a_script(emulator: Emulator) -> None:
    body = emulator.execute("const r = await Promise.resolve(5); r", "awaiting")
    assert body["status"] == "Failed"
    assert "SyntaxError: await is only valid in async functions" in body["result"]["stderr"], body
    assert body["error"]["error"]["message"].startswith("SyntaxError: await is only valid"), body
    # The cell did not run, so its `const` was not declared: the name is still free.
    assert value(emulator.execute("var r = 6; r", "awaiting")) == 6


def test_output_belongs_to_the_cell_running_when_it_is_written(emulator: Emulator) -> None:
    ident = "late-output"
    ended = emulator.execute("$$.async(); setTimeout(() => { $$.done(1); console.log('after done'); }, 10)", ident)
    assert ended["result"]["stdout"] == "" and value(ended) == 1
    # A timer of an earlier cell writes into the cell that is running then, as nel hands it to the last task.
    earlier = (
        "var waiting = setInterval(() => { if (globalThis.go) {"
        " clearInterval(waiting); console.log('from before'); globalThis.fired = true; } }, 5); 'returned'"
    )
    assert value(emulator.execute(earlier, ident)) == "returned"
    later = (
        "globalThis.go = true; $$.async();"
        " var poll = setInterval(() => { if (globalThis.fired) { clearInterval(poll); $$.done('later'); } }, 5)"
    )
    answer = emulator.execute(later, ident)
    assert (answer["result"]["stdout"], value(answer)) == ("from before\n", "later"), answer
    # Written while no cell runs: part of no answer, neither that cell's nor the next one's.
    assert (
        emulator.execute(
            "setTimeout(() => { console.log('between cells'); globalThis.printed = true; }, 10); 1", ident
        )["result"]["stdout"]
        == ""
    )
    time.sleep(0.5)  # between cells: the timer fires while none runs
    seen: list[dict] = []

    def printed() -> bool:
        seen.append(emulator.execute("globalThis.printed === true", ident))
        return value(seen[-1]) is True

    until(printed, "the timer's console.log ran")
    assert [after["result"]["stdout"] for after in seen] == [""] * len(seen), seen


def test_an_error_thrown_by_a_timer_goes_to_the_running_cell_without_ending_it(emulator: Emulator) -> None:
    code = "$$.async(); setTimeout(() => { throw new RangeError('tick'); }); setTimeout(() => $$.done(2), 50)"
    body = emulator.execute(code, "ticking")
    assert body["status"] == "Succeeded" and value(body) == 2
    assert body["result"]["stderr"].startswith("RangeError: tick\n"), body


def test_thrown_values_go_to_stderr(emulator: Emulator) -> None:
    thrown = emulator.execute("throw 'plain'", "throwing")
    assert (thrown["status"], thrown["result"]["stderr"]) == ("Failed", "string: 'plain'\n")
    error = emulator.execute("function inner() { throw new Error('deep') }\ninner()", "throwing")
    stderr = error["result"]["stderr"]
    assert stderr.startswith("Error: deep\n    at inner (evalmachine.<anonymous>:1:"), stderr
    assert "kernel.js" not in stderr and "node:internal" not in stderr
    assert error["error"]["error"]["message"] == "Error: deep"


def test_modules_resolve_from_the_sessions_folder_and_builtins_are_globals(emulator: Emulator) -> None:
    ident = "modules"
    code = (
        "fs.mkdirSync('/mnt/data/node_modules/greeting', {recursive: true});"
        "fs.writeFileSync('/mnt/data/node_modules/greeting/index.js', 'module.exports = (n) => `hi ${n}`');"
        "require('greeting')('there')"
    )
    assert value(emulator.execute(code, ident)) == "hi there"
    assert value(emulator.execute("[typeof path.join, typeof os.cpus, __filename]", ident)) == [
        "function",
        "function",
        "[eval]",
    ]


def test_state_redeclared_const_and_process_exit_keep_their_behaviour(emulator: Emulator) -> None:
    ident = "kept"
    emulator.execute("const fixed = 1; var counter = 41; function bump() { return ++counter }", ident)
    assert value(emulator.execute("bump()", ident)) == 42
    again = emulator.execute("const fixed = 2", ident)
    assert (
        again["status"] == "Failed"
        and "SyntaxError: Identifier 'fixed' has already been declared" in (again["result"]["stderr"])
    )
    gone = emulator.execute("process.exit(3)", ident)
    assert gone["status"] == "Failed"
    assert value(emulator.execute("typeof counter", ident)) == "undefined"  # a new session


NPM = "var npm = (...args) => require('child_process').spawnSync('npm', args, { encoding: 'utf-8' });"


@pytest.mark.skipif(shutil.which("slirp4netns") is None, reason="egress needs slirp4netns")
def test_npm_installs_a_package_where_egress_is_on_and_cells_require_it(launch) -> None:
    online = launch("--egress", "enabled")
    ident = "npm-user"
    online.execute(NPM, ident)
    # Microsoft's samples: `npm list` for what is preinstalled (nothing, here), `npm install <pkg>` for more.
    assert value(online.execute("npm('list').stdout", ident)) == "/mnt/data\n`-- (empty)\n\n"
    installed = online.execute(
        "var done = npm('install', 'is-number@7.0.0'); [done.status, done.stderr]", ident, timeoutInSeconds=120
    )
    assert value(installed)[0] == 0, installed
    assert value(online.execute("require('is-number')('42')", ident)) is True
    assert "is-number@7.0.0" in value(online.execute("npm('list').stdout", ident))


def test_npm_runs_offline_but_cannot_install(emulator: Emulator) -> None:
    ident = "npm-offline"
    emulator.execute(NPM, ident)
    assert value(emulator.execute("npm('--version').status", ident)) == 0
    failed = value(
        emulator.execute(
            "var r = npm('install', 'is-number', '--fetch-retries=0'); [r.status, r.stderr]",
            ident,
            timeoutInSeconds=120,
        )
    )
    assert failed[0] != 0 and ("ENOTFOUND" in failed[1] or "EAI_AGAIN" in failed[1]), failed


def test_outputs_past_their_budget_are_replaced_by_a_marker_and_the_answer_stays_whole(emulator: Emulator) -> None:
    code = "for (let i = 0; i < 20; i++) $$.text('p'.repeat(256 * 1024), true); $$.done('end')"
    body = jupyter(emulator, code, "many-outputs", timeoutInSeconds=60)
    texts = [o["data"]["text/plain"] for o in value(body)]
    assert body["status"] == "Succeeded" and len(texts) == 21
    # 1 MiB of JSON in all (the result limit, which the emulator holds answers to): 3 outputs of 256 KiB fit.
    assert texts[:3] == ["p" * 256 * 1024] * 3
    assert all(
        t.startswith("[output dropped: ") and t.endswith("the limit is 1048576 per execution]") for t in texts[3:]
    )
    assert emulator.execute("$$.text('x', true); $$.done('end')", "many-outputs")["result"]["executionResult"] == "end"
