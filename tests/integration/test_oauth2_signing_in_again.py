"""Signing in again on the hosted page (an app's prompt=login or max_age) while the browser
holds its user's central session: the session stays, with a fresh auth_time, as POST
/auth/reauth gives one, so that the other apps' grants and sessions live on; another
user's sign-in replaces it. The cookie's token is the browser's alone: no refresh-token
route of the API takes it."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import jwt

from harness.stack import Stack
from session_service.adapters.stream_records import decode_stream_record
from session_service.domain.activity.activity_log import activity_of
from session_service.domain.activity.events import events_for
from tests.helpers import PASSWORD, assert_error, login, stream_records
from tests.integration.client_admin import NATIVE_APP, WEB_APP, registered
from tests.integration.oauth2_flow import (
    FORM,
    VERIFIER,
    code_of,
    exchange,
    on_the_sign_in_page,
    sso_cookie_of,
    token,
)
from tests.mail_helpers import enroll_totp_over_http

CREDENTIALS = {"username": "ada", "password": PASSWORD}


def claims(id_token: str) -> dict[str, Any]:
    return dict(jwt.decode(id_token, options={"verify_signature": False}))


def web_app(stack: Stack) -> tuple[str, dict[str, str]]:
    """A confidential app (it may introspect) and its client_secret_basic header."""
    web = registered(stack, {**WEB_APP, "redirect_uris": NATIVE_APP["redirect_uris"]})
    basic = base64.b64encode(f"{web['client_id']}:{web['client_secret']}".encode()).decode()
    return web["client_id"], {"authorization": f"Basic {basic}"}


def web_tokens(stack: Stack, client_id: str, auth: dict[str, str], cookie: str) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code_of(stack, client_id, cookie),
        "redirect_uri": NATIVE_APP["redirect_uris"][0],
        "code_verifier": VERIFIER,
    }
    issued = token(stack, form, auth)
    assert issued.status == 200, issued.json()
    return issued.json()


def session_item(stack: Stack, sub: str, sid: str) -> dict[str, Any]:
    table = stack.template.names.refs["SessionTable"]
    key = {"pk": {"S": f"USER#{sub}"}, "sk": {"S": f"SESSION#{sid}"}}
    item = stack.clients("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True)
    return dict(item["Item"])


def sessions_removed(stack: Stack) -> list[str]:
    return [
        record["dynamodb"]["Keys"]["sk"]["S"]
        for record in stream_records(stack)
        if record["eventName"] == "REMOVE"
        and record["dynamodb"]["Keys"]["sk"]["S"].startswith("SESSION#")
    ]


def test_prompt_login_in_one_app_renews_the_central_session_and_the_other_app_lives_on(
    stack: Stack,
) -> None:
    # Given app A (public) and app B (confidential) signed in on one central session
    app_a = registered(stack, NATIVE_APP)["client_id"]
    app_b, auth_b = web_app(stack)
    stack.http("POST", "/auth/register", CREDENTIALS)
    cookie = sso_cookie_of(on_the_sign_in_page(stack, app_a, CREDENTIALS))
    first = exchange(stack, app_a, code_of(stack, app_a, cookie)).json()
    tokens_b = web_tokens(stack, app_b, auth_b, cookie)
    signed_in = claims(first["id_token"])
    # When app A asks for the password again (prompt=login) and ada gives it
    again = on_the_sign_in_page(stack, app_a, CREDENTIALS, cookie, prompt="login")
    renewed_cookie = sso_cookie_of(again)
    second = exchange(stack, app_a, code_of(stack, app_a, renewed_cookie))
    # Then A's new ID token names the same central session, with the renewal's auth_time
    assert second.status == 200, second.json()
    renewed = claims(second.json()["id_token"])
    assert renewed["sid"] == signed_in["sid"]
    item = session_item(stack, signed_in["sub"], signed_in["sid"])
    (step_up,) = item["step_ups"]["M"].values()
    renewed_at = int(step_up["M"]["at"]["N"])
    assert renewed_at > int(item["auth_time"]["N"])
    assert signed_in["auth_time"] == int(item["auth_time"]["N"]) // 1000
    assert renewed["auth_time"] == renewed_at // 1000
    # ... the session holds the renewed cookie's token alone (the old cookie's replaced)
    assert len(item["refresh_digests"]["SS"]) == 1
    # ... B's grant lives: its refresh token rotates, its access token is active
    refreshed = token(
        stack, {"grant_type": "refresh_token", "refresh_token": tokens_b["refresh_token"]}, auth_b
    )
    assert refreshed.status == 200, refreshed.json()
    introspected = stack.http(
        "POST",
        "/oauth2/introspect",
        urlencode({"token": refreshed.json()["access_token"]}),
        {**FORM, **auth_b},
    )
    assert introspected.json()["active"] is True
    assert introspected.json()["sid"] == signed_in["sid"]
    # ... and no session ended: nothing for back-channel logout to tell the apps
    assert sessions_removed(stack) == []


def test_a_sign_in_with_the_second_factor_renews_the_central_session_too(stack: Stack) -> None:
    # Given ada with TOTP, signed in on the page with a recovery code
    app = registered(stack, NATIVE_APP)["client_id"]
    stack.http("POST", "/auth/register", CREDENTIALS)
    _, recovery_codes = enroll_totp_over_http(stack, login(stack)["access_token"])
    asked = on_the_sign_in_page(stack, app, CREDENTIALS)
    mfa_token = _hidden_mfa_token(asked.raw.body.decode())
    signed_in = on_the_sign_in_page(stack, app, {"mfa_token": mfa_token, "code": recovery_codes[0]})
    cookie = sso_cookie_of(signed_in)
    first = claims(exchange(stack, app, code_of(stack, app, cookie)).json()["id_token"])
    # When the app asks again: the password, then a second recovery code
    asked_again = on_the_sign_in_page(stack, app, CREDENTIALS, cookie, prompt="login")
    fields = {"mfa_token": _hidden_mfa_token(asked_again.raw.body.decode())}
    again = on_the_sign_in_page(
        stack, app, {**fields, "code": recovery_codes[1]}, cookie, prompt="login"
    )
    # Then it is the same central session, proven with the second factor again
    renewed = claims(
        exchange(stack, app, code_of(stack, app, sso_cookie_of(again))).json()["id_token"]
    )
    assert renewed["sid"] == first["sid"]
    assert "otp" in renewed["amr"]
    assert sessions_removed(stack) == []


def test_signing_in_again_is_a_login_in_the_users_activity_not_a_new_session(
    stack: Stack,
) -> None:
    # Given ada's central session, and the stream read up to here
    app = registered(stack, NATIVE_APP)["client_id"]
    stack.http("POST", "/auth/register", CREDENTIALS)
    cookie = sso_cookie_of(on_the_sign_in_page(stack, app, CREDENTIALS))
    sid = claims(exchange(stack, app, code_of(stack, app, cookie)).json()["id_token"])["sid"]
    read: dict[str, str] = {}
    stream_records(stack, read)
    # When she signs in again on the page (an app's prompt=login)
    again = on_the_sign_in_page(stack, app, CREDENTIALS, cookie, prompt="login")
    assert again.status == 303
    # Then her activity has a login of that session, from where she signed in, written
    # with the renewal; the bus hears SsoSessionRenewed, and no SessionStarted
    changes = [change for r in stream_records(stack, read) if (change := decode_stream_record(r))]
    activity = [(e.type, e.session_id, e.ip, e.user_agent) for c in changes for e in activity_of(c)]
    assert activity == [("login_succeeded", sid, "198.51.100.1", "pytest")]
    renewed = [event for change in changes for event in events_for(change)]
    assert [event.detail_type for event in renewed] == ["SsoSessionRenewed"]
    assert renewed[0].detail["session_id"] == sid


def test_another_users_sign_in_replaces_the_browsers_central_session(stack: Stack) -> None:
    # Given ada's central session in the browser
    app = registered(stack, NATIVE_APP)["client_id"]
    stack.http("POST", "/auth/register", CREDENTIALS)
    stack.http("POST", "/auth/register", {"username": "bob", "password": PASSWORD})
    cookie = sso_cookie_of(on_the_sign_in_page(stack, app, CREDENTIALS))
    ada = claims(exchange(stack, app, code_of(stack, app, cookie)).json()["id_token"])
    # When bob signs in on the page in the same browser
    bob_signs_in = {"username": "bob", "password": PASSWORD}
    replaced = on_the_sign_in_page(stack, app, bob_signs_in, cookie, prompt="login")
    bob = claims(
        exchange(stack, app, code_of(stack, app, sso_cookie_of(replaced))).json()["id_token"]
    )
    # Then the browser's central session is bob's own, new one
    assert bob["sub"] != ada["sub"]
    assert bob["sid"] != ada["sid"]


def test_the_cookies_token_is_refused_at_refresh_and_logout_and_stays_the_browsers(
    stack: Stack,
) -> None:
    # Given a central session started on the hosted page
    app = registered(stack, NATIVE_APP)["client_id"]
    stack.http("POST", "/auth/register", CREDENTIALS)
    cookie = sso_cookie_of(on_the_sign_in_page(stack, app, CREDENTIALS))
    central = cookie.removeprefix("__Host-sso=")
    # When its token is presented at the API's refresh-token routes
    refreshed = stack.http("POST", "/auth/refresh", {"refresh_token": central})
    logged_out = stack.http("POST", "/auth/logout", {"refresh_token": central})
    # Then both refuse it, and the cookie still names the browser's central session
    assert_error(refreshed, 401, "invalid_grant")
    assert_error(logged_out, 401, "invalid_grant")
    tokens = exchange(stack, app, code_of(stack, app, cookie))
    assert tokens.status == 200, tokens.json()
    assert sessions_removed(stack) == []


def _hidden_mfa_token(page: str) -> str:
    marker = 'name="mfa_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]
