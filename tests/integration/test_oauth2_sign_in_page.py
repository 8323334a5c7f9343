"""The central sign-in page through the in-process stack, as a browser without script
would use it: the form, then the second factor's code when the account has one, then
back to the app's authorization request with the central session's cookie."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

from harness.stack import ISSUER, HttpAnswer, Stack
from tests.helpers import PASSWORD, login, totp_code
from tests.integration.client_admin import NATIVE_APP, registered
from tests.integration.oauth2_flow import FORM, authorize, exchange, redirected
from tests.mail_helpers import enroll_totp_over_http

PAGE_ORIGIN = {**FORM, "origin": ISSUER}


def the_request(stack: Stack, client_id: str) -> str:
    """What /oauth2/authorize hands the sign-in page: the app's request."""
    answer = authorize(stack, client_id)
    location = urlsplit(answer.headers["location"])
    assert location.path == "/signin"
    return parse_qs(location.query)["request"][0]


def submit(
    stack: Stack, fields: dict[str, str], headers: dict[str, str] = PAGE_ORIGIN
) -> HttpAnswer:
    return stack.http("POST", "/signin", urlencode(fields), headers=headers)


def hidden(page: HttpAnswer, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page.raw.body.decode())
    assert match, page.raw.body.decode()
    return match.group(1)


def cookie_of(answer: HttpAnswer) -> str:
    (cookie,) = [c for c in answer.cookies if c.startswith("__Host-sso=")]
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=Lax" in cookie
    return cookie.split(";", 1)[0]


def test_the_page_holds_a_form_of_username_and_password(stack: Stack) -> None:
    client = registered(stack, NATIVE_APP)
    request = the_request(stack, client["client_id"])
    page = stack.http("GET", "/signin?" + urlencode({"request": request}))
    body = page.raw.body.decode()
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/signin">' in body
    assert 'name="username"' in body
    assert 'name="password"' in body
    assert '<button type="submit">' in body
    assert hidden(page, "request") == request.replace("&", "&amp;")


def test_signing_in_on_the_page_sends_the_browser_back_with_a_central_session(
    stack: Stack,
) -> None:
    client = registered(stack, NATIVE_APP)
    stack.http("POST", "/auth/register", {"username": "ada", "password": PASSWORD})
    request = the_request(stack, client["client_id"])
    signed_in = submit(stack, {"request": request, "username": "ada", "password": PASSWORD})
    assert signed_in.status == 303
    assert signed_in.headers["location"] == f"/oauth2/authorize?{request}"
    code = redirected(authorize(stack, client["client_id"], cookie_of(signed_in)))["code"][0]
    tokens = exchange(stack, client["client_id"], code)
    assert tokens.status == 200, tokens.json()
    assert tokens.json()["scope"] == "openid profile"


def test_a_wrong_password_shows_the_form_again_and_sets_no_cookie(stack: Stack) -> None:
    client = registered(stack, NATIVE_APP)
    stack.http("POST", "/auth/register", {"username": "ada", "password": PASSWORD})
    request = the_request(stack, client["client_id"])
    refused = submit(stack, {"request": request, "username": "ada", "password": "wrong" * 3})
    assert refused.status == 401
    assert 'role="alert"' in refused.raw.body.decode()
    assert refused.cookies == []


def test_a_post_from_another_site_signs_nobody_in(stack: Stack) -> None:
    client = registered(stack, NATIVE_APP)
    stack.http("POST", "/auth/register", {"username": "ada", "password": PASSWORD})
    request = the_request(stack, client["client_id"])
    fields = {"request": request, "username": "ada", "password": PASSWORD}
    for headers in ({**FORM, "origin": "https://evil.example"}, FORM):
        refused = submit(stack, fields, headers)
        assert (refused.status, refused.cookies) == (403, []), headers


def test_an_account_with_a_second_factor_is_asked_its_code_before_any_session(
    stack: Stack,
) -> None:
    client = registered(stack, NATIVE_APP)
    stack.http("POST", "/auth/register", {"username": "ada", "password": PASSWORD})
    secret, _ = enroll_totp_over_http(stack, login(stack)["access_token"])
    request = the_request(stack, client["client_id"])
    asked = submit(stack, {"request": request, "username": "ada", "password": PASSWORD})
    assert (asked.status, asked.cookies) == (200, [])
    assert 'name="code"' in asked.raw.body.decode()
    mfa_token = hidden(asked, "mfa_token")
    wrong = submit(stack, {"request": request, "mfa_token": mfa_token, "code": "000000"})
    assert (wrong.status, wrong.cookies) == (401, [])
    code = totp_code(secret, time.time() + 30)
    done = submit(stack, {"request": request, "mfa_token": mfa_token, "code": code})
    assert done.status == 303, done.raw.body.decode()
    answer = redirected(authorize(stack, client["client_id"], cookie_of(done)))
    tokens = exchange(stack, client["client_id"], answer["code"][0]).json()
    assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["amr"] == [
        "pwd",
        "otp",
    ]
