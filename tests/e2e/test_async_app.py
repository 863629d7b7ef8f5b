"""docs/app.md's async app, run as written against the emulator (a FastAPI app holding one AsyncSessionsClient in
its lifespan), the pytest fixture's async client, and the emulator's session identifier rule the doc states."""

import asyncio
import re
import uuid

import pytest
from fastapi.testclient import TestClient

from dynamic_sessions.client.errors import RequestRejected
from tests.emulator_process import ROOT


def _async_example() -> str:
    section = (ROOT / "docs" / "app.md").read_text().split("## Async apps", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, "the async section holds one example"
    return blocks[0]


def test_the_docs_fastapi_app_holds_one_client_and_runs_code(dynamic_sessions_pool, monkeypatch):
    monkeypatch.setenv("POOL_MANAGEMENT_ENDPOINT", dynamic_sessions_pool.endpoint)
    namespace: dict = {}
    exec(compile(_async_example(), "docs/app.md", "exec"), namespace)  # noqa: S102 (the doc's own example)
    user = f"user-{uuid.uuid4()}"
    with TestClient(namespace["app"]) as http:  # runs the lifespan: the client is made, then closed
        first = http.post(f"/users/{user}/run", params={"code": "globalThis.n = 41; console.log(n + 1)"})
        second = http.post(f"/users/{user}/run", params={"code": "console.log(n + 2)"})
        pool = namespace["app"].state.pool
    assert first.json() == {"succeeded": True, "stdout": "42\n"}
    assert second.json() == {"succeeded": True, "stdout": "43\n"}  # the same session, through the one client
    assert pool._http.is_closed  # closed with the lifespan


def test_the_fixture_hands_async_tests_an_async_client(dynamic_sessions_pool, dynamic_sessions_identifier):
    async def run() -> tuple[str, str]:
        async with dynamic_sessions_pool.async_client(api_version="2025-10-02-preview") as client:
            results = await asyncio.gather(
                *(client.execute(f"console.log({n} * 2)", f"{dynamic_sessions_identifier}-{n}") for n in range(3))
            )
            for n in range(3):
                await client.release(f"{dynamic_sessions_identifier}-{n}")
            return type(client).__name__, "".join(r.stdout for r in results)

    assert asyncio.run(run()) == ("AsyncSessionsClient", "0\n2\n4\n")


@pytest.mark.parametrize(("identifier", "taken"), [("abc", False), ("a" * 129, False), ("user_42-x", True)])
def test_the_emulator_takes_identifiers_of_4_to_128_characters(dynamic_sessions_pool, identifier, taken):
    async def run() -> bool:
        async with dynamic_sessions_pool.async_client() as client:
            try:
                await client.execute("1", identifier)
            except RequestRejected as rejected:
                assert rejected.status == 400 and rejected.error_code == "InvalidIdentifier"
                return False
            await client.release(identifier)
            return True

    assert asyncio.run(run()) is taken


def test_the_docs_curl_to_the_fastapi_app_answers_as_the_page_says(dynamic_sessions_pool, monkeypatch):
    page = (ROOT / "docs" / "app.md").read_text()
    said = re.search(r"curl -X POST 'http://127\.0\.0\.1:8000(/users/[^?]+)\?code=([^']+)'` answers\n`(.*?)`", page)
    assert said is not None
    monkeypatch.setenv("POOL_MANAGEMENT_ENDPOINT", dynamic_sessions_pool.endpoint)
    namespace: dict = {}
    exec(compile(_async_example(), "docs/app.md", "exec"), namespace)  # noqa: S102 (the doc's own example)
    with TestClient(namespace["app"]) as http:
        answer = http.post(said.group(1), params={"code": said.group(2)})
    assert answer.text == said.group(3)


def test_the_testing_pages_async_test_runs_as_written(dynamic_sessions_pool, dynamic_sessions_identifier):
    page = (ROOT / "docs" / "testing.md").read_text()
    block = page.split("An async test makes its own", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(block, "docs/testing.md", "exec"), namespace)  # noqa: S102 (the doc's own example)
    asyncio.run(namespace["test_async_agent"](dynamic_sessions_pool, dynamic_sessions_identifier))
