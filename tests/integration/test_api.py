"""The API function behind API Gateway's routing and our authorizer, on moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from harness.stack import ISSUER, LambdaContext, Stack, sample_event
from local_run.api_definition import http_api
from local_run.expansion import deployed_template
from tests.helpers import PASSWORD, assert_error, bearer, login, register


@pytest.fixture
def stack(stack_with: Callable[..., Stack]) -> Stack:
    """A token exchanged again here is reuse at once: no grace window (its default is 10 s,
    for a client whose answer was lost: test_lost_answers.py)."""
    return stack_with(REFRESH_REUSE_GRACE_SECONDS="0")


def test_register_login_refresh_logout(stack: Stack) -> None:
    # Given a registered user
    user_id = register(stack)
    # When they log in
    tokens = login(stack, "ADA")
    # Then they get the contract's token response
    assert set(tokens) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
        "session_id",
        "device_token",
    }
    assert tokens["token_type"] == "Bearer"
    session = stack.http("GET", "/auth/session", headers=bearer(tokens["access_token"]))
    assert session.status == 200
    assert session.json()["user_id"] == user_id
    assert session.json()["current"] is True
    assert session.json()["ip"] == "198.51.100.1"
    # And a refresh rotates, then logout ends the session
    refreshed = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refreshed.status == 200
    new_tokens = refreshed.json()
    assert new_tokens["session_id"] == tokens["session_id"]
    out = stack.http("POST", "/auth/logout", headers=bearer(new_tokens["access_token"]))
    assert out.status == 204
    after = stack.http("GET", "/auth/session", headers=bearer(new_tokens["access_token"]))
    assert_error(after, 401, "invalid_token")


def test_token_responses_are_not_cached_and_all_responses_carry_security_headers(
    stack: Stack,
) -> None:
    register(stack)
    answer = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["pragma"] == "no-cache"
    for response in (answer, stack.http("GET", "/nowhere")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "max-age=" in response.headers["strict-transport-security"]


def test_reusing_a_rotated_refresh_token_revokes_the_session(stack: Stack) -> None:
    register(stack)
    tokens = login(stack)
    rotated = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]}).json()
    reused = stack.http("POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert_error(reused, 401, "invalid_grant")
    # the legitimate holder's tokens die with the session
    assert_error(
        stack.http("POST", "/auth/refresh", {"refresh_token": rotated["refresh_token"]}),
        401,
        "invalid_grant",
    )
    assert_error(
        stack.http("GET", "/auth/session", headers=bearer(rotated["access_token"])),
        401,
        "invalid_token",
    )


def test_register_twice_is_a_conflict(stack: Stack) -> None:
    register(stack, "ada")
    answer = stack.http("POST", "/auth/register", {"username": "ADA", "password": PASSWORD})
    assert_error(answer, 409, "conflict")


def test_wrong_password_and_unknown_user_get_the_same_answer(stack: Stack) -> None:
    register(stack)
    wrong = stack.http("POST", "/auth/login", {"username": "ada", "password": "not the password"})
    unknown = stack.http("POST", "/auth/login", {"username": "bob", "password": PASSWORD})
    assert_error(wrong, 401, "invalid_grant")
    assert wrong.json() == unknown.json()


def test_jwks_and_discovery_describe_the_signing_key(stack: Stack) -> None:
    register(stack)
    tokens = login(stack)
    keys = stack.http("GET", "/.well-known/jwks.json").json()["keys"]
    discovery = stack.http("GET", "/.well-known/openid-configuration").json()
    assert discovery["issuer"] == ISSUER
    assert discovery["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    # Then a third party can verify our token from the JWKS alone
    jwk_set = jwt.PyJWKSet.from_dict({"keys": keys})
    kid = jwt.get_unverified_header(tokens["access_token"])["kid"]
    claims = jwt.decode(
        tokens["access_token"], jwk_set[kid].key, algorithms=["RS256"], audience="session-service"
    )
    assert claims["sid"] == tokens["session_id"]
    assert all(key["use"] == "sig" and "d" not in key for key in keys)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/login", "{not json"),
        ("/auth/login", "[]"),
        ("/auth/login", '"text"'),
        ("/auth/login", "null"),
        ("/auth/login", ""),
        ("/auth/login", {"username": "ada"}),
        ("/auth/login", {"username": 5, "password": PASSWORD}),
        ("/auth/login", {"username": "ada", "password": ["x"]}),
        ("/auth/login", {"username": "a", "password": PASSWORD}),
        ("/auth/login", {"username": "ada lovelace", "password": PASSWORD}),
        ("/auth/login", {"username": "ada", "password": "short"}),
        ("/auth/register", {"username": "ada", "password": "x" * 1025}),
        ("/auth/register", '{"username": "ada", "password": "\\ud800\\ud800\\ud800\\ud800"}'),
        ("/auth/refresh", {"refresh_token": 12}),
        ("/auth/refresh", [None]),
        ("/auth/logout", [None, None]),
        ("/auth/logout", {"refresh_token": ""}),
    ],
)
def test_malformed_requests_get_invalid_request(stack: Stack, path: str, body: Any) -> None:
    answer = stack.http("POST", path, body)
    assert_error(answer, 400, "invalid_request")
    assert PASSWORD not in answer.raw.body.decode()


@pytest.mark.parametrize(
    ("path", "code"), [("/auth/refresh", "invalid_grant"), ("/auth/logout", "invalid_token")]
)
def test_no_credentials_at_all_is_401(stack: Stack, path: str, code: str) -> None:
    # The body is optional (the token may be in a cookie or a header): nothing presented
    # is a failed authentication, not a malformed request. Refresh wants a refresh token
    # (invalid_grant); logout names its session by the access token first (invalid_token).
    answer = stack.http("POST", path, {})
    assert_error(answer, 401, code)


def test_bodies_over_16_kib_get_413(stack: Stack) -> None:
    body = json.dumps({"username": "ada", "password": "x" * (16 * 1024)})
    assert_error(stack.http("POST", "/auth/login", body), 413, "payload_too_large")


def test_binary_bodies_arrive_base64_encoded_and_are_decoded(stack: Stack) -> None:
    # API Gateway base64-encodes a body whose content type is not text.
    register(stack)
    raw = json.dumps({"username": "ada", "password": PASSWORD}).encode()
    octets = {"content-type": "application/octet-stream"}
    assert stack.http("POST", "/auth/login", raw, headers=octets).status == 200
    oversized = json.dumps({"username": "ada", "password": "x" * 17_000}).encode()
    assert_error(
        stack.http("POST", "/auth/login", oversized, headers=octets), 413, "payload_too_large"
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/auth"),
        ("DELETE", "/auth/login"),
        ("GET", "/auth/register"),
        ("PUT", "/x/y"),
    ],
)
def test_unknown_routes_get_404_in_the_contract_shape(stack: Stack, method: str, path: str) -> None:
    assert_error(stack.http(method, path), 404, "not_found")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Basic YWRhOnB3",
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer " + "x" * 5000,
    ],
)
def test_bad_bearer_tokens_get_invalid_token(stack: Stack, authorization: str | None) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    answer = stack.http("GET", "/auth/session", headers=headers)
    assert_error(answer, 401, "invalid_token")
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_refresh_with_garbage_is_invalid_grant(stack: Stack) -> None:
    answer = stack.http("POST", "/auth/refresh", {"refresh_token": "rt1.garbage"})
    assert_error(answer, 401, "invalid_grant")


def test_an_access_token_is_not_a_refresh_token_nor_the_reverse(stack: Stack) -> None:
    register(stack)
    tokens = login(stack)
    as_refresh = stack.http(
        "POST", "/auth/refresh", {"refresh_token": tokens["access_token"][:512]}
    )
    # Well-formed as a string of at most 512 characters, but not a refresh token.
    assert_error(as_refresh, 401, "invalid_grant")
    as_access = stack.http("GET", "/auth/session", headers=bearer(tokens["refresh_token"]))
    assert_error(as_access, 401, "invalid_token")


BEARER_ROUTES = [
    (
        route.method,
        route.path.replace("{session_id}", "00000000-0000-4000-8000-000000000000")
        .replace("{identity_id}", "00000000-0000-4000-8000-000000000000")
        .replace("{provider_id}", "google"),
    )
    for route in http_api(deployed_template()).routes
    if route.authorizer and route.authorizer != "AWS_IAM"
]


# A body every Bearer route's schema accepts (each ignores the others' fields), so that
# what refuses the request is the missing verdict, never the body.
VALID_FOR_EVERY_ROUTE: dict[str, object] = {
    "current_password": PASSWORD,
    "new_password": "another passphrase",
    "password": PASSWORD,
    "code": "123456",
    "email": "ada@example.com",
    "return_to": "https://app.example.com/",
}
# A passkey's registration, well formed (it proves nothing): the route's own body.
WELL_FORMED_REGISTRATION: dict[str, object] = {
    "credential": {
        "id": "AAAA",
        "rawId": "AAAA",
        "type": "public-key",
        "response": {"clientDataJSON": "e30", "attestationObject": "AAAA"},
    }
}


def _valid_body(method: str, path: str) -> dict[str, object] | None:
    if method == "PATCH":
        return {"name": "Laptop"}  # a passkey's new name
    if method != "POST":
        return None
    return WELL_FORMED_REGISTRATION if path == "/auth/passkeys" else VALID_FOR_EVERY_ROUTE


@pytest.mark.parametrize(("method", "path"), BEARER_ROUTES)
def test_every_bearer_route_refuses_a_bad_token(stack: Stack, method: str, path: str) -> None:
    # Our authorizer lets requests through with its verdict for the handler to render;
    # every handler behind it must refuse, the next one added included.
    answer = stack.http(method, path, _valid_body(method, path), headers=bearer("x.y.z"))
    assert_error(answer, 401, "invalid_token")


@pytest.mark.parametrize(("method", "path"), BEARER_ROUTES)
def test_every_bearer_route_refuses_a_request_that_skipped_the_authorizer(
    stack: Stack, method: str, path: str
) -> None:
    # Invoked directly (no authorizer context at all): refused, not served.
    register(stack)
    event = sample_event("api/current-session.json")
    event["requestContext"].pop("authorizer")
    event["requestContext"]["http"]["method"] = method
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["body"] = json.dumps(_valid_body(method, path))
    result = stack.function("ApiFunction").lambda_handler(event, LambdaContext())
    assert result["statusCode"] == 401
    assert json.loads(result["body"])["error"] == "invalid_token"
