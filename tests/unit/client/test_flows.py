"""The flows stepped by hand, as a driver would: what each yields (the token step first, then each request: method,
URL, headers, body; pauses between polls), and what each makes of the answers. No client, no transport."""

import json
from typing import Any

import httpx
import pytest

from dynamic_sessions.api_versions import SUPPORTED_API_VERSIONS
from dynamic_sessions.client.errors import ConfigurationError, NotSupported, UnexpectedResponse
from dynamic_sessions.client.flows import POLL_INTERVAL_S, TOKEN, Flows, NeedToken, Pause
from dynamic_sessions.client.http import USER_AGENT
from tests.fault_server import executions_ok, legacy_ok

URL = "https://pool.example.com"
HELLO = 'console.log("hello-world")'
LATEST = "2025-10-02-preview"
LEGACY = "2024-02-02-preview"


def first_request(flow: Any, token: str = "tok") -> httpx.Request:  # noqa: S107 (a stand-in)
    """Steps `flow` through its token step to its first request."""
    assert isinstance(next(flow), NeedToken)
    request = flow.send(token)
    assert isinstance(request, httpx.Request)
    return request


def finish(flow: Any, answer: httpx.Response) -> Any:
    with pytest.raises(StopIteration) as done:
        flow.send(answer)
    return done.value.value


def answer(request: httpx.Request, status: int = 200, body: Any = None, **headers: str) -> httpx.Response:
    content = b"" if body is None else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers, request=request)


def test_the_token_step_comes_before_any_request_and_its_answer_is_the_bearer():
    flow = Flows(URL).execute_flow(HELLO, "s-1")
    assert next(flow) is TOKEN
    request = flow.send("secret-token")
    assert isinstance(request, httpx.Request)
    assert request.headers["authorization"] == "Bearer secret-token"
    assert request.headers["user-agent"] == USER_AGENT


def test_code_execute_request_is_exactly_the_tutorials():
    request = first_request(Flows(URL).execute_flow(HELLO, "user-42"))
    assert request.method == "POST"
    assert str(request.url) == f"{URL}/code/execute?api-version={LEGACY}&identifier=user-42"
    assert json.loads(request.content) == {
        "properties": {"codeInputType": "inline", "executionType": "synchronous", "code": HELLO, "timeoutInSeconds": 60}
    }


@pytest.mark.parametrize("version", ["2024-10-02-preview", "2025-02-02-preview", LATEST])
def test_executions_request_is_exactly_the_specs(version):
    request = first_request(Flows(URL, api_version=version).execute_flow(HELLO, "s-2", 90))
    assert (request.method, request.url.path) == ("POST", "/executions")
    assert dict(request.url.params) == {"api-version": version, "identifier": "s-2"}
    assert json.loads(request.content) == {
        "codeInputType": "Inline",
        "executionType": "Synchronous",
        "code": HELLO,
        "timeoutInSeconds": 90,
    }


def test_the_answer_is_parsed_into_a_result():
    flow = Flows(URL).execute_flow(HELLO, "s")
    request = first_request(flow)
    result = finish(flow, answer(request, body=legacy_ok().body))
    assert result.succeeded and result.stdout == "hello-world\n" and result.status == "Success"


def test_a_running_execution_is_paused_then_polled_at_its_id_until_it_ends():
    flow = Flows(URL, api_version=LATEST).execute_flow(HELLO, "s")
    request = first_request(flow)
    running = {"id": "exec-1", "status": "Running", "result": None}
    pause = flow.send(answer(request, body=running))
    assert pause == Pause(POLL_INTERVAL_S)
    assert flow.send(None) is TOKEN
    poll = flow.send("tok")
    assert isinstance(poll, httpx.Request)
    assert (poll.method, poll.url.path) == ("GET", "/executions/exec-1")
    result = finish(flow, answer(poll, body=executions_ok().body))
    assert result.succeeded


def test_an_execution_given_a_longer_timeout_reads_longer_than_the_client():
    flows = Flows(URL, api_version=LATEST, execution_timeout_s=60)
    request = first_request(flows.execute_flow(HELLO, "s", 200))
    assert request.extensions["timeout"]["read"] == 230.0
    assert request.extensions["timeout"]["connect"] == 10.0
    default = first_request(flows.execute_flow(HELLO, "s"))
    assert default.extensions["timeout"]["read"] == 90.0


def test_a_deadline_cuts_every_timeout_of_a_request():
    import time

    flows = Flows(URL)
    flows.deadline = time.monotonic() + 2.0
    timeouts = first_request(flows.execute_flow(HELLO, "s")).extensions["timeout"]
    assert 0 < timeouts["read"] <= 2.0 and 0 < timeouts["connect"] <= 2.0


@pytest.mark.parametrize("timeout_s", [0, -5, 221])
def test_an_execution_timeout_outside_azures_range_is_refused_before_any_step(timeout_s):
    with pytest.raises(ConfigurationError, match=rf"timeout_s={timeout_s} is not allowed: 1\.\.220"):
        next(Flows(URL).execute_flow(HELLO, "s", timeout_s))
    with pytest.raises(ConfigurationError, match=r"execution_timeout_s"):
        Flows(URL, execution_timeout_s=timeout_s)


@pytest.mark.parametrize("version", SUPPORTED_API_VERSIONS)
def test_release_is_a_delete_of_the_session_at_a_version_that_has_it(version):
    flow = Flows(URL, api_version=version).release_flow("s-9")
    request = first_request(flow)
    expected = version if version >= "2025-02-02-preview" else "2025-02-02-preview"
    assert (request.method, request.url.path, request.url.params["api-version"]) == ("DELETE", "/session", expected)
    assert finish(flow, answer(request, 204)) is True


def test_release_of_an_unknown_session_is_false():
    flow = Flows(URL).release_flow("gone")
    assert finish(flow, answer(first_request(flow), 404)) is False


def test_get_session_is_read_and_none_when_there_is_none():
    flow = Flows(URL, api_version=LATEST).get_session_flow("s")
    request = first_request(flow)
    assert (request.method, request.url.path) == ("GET", "/session")
    body = {"identifier": "s", "createdAt": "c", "lastAccessedAt": "l", "expireAt": "e", "etag": "t"}
    info = finish(flow, answer(request, body=body))
    assert (info.identifier, info.expire_at, info.etag) == ("s", "e", "t")
    flow = Flows(URL, api_version=LATEST).get_session_flow("s")
    assert finish(flow, answer(first_request(flow), 404)) is None


def test_list_sessions_follows_next_links_on_the_pools_own_origin_with_the_same_token():
    flow = Flows(URL, api_version=LATEST).list_sessions_flow()
    request = first_request(flow, "tok-1")
    assert request.url.path == "/listSessions" and "identifier" not in request.url.params
    page_1 = {"sessions": [{"identifier": "a"}], "nextLink": f"{URL}/listSessions?page=2"}
    second = flow.send(answer(request, body=page_1))
    assert isinstance(second, httpx.Request)
    assert second.url.params["page"] == "2" and second.url.params["api-version"] == LATEST
    assert second.headers["authorization"] == "Bearer tok-1"
    sessions = finish(flow, answer(second, body={"sessions": [{"identifier": "b"}]}))
    assert [s.identifier for s in sessions] == ["a", "b"]


def test_list_sessions_refuses_a_next_link_to_another_host_before_the_token_goes_there():
    flow = Flows(URL, api_version=LATEST).list_sessions_flow()
    request = first_request(flow)
    page = {"sessions": [], "nextLink": "https://elsewhere.example.com/steal"}
    with pytest.raises(UnexpectedResponse, match=r"elsewhere.example.com"):
        flow.send(answer(request, body=page))


@pytest.mark.parametrize(
    ("version", "upload", "listing", "content"),
    [
        (LEGACY, "/files/upload", "/files", "/files/content/a%20b.txt"),
        (LATEST, "/files", "/files", "/files/a%20b.txt/content"),
    ],
)
def test_files_use_each_contracts_routes(version, upload, listing, content):
    flows = Flows(URL, api_version=version)
    up = first_request(flows.upload_file_flow("s", "a b.txt", b"data"))
    assert (up.method, up.url.path) == ("POST", upload)
    assert b'filename="a b.txt"' in up.read() and b"data" in up.content
    assert first_request(flows.list_files_flow("s")).url.path == listing
    down = first_request(flows.download_file_flow("s", "a b.txt"))
    assert (down.method, down.url.raw_path.split(b"?")[0].decode()) == ("GET", content)


def test_a_missing_file_is_not_found_naming_it_and_its_session():
    from dynamic_sessions.client.errors import NotFound

    flow = Flows(URL).download_file_flow("user-42", "report.csv")
    request = first_request(flow)
    with pytest.raises(NotFound, match=r"file 'report.csv' in /mnt/data of session 'user-42' does not exist"):
        flow.send(answer(request, 404, body={"error": {"message": "no file"}}))


def test_delete_file_is_a_delete_of_the_files_route_and_false_when_missing():
    flow = Flows(URL, api_version=LATEST).delete_file_flow("s", "x.txt")
    request = first_request(flow)
    assert (request.method, request.url.path) == ("DELETE", "/files/x.txt")
    assert finish(flow, answer(request, 404)) is False


@pytest.mark.parametrize(
    ("version", "operation", "args"),
    [
        (LEGACY, "delete_file_flow", ("s", "x")),
        (LEGACY, "get_session_flow", ("s",)),
        ("2024-10-02-preview", "list_sessions_flow", ()),
        ("2024-10-02-preview", "run_command_flow", ("ls", "s")),
    ],
)
def test_an_operation_the_version_lacks_is_not_supported_before_any_step(version, operation, args):
    flow = getattr(Flows(URL, api_version=version), operation)(*args)
    with pytest.raises(NotSupported, match=f"needs api version .*2025-10-02-preview; this client speaks {version}"):
        next(flow)


def test_run_command_sends_the_shell_body_and_reads_the_exit_code():
    flow = Flows(URL, api_version=LATEST).run_command_flow(["printf", "%s", "a b"], "agent-1", 30)
    request = first_request(flow)
    assert json.loads(request.content) == {"execCommandAndArgs": ["printf", "%s", "a b"], "timeoutInSeconds": 30}
    body = {"status": "Succeeded", "exitCode": 0, "result": {"stdout": "a b", "stderr": ""}}
    result = finish(flow, answer(request, body=body))
    assert result.succeeded and result.exit_code == 0 and result.stdout == "a b"


def test_html_instead_of_json_is_an_unexpected_response():
    flow = Flows(URL).execute_flow(HELLO, "s")
    request = first_request(flow)
    page = httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}, request=request)
    with pytest.raises(UnexpectedResponse, match=r"HTTP 200 with a body that is not JSON \(text/html\)"):
        flow.send(page)


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("ftp://pool", "is not an http"),
        ("http://pool.example.com", "plain http on a non-loopback host"),
        ("https://pool.example.com?x=1", "query or fragment"),
    ],
)
def test_bad_endpoints_are_refused_by_name(endpoint, message):
    with pytest.raises(ConfigurationError, match=message):
        Flows(endpoint)


def test_an_unknown_api_version_lists_the_supported_ones():
    with pytest.raises(ConfigurationError, match=r"2099-01-01.*use one of: 2024-02-02-preview"):
        Flows(URL, api_version="2099-01-01")


def test_trailing_slashes_of_the_endpoint_are_dropped():
    request = first_request(Flows(URL + "//").execute_flow(HELLO, "s"))
    assert str(request.url).startswith(f"{URL}/code/execute?")
