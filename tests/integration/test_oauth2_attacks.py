"""What a fresh pair of eyes found against the provider, each held by a test: an app's
token cannot manage the account, PKCE S256 is required of every client, signing in again
never loops, hostile input is a 4xx, an older ID token signs the browser out for real,
MFA_POLICY=required holds for apps, a client introspects its own tokens only."""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

from harness.stack import ISSUER, HttpAnswer, Stack
from tests.helpers import PASSWORD, bearer, login
from tests.integration.aws_call_count import AwsCalls
from tests.integration.client_admin import NATIVE_APP, WEB_APP, registered
from tests.integration.oauth2_flow import (
    FORM,
    authorize,
    code_of,
    exchange,
    on_the_sign_in_page,
    redirected,
    signed_in,
    sso_cookie_of,
    token,
)


def app_tokens(stack: Stack, client_id: str, cookie: str) -> dict[str, str]:
    answer = exchange(stack, client_id, code_of(stack, client_id, cookie))
    assert answer.status == 200, answer.json()
    return dict(answer.json())


def carried(answer: HttpAnswer) -> dict[str, list[str]]:
    """The authorization request the sign-in page will send the browser back to."""
    location = urlsplit(answer.headers["location"])
    assert location.path == "/signin"
    return parse_qs(parse_qs(location.query)["request"][0])


def test_an_apps_token_cannot_manage_the_account(stack: Stack) -> None:
    client = registered(stack, NATIVE_APP)
    tokens = app_tokens(stack, client["client_id"], signed_in(stack))
    for method, path in (("GET", "/auth/sessions"), ("GET", "/auth/account")):
        refused = stack.http(method, path, headers=bearer(tokens["access_token"]))
        assert (refused.status, refused.json()["error"]) == (401, "invalid_token"), path


def test_pkce_s256_is_required_of_every_client(stack: Stack) -> None:
    public = registered(stack, NATIVE_APP)
    cookie = signed_in(stack)
    for params in (
        {"code_challenge": "", "code_challenge_method": ""},
        {"code_challenge_method": "plain"},
    ):
        answer = redirected(authorize(stack, public["client_id"], cookie, **params))
        assert answer["error"] == ["invalid_request"], params
    web = registered(stack, {**WEB_APP, "redirect_uris": NATIVE_APP["redirect_uris"]})
    code = code_of(stack, web["client_id"], cookie)
    basic = base64.b64encode(f"{web['client_id']}:{web['client_secret']}".encode()).decode()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": NATIVE_APP["redirect_uris"][0],
    }
    refused = token(stack, form, {"authorization": f"Basic {basic}"})
    assert (refused.status, refused.json()["error"]) == (400, "invalid_request")


def test_signing_in_again_never_sends_the_browser_round_again(stack: Stack) -> None:
    client = registered(stack, NATIVE_APP)
    cookie = signed_in(stack)
    aged = carried(authorize(stack, client["client_id"], cookie, max_age="0"))
    assert "max_age" not in aged
    again = carried(authorize(stack, client["client_id"], cookie, prompt="login consent"))
    assert again["prompt"] == ["consent"]


def test_prompt_none_never_shows_the_sign_in_page(stack: Stack) -> None:
    client = registered(stack, NATIVE_APP)
    cookie = signed_in(stack)
    aged = redirected(authorize(stack, client["client_id"], cookie, prompt="none", max_age="0"))
    assert (aged["error"], aged["iss"]) == (["login_required"], [ISSUER])


def test_hostile_input_is_a_4xx(stack: Stack) -> None:
    client = registered(stack, NATIVE_APP)
    cookie = signed_in(stack)
    for max_age in ("²", "9" * 5000):
        answer = authorize(stack, client["client_id"], cookie, max_age=max_age)
        assert answer.status == 302, max_age
    for header in ("Basic /w==", "Basic w6k=", "Basic ☃"):
        for path in ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"):
            answer = stack.http(
                "POST", path, "token=x&grant_type=refresh_token", {**FORM, "authorization": header}
            )
            assert 400 <= answer.status < 500, (path, header, answer.status)
    # (the page's own POST: its origin, so that the body is read)
    binary = {"content-type": "application/octet-stream", "origin": ISSUER}
    for path in ("/oauth2/token", "/signin", "/oauth2/logout"):
        answer = stack.http("POST", path, b"\xff\xfe\x00", binary)
        assert 400 <= answer.status < 500, (path, answer.status)


def test_a_crafted_request_cannot_put_a_line_break_in_the_redirect(stack: Stack) -> None:
    stack.http("POST", "/auth/register", {"username": "ada", "password": PASSWORD})
    fields = {
        "request": "client_id=x\r\nSet-Cookie: planted=1",
        "username": "ada",
        "password": PASSWORD,
    }
    answer = stack.http("POST", "/signin", urlencode(fields), {**FORM, "origin": ISSUER})
    assert answer.status == 303
    location = answer.headers["location"]
    assert "\r" not in location
    assert "\n" not in location
    assert parse_qs(urlsplit(location).query)["client_id"] == ["x\r\nSet-Cookie: planted=1"]


def test_an_older_id_token_signs_the_browsers_own_central_session_out_too(
    stack: Stack,
) -> None:
    client = registered(stack, {**NATIVE_APP, "post_logout_redirect_uris": []})
    old = app_tokens(stack, client["client_id"], signed_in(stack))
    # The browser's central session is now another one of the same user
    ada = {"username": "ada", "password": PASSWORD}
    browser = sso_cookie_of(on_the_sign_in_page(stack, client["client_id"], ada))
    newer = app_tokens(stack, client["client_id"], browser)
    hint = {"id_token_hint": old["id_token"]}
    done = stack.http("GET", f"/oauth2/logout?{urlencode(hint)}", headers={"cookie": browser})
    assert done.status == 200
    refused = stack.http("GET", "/oauth2/userinfo", headers=bearer(newer["access_token"]))
    assert refused.status == 401
    assert [c.split(";")[0] for c in done.cookies] == ["__Host-sso="]


def test_an_api_refresh_token_is_no_central_session_cookie(stack: Stack) -> None:
    # Given ada's API session (body mode), whose refresh token a thief holds
    client = registered(stack, NATIVE_APP)
    stack.http("POST", "/auth/register", {"username": "ada", "password": PASSWORD})
    stolen = login(stack)["refresh_token"]
    assert stolen.startswith("rt2.")
    # When the thief sends it as the central session's cookie
    cookie = f"__Host-sso={stolen}"
    answer = authorize(stack, client["client_id"], cookie)
    silent = redirected(authorize(stack, client["client_id"], cookie, prompt="none"))
    # Then it is no central session: the password is asked for, no code is issued
    assert (answer.status, urlsplit(answer.headers["location"]).path) == (302, "/signin")
    assert (silent["error"], "code" in silent) == (["login_required"], False)
    # And the API session is untouched: its token still rotates, once
    assert stack.http("POST", "/auth/refresh", {"refresh_token": stolen}).status == 200


def test_an_apps_access_token_cannot_end_its_central_session_at_auth_logout(
    stack: Stack, aws_calls: AwsCalls
) -> None:
    # Given an app signed in on ada's central session
    client = registered(stack, NATIVE_APP)
    cookie = signed_in(stack)
    app = app_tokens(stack, client["client_id"], cookie)
    aws_calls.clear()
    # When its access token is sent to the API's logout, as the API's own tokens are
    answer = stack.http("POST", "/auth/logout", headers=bearer(app["access_token"]))
    # Then it is refused as the authorizer refuses it on the API, before any write
    assert (answer.status, answer.json()["error"]) == (401, "invalid_token")
    assert not [call for call in aws_calls.calls if call.startswith("dynamodb.")]
    # And the central session and the app's grant live on
    assert "code" in redirected(authorize(stack, client["client_id"], cookie))
    form = {"grant_type": "refresh_token", "refresh_token": app["refresh_token"]}
    assert token(stack, {**form, "client_id": client["client_id"]}).status == 200


def test_another_sites_logout_link_with_its_own_id_token_leaves_the_browsers_cookie(
    stack: Stack,
) -> None:
    # Given ada's browser signed in, and mallory's ID token of an app
    client = registered(stack, NATIVE_APP)
    victim = signed_in(stack)
    mallory = signed_in(stack, "mallory")
    hint = {"id_token_hint": app_tokens(stack, client["client_id"], mallory)["id_token"]}
    # When a page of another site sends ada's browser to sign out with mallory's hint
    headers = {"cookie": victim, "sec-fetch-site": "cross-site"}
    answer = stack.http("GET", f"/oauth2/logout?{urlencode(hint)}", headers=headers)
    # Then mallory's central session ends, and ada's browser keeps its own, cookie and all
    assert (answer.status, answer.cookies) == (200, [])
    assert "code" in redirected(authorize(stack, client["client_id"], victim))
    ended = authorize(stack, client["client_id"], mallory)
    assert urlsplit(ended.headers["location"]).path == "/signin"


def test_mfa_policy_required_holds_for_apps(stack_with: Callable[..., Stack]) -> None:
    stack = stack_with(MFA_POLICY="required")
    client = registered(stack, NATIVE_APP)
    answer = redirected(authorize(stack, client["client_id"], signed_in(stack)))
    assert answer["error"] == ["access_denied"]
    assert "code" not in answer


def test_a_client_introspects_its_own_tokens_only(stack: Stack) -> None:
    native = registered(stack, NATIVE_APP)
    web = registered(stack, {**WEB_APP, "redirect_uris": NATIVE_APP["redirect_uris"]})
    tokens = app_tokens(stack, native["client_id"], signed_in(stack))
    basic = base64.b64encode(f"{web['client_id']}:{web['client_secret']}".encode()).decode()
    for value in (tokens["access_token"], tokens["refresh_token"]):
        answer = stack.http(
            "POST",
            "/oauth2/introspect",
            urlencode({"token": value}),
            {**FORM, "authorization": f"Basic {basic}"},
        )
        assert answer.json() == {"active": False}
