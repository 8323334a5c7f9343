"""Browser cookie mode: the refresh token only in a __Host- cookie, CSRF defence for the
requests it authenticates, CORS for the allowed origins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.stack import HttpAnswer, Stack
from tests.helpers import PASSWORD, assert_error, register

APP = "https://app.example.com"
EVIL = "https://evil.example.net"
BROWSER = {"origin": APP, "x-requested-with": "fetch"}


@pytest.fixture
def cookie_stack(stack_with: Callable[..., Stack]) -> Stack:
    stack = stack_with(
        REFRESH_TOKEN_TRANSPORT="cookie", ALLOWED_ORIGINS=f"{APP},http://localhost:5173"
    )
    register(stack)
    return stack


def cookies_of(answer: HttpAnswer) -> dict[str, dict[str, str]]:
    """The answer's Set-Cookie headers by cookie name, their attributes parsed."""
    found = {}
    for cookie in answer.cookies:
        name_value, *attributes = [part.strip() for part in cookie.split(";")]
        name, _, value = name_value.partition("=")
        parsed = {"name": name, "value": value}
        for attribute in attributes:
            key, _, setting = attribute.partition("=")
            parsed[key.lower()] = setting or "true"
        found[name] = parsed
    return found


def cookie_of(answer: HttpAnswer, name: str = "__Host-refresh_token") -> dict[str, str]:
    return cookies_of(answer)[name]


def with_cookie(value: str, **headers: str) -> dict[str, str]:
    return {"cookie": f"theme=dark; __Host-refresh_token={value}", **headers}


def browser_login(stack: Stack) -> tuple[dict[str, Any], dict[str, str]]:
    answer = stack.http(
        "POST", "/auth/login", {"username": "ada", "password": PASSWORD}, headers=BROWSER
    )
    assert answer.status == 200
    return answer.json(), cookie_of(answer)


def test_login_sets_the_refresh_token_only_in_a_host_cookie(cookie_stack: Stack) -> None:
    body, cookie = browser_login(cookie_stack)
    assert "refresh_token" not in body
    assert cookie["name"] == "__Host-refresh_token"
    assert cookie["value"].startswith("rt2.")
    assert {"secure", "httponly"} <= set(cookie)
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert "domain" not in cookie
    assert int(cookie["max-age"]) == body["refresh_expires_in"]


def test_login_sets_the_device_token_only_in_a_host_cookie(cookie_stack: Stack) -> None:
    answer = cookie_stack.http(
        "POST", "/auth/login", {"username": "ada", "password": PASSWORD}, headers=BROWSER
    )
    device = cookie_of(answer, "__Host-device_token")
    assert "device_token" not in answer.json()
    assert device["value"].startswith("dt2.")
    assert {"secure", "httponly"} <= set(device)
    assert (device["samesite"], device["path"]) == ("Strict", "/")
    assert int(device["max-age"]) == 180 * 86_400


def test_refresh_by_cookie_from_an_allowed_origin_with_the_header_rotates_it(
    cookie_stack: Stack,
) -> None:
    _, cookie = browser_login(cookie_stack)
    answer = cookie_stack.http(
        "POST", "/auth/refresh", headers=with_cookie(cookie["value"], **BROWSER)
    )
    assert answer.status == 200
    assert "refresh_token" not in answer.json()
    rotated = cookie_of(answer)["value"]
    assert rotated != cookie["value"]
    assert answer.headers["access-control-allow-origin"] == APP
    assert answer.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-requested-with": "fetch"},  # no Origin
        {"origin": EVIL, "x-requested-with": "fetch"},  # another origin
        {"origin": APP},  # no CSRF header
        {"origin": "null", "x-requested-with": "fetch"},  # sandboxed frame
    ],
)
def test_cookie_requests_without_origin_and_header_are_forbidden(
    cookie_stack: Stack, headers: dict[str, str]
) -> None:
    _, cookie = browser_login(cookie_stack)
    for path in ("/auth/refresh", "/auth/logout"):
        answer = cookie_stack.http("POST", path, headers=with_cookie(cookie["value"], **headers))
        assert_error(answer, 403, "forbidden")
    # and the session was not touched
    again = cookie_stack.http(
        "POST", "/auth/refresh", headers=with_cookie(cookie["value"], **BROWSER)
    )
    assert again.status == 200


def test_the_body_does_not_carry_refresh_tokens_in_cookie_mode(cookie_stack: Stack) -> None:
    _, cookie = browser_login(cookie_stack)
    answer = cookie_stack.http(
        "POST", "/auth/refresh", {"refresh_token": cookie["value"]}, headers=BROWSER
    )
    assert_error(answer, 401, "invalid_grant")


def test_logout_clears_the_cookie_and_the_next_refresh_fails(cookie_stack: Stack) -> None:
    _, cookie = browser_login(cookie_stack)
    out = cookie_stack.http("POST", "/auth/logout", headers=with_cookie(cookie["value"], **BROWSER))
    assert out.status == 204
    cleared = cookie_of(out)
    assert (cleared["value"], cleared["max-age"]) == ("", "0")
    answer = cookie_stack.http(
        "POST", "/auth/refresh", headers=with_cookie(cookie["value"], **BROWSER)
    )
    assert_error(answer, 401, "invalid_grant")
    # a refused cookie is cleared too
    assert cookie_of(answer)["max-age"] == "0"


def test_both_mode_accepts_body_and_cookie(stack_with: Callable[..., Stack]) -> None:
    stack = stack_with(REFRESH_TOKEN_TRANSPORT="both", ALLOWED_ORIGINS=APP)
    register(stack)
    answer = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    body, cookie = answer.json(), cookie_of(answer)
    assert body["refresh_token"] == cookie["value"]
    by_body = stack.http("POST", "/auth/refresh", {"refresh_token": body["refresh_token"]})
    assert by_body.status == 200
    by_cookie = stack.http(
        "POST", "/auth/refresh", headers=with_cookie(cookie_of(by_body)["value"], **BROWSER)
    )
    assert by_cookie.status == 200


def test_body_mode_sets_no_cookie_and_ignores_one(stack: Stack) -> None:
    register(stack)
    answer = stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert answer.cookies == []
    ignored = stack.http(
        "POST", "/auth/refresh", headers=with_cookie(answer.json()["refresh_token"], **BROWSER)
    )
    assert_error(ignored, 401, "invalid_grant")


PREFLIGHTS = [
    ("/auth/refresh", "POST", "x-requested-with"),
    ("/auth/session", "GET", "authorization"),
    ("/auth/sessions/5c1f0c59-3c2d-4d8e-9a51-2f7c3e1b8a90", "DELETE", "authorization"),
]


@pytest.mark.parametrize(("path", "method", "header"), PREFLIGHTS)
def test_a_preflight_reaches_the_function_as_on_aws_and_gets_the_cors_headers(
    cookie_stack: Stack, path: str, method: str, header: str
) -> None:
    # API Gateway routes OPTIONS like any method (the OPTIONS route, else $default), with
    # no authorizer on the way; the function's 2xx gets the configured CORS headers
    ask = {"access-control-request-method": method, "access-control-request-headers": header}
    answer = cookie_stack.http("OPTIONS", path, headers={"origin": APP, **ask})
    assert answer.status == 204
    assert answer.raw.body == b""
    assert answer.headers["x-content-type-options"] == "nosniff"  # the function's answer
    assert answer.headers["access-control-allow-origin"] == APP
    assert method in answer.headers["access-control-allow-methods"].split(",")
    assert header in answer.headers["access-control-allow-headers"].split(",")


def test_without_allowed_origins_a_preflight_gets_no_cors_headers(stack: Stack) -> None:
    ask = {"origin": APP, "access-control-request-method": "POST"}
    answer = stack.http("OPTIONS", "/auth/login", headers=ask)
    assert answer.status == 204
    assert not [name for name in answer.headers if name.startswith("access-control-")]


def test_an_options_request_that_is_no_preflight_is_not_found(cookie_stack: Stack) -> None:
    assert_error(
        cookie_stack.http("OPTIONS", "/auth/login", headers={"origin": APP}), 404, "not_found"
    )


def test_preflight_is_answered_for_allowed_origins_only(cookie_stack: Stack) -> None:
    ask = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "x-requested-with",
    }
    allowed = cookie_stack.http("OPTIONS", "/auth/refresh", headers={"origin": APP, **ask})
    assert allowed.status == 204
    assert allowed.headers["access-control-allow-origin"] == APP
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "x-requested-with" in allowed.headers["access-control-allow-headers"]
    refused = cookie_stack.http("OPTIONS", "/auth/refresh", headers={"origin": EVIL, **ask})
    assert "access-control-allow-origin" not in refused.headers
    plain = cookie_stack.http("GET", "/.well-known/jwks.json", headers={"origin": EVIL})
    assert "access-control-allow-origin" not in plain.headers


@pytest.mark.parametrize(
    "headers",
    [{"origin": EVIL, "x-requested-with": "fetch"}, {"origin": APP}],
    ids=["evil", "no-header"],
)
def test_a_cross_site_login_cannot_plant_a_session_cookie(
    cookie_stack: Stack, headers: dict[str, str]
) -> None:
    # Login CSRF: a form elsewhere posting the attacker's credentials to our login.
    answer = cookie_stack.http(
        "POST", "/auth/login", {"username": "ada", "password": PASSWORD}, headers=headers
    )
    assert_error(answer, 403, "forbidden")
    assert answer.cookies == []


def test_a_login_without_an_origin_is_not_a_browser_and_is_answered(cookie_stack: Stack) -> None:
    answer = cookie_stack.http("POST", "/auth/login", {"username": "ada", "password": PASSWORD})
    assert answer.status == 200


def test_logging_in_again_ends_the_session_the_cookie_held(cookie_stack: Stack) -> None:
    first_body, first_cookie = browser_login(cookie_stack)
    again = cookie_stack.http(
        "POST",
        "/auth/login",
        {"username": "ada", "password": PASSWORD},
        headers=with_cookie(first_cookie["value"], **BROWSER),
    )
    assert again.status == 200
    old = cookie_stack.http(
        "GET", "/auth/session", headers={"authorization": f"Bearer {first_body['access_token']}"}
    )
    assert_error(old, 401, "invalid_token")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/reauth", {"password": "not the password"}),
        ("/auth/password", {"current_password": "not the password", "new_password": "x" * 9}),
    ],
)
def test_a_mistyped_password_elsewhere_leaves_the_refresh_cookie_alone(
    cookie_stack: Stack, path: str, body: dict[str, str]
) -> None:
    # The cookie goes with every request (Path=/): only a refused refresh token clears it
    tokens, cookie = browser_login(cookie_stack)
    headers = with_cookie(
        cookie["value"], **BROWSER, authorization=f"Bearer {tokens['access_token']}"
    )
    answer = cookie_stack.http("POST", path, body, headers=headers)
    assert_error(answer, 401, "invalid_grant")
    assert "__Host-refresh_token" not in cookies_of(answer)
    refreshed = cookie_stack.http(
        "POST", "/auth/refresh", headers=with_cookie(cookie["value"], **BROWSER)
    )
    assert refreshed.status == 200
