"""The one HTTP core: every error mapping (status, x-ms-error-code, message, trace id; never the token) for the pool
and for Azure Resource Manager, missing answers, timeouts, TLS verification and the User-Agent."""

import email.utils
import ssl
import time

import httpx
import pytest

from dynamic_sessions import __version__
from dynamic_sessions.client import errors
from dynamic_sessions.client import http as core
from dynamic_sessions.client.arm import ARM

TOKEN = "Bearer super-secret-token"


def answer(status: int, body: object = None, text: str | None = None, **headers: str) -> httpx.Response:
    request = httpx.Request("GET", "https://pool.example.com/x", headers={"Authorization": TOKEN})
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


POOL_KINDS = [
    (400, errors.RequestRejected),
    (401, errors.AccessDenied),
    (403, errors.AccessDenied),
    (404, errors.NotFound),
    (409, errors.RequestRejected),
    (429, errors.Throttled),
    (500, errors.ServiceUnavailable),
    (503, errors.ServiceUnavailable),
]


@pytest.mark.parametrize(("status", "kind"), POOL_KINDS)
def test_each_status_of_the_pool_is_its_typed_error_with_code_message_and_trace(status, kind):
    body = {"error": {"code": "Body", "message": "it went wrong"}, "traceId": "trace-123"}
    error = core.error_from(answer(status, body, **{"x-ms-error-code": "HeaderCode"}))
    assert type(error) is kind
    assert (error.status, error.error_code, error.message, error.trace_id) == (
        status,
        "HeaderCode",
        "it went wrong",
        "trace-123",
    )
    assert str(error) == f"HTTP {status} HeaderCode: it went wrong (trace id trace-123)"
    assert "super-secret-token" not in str(error) and "super-secret-token" not in repr(error.__dict__)


ARM_KINDS = [
    (400, errors.ArmRequestRejected, errors.RequestRejected),
    (403, errors.ArmAccessDenied, errors.AccessDenied),
    (404, errors.ArmNotFound, errors.NotFound),
    (429, errors.ArmThrottled, errors.Throttled),
    (502, errors.ArmServiceUnavailable, errors.ServiceUnavailable),
]


@pytest.mark.parametrize(("status", "kind", "caught_as"), ARM_KINDS)
def test_each_status_of_resource_manager_is_an_arm_error_still_caught_as_before(status, kind, caught_as):
    body = {"error": {"code": "AuthorizationFailed", "message": "no"}}
    error = core.error_from(
        answer(status, body, **{"x-ms-correlation-request-id": "corr-1", "x-ms-request-id": "req-1"}), ARM
    )
    assert type(error) is kind
    assert isinstance(error, caught_as) and isinstance(error, errors.ArmError)
    assert isinstance(error, errors.DataPlaneError)
    assert (error.error_code, error.trace_id) == ("AuthorizationFailed", "corr-1")


def test_the_pools_trace_id_falls_back_to_its_request_id_header():
    assert core.error_from(answer(500, {}, **{"x-ms-request-id": "req-9"})).trace_id == "req-9"


def test_the_error_code_falls_back_to_the_bodys():
    assert core.error_from(answer(400, {"error": {"code": "BadBody"}})).error_code == "BadBody"


def test_a_failure_cause_header_is_added_to_the_message():
    error = core.error_from(answer(403, {"error": {"message": "no"}}, **{"x-ms-failure-cause": "gateway"}), ARM)
    assert error.message == "no (failure cause: gateway)"


@pytest.mark.parametrize("words", ["the pool is full", "no capacity left", "No session available", "exhausted"])
def test_a_404_saying_the_pool_is_full_is_throttled(words):
    assert type(core.error_from(answer(404, {"message": words}))) is errors.Throttled


def test_a_404_of_resource_manager_is_never_pool_full():
    assert type(core.error_from(answer(404, {"error": {"message": "capacity"}}), ARM)) is errors.ArmNotFound


def test_a_404_names_its_subject():
    error = core.error_from(answer(404, {"error": {"message": "gone"}}), subject="file 'a' in /mnt/data")
    assert error.message == "file 'a' in /mnt/data does not exist (gone)"


def test_a_body_that_is_not_json_gives_its_first_characters_or_the_reason():
    assert core.error_from(answer(502, text="upstream broke")).message == "Bad Gateway"
    assert core.error_from(answer(599, text="upstream broke")).message == "upstream broke"


@pytest.mark.parametrize(("value", "expected"), [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), ("", None)])
def test_retry_after_in_seconds(value, expected):
    assert core.retry_after(answer(429, {}, **({"retry-after": value} if value else {}))) == expected


def test_retry_after_as_an_http_date():
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= (core.retry_after(answer(429, {}, **{"retry-after": later})) or 0) <= 60


def test_a_refused_connection_on_loopback_says_how_to_start_the_emulator():
    error = core.unreachable(httpx.ConnectError("[Errno 111] Connection refused"), "http://127.0.0.1:8480")
    assert type(error) is errors.ConnectFailed
    assert str(error).startswith("nothing is listening at http://127.0.0.1:8480 (ConnectError: [Errno 111]")
    assert str(error).endswith("start the emulator there: dynamic-sessions-emulator --port 8480")
    assert (error.endpoint, error.reason) == ("http://127.0.0.1:8480", "ConnectError: [Errno 111] Connection refused")


def test_a_refused_connection_elsewhere_names_the_stack_output():
    error = core.unreachable(httpx.ConnectTimeout("timed out"), "https://pool.example.com")
    assert type(error) is errors.ConnectFailed and "poolManagementEndpoint" in str(error)


def test_a_connection_without_an_answer_is_unreachable_not_connect_failed():
    error = core.unreachable(httpx.ReadTimeout("slow"), "https://pool.example.com")
    assert type(error) is errors.UnreachableError
    assert str(error) == "no answer from https://pool.example.com (ReadTimeout: slow)"


def test_resource_manager_unreachable_errors_say_so():
    refused = core.unreachable(httpx.ConnectError("refused"), "https://management.azure.com", ARM)
    silent = core.unreachable(httpx.ReadError("reset"), "https://management.azure.com", ARM)
    assert type(refused) is errors.ArmConnectFailed and "--arm-endpoint" in str(refused)
    assert type(silent) is errors.ArmUnreachable
    assert str(silent) == "no answer from Azure Resource Manager at https://management.azure.com (ReadError: reset)"


def test_every_timeout_has_the_one_connect_timeout():
    limits = core.timeout(42.0)
    assert (limits.connect, limits.read, limits.write, limits.pool) == (core.CONNECT_TIMEOUT_S, 42.0, 10.0, 10.0)


def test_bounded_sets_the_limits_or_cuts_them_to_the_deadline():
    request = core.bounded(httpx.Request("GET", "https://x"), core.timeout(90), None)
    assert request.extensions["timeout"] == core.timeout(90).as_dict()
    request = core.bounded(httpx.Request("GET", "https://x"), core.timeout(90), time.monotonic() + 3)
    assert request.extensions["timeout"]["read"] <= 3 and request.extensions["timeout"]["connect"] <= 3
    late = core.bounded(httpx.Request("GET", "https://x"), core.timeout(90), time.monotonic() - 5)
    assert late.extensions["timeout"]["read"] == 0.1


def test_the_user_agent_names_the_package_and_httpx():
    assert f"dynamic-sessions-client/{__version__} python-httpx/{httpx.__version__}" == core.USER_AGENT


def test_the_plain_http_context_trusts_no_one_and_https_uses_the_bundle():
    context = core.tls_verify("http://127.0.0.1:8480")
    assert core.tls_verify("https://pool.example.com") is True
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs() == []


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://pool.example.com/", True),
        ("http://127.0.0.1:8480", True),
        ("http://localhost:1", True),
        ("http://[::1]:1", True),
        ("http://10.0.0.1", False),
        ("ftp://pool", False),
        ("pool.example.com", False),
    ],
)
def test_only_https_or_loopback_http_may_carry_a_token(url, ok):
    if ok:
        assert core.checked_http_url(url, "endpoint", "forms") == url.rstrip("/")
    else:
        with pytest.raises(errors.ConfigurationError, match=r"endpoint .* forms"):
            core.checked_http_url(url, "endpoint", "forms")


def test_new_clients_take_the_limits_and_verify_as_their_endpoint_says():
    with core.sync_client("https://pool.example.com", core.timeout(5)) as client:
        assert client.timeout.read == 5
    import asyncio

    async def make() -> float | None:
        async with core.async_client("http://127.0.0.1:1", core.timeout(7)) as client:
            return client.timeout.read

    assert asyncio.run(make()) == 7


def test_json_of_a_successful_answer_and_the_error_of_a_failed_one():
    assert core.json_of(answer(200, {"a": 1})) == {"a": 1}
    with pytest.raises(errors.Throttled):
        core.json_of(answer(429, {}))
    with pytest.raises(errors.UnexpectedResponse, match=r"Azure Resource Manager answered HTTP 200"):
        core.json_of(answer(200, text="<html>"), ARM)
