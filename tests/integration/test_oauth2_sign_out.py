"""The provider's discovery, userinfo and RP-initiated logout through the in-process stack:
one logout ends the central session and every app's grant with it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt

from harness.stack import ISSUER, HttpAnswer, Stack
from tests.integration.client_admin import NATIVE_APP, registered
from tests.integration.oauth2_flow import FORM, authorize, code_of, exchange, signed_in

LOGOUT_URI = "http://127.0.0.1:8400/signed-out"
APP = {**NATIVE_APP, "post_logout_redirect_uris": [LOGOUT_URI]}


def app_tokens(stack: Stack, client_id: str, cookie: str) -> dict[str, Any]:
    answer = exchange(stack, client_id, code_of(stack, client_id, cookie))
    assert answer.status == 200, answer.json()
    return dict(answer.json())


def userinfo(stack: Stack, access_token: str) -> HttpAnswer:
    return stack.http(
        "GET", "/oauth2/userinfo", headers={"authorization": f"Bearer {access_token}"}
    )


def test_discovery_names_every_endpoint_of_the_provider(stack: Stack) -> None:
    document = stack.http("GET", "/.well-known/openid-configuration").json()
    assert {name: document[name] for name in document if name.endswith("_endpoint")} == {
        "authorization_endpoint": f"{ISSUER}/oauth2/authorize",
        "token_endpoint": f"{ISSUER}/oauth2/token",
        "userinfo_endpoint": f"{ISSUER}/oauth2/userinfo",
        "introspection_endpoint": f"{ISSUER}/oauth2/introspect",
        "revocation_endpoint": f"{ISSUER}/oauth2/revoke",
        "end_session_endpoint": f"{ISSUER}/oauth2/logout",
    }
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert document["backchannel_logout_session_supported"] is True


def test_userinfo_answers_an_apps_token_until_the_central_session_ends(stack: Stack) -> None:
    client = registered(stack, APP)
    cookie = signed_in(stack)
    tokens = app_tokens(stack, client["client_id"], cookie)
    answer = userinfo(stack, tokens["access_token"])
    assert answer.status == 200, answer.json()
    subject = jwt.decode(tokens["id_token"], options={"verify_signature": False})["sub"]
    assert answer.json() == {"sub": subject, "preferred_username": "ada"}
    signed_out = {**FORM, "cookie": cookie, "origin": ISSUER}
    assert stack.http("POST", "/oauth2/logout", "", headers=signed_out).status == 200
    refused = userinfo(stack, tokens["access_token"])
    assert (refused.status, refused.json()["error"]) == (401, "invalid_token")
    assert refused.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_userinfo_refuses_what_is_not_an_apps_token(stack: Stack) -> None:
    signed_in(stack)
    own = stack.http("POST", "/auth/login", {"username": "ada", "password": "x" * 12})
    assert own.status == 401
    for header in ({}, {"authorization": "Bearer not-a-token"}, {"authorization": "Basic eA=="}):
        answer = stack.http("GET", "/oauth2/userinfo", headers=header)
        assert (answer.status, answer.json()["error"]) == (401, "invalid_token"), header


def test_rp_initiated_logout_ends_every_apps_grant_and_returns_to_the_app(stack: Stack) -> None:
    client = registered(stack, APP)
    other = registered(stack, {**APP, "name": "Other"})
    cookie = signed_in(stack)
    first = app_tokens(stack, client["client_id"], cookie)
    second = app_tokens(stack, other["client_id"], cookie)
    query = {
        "id_token_hint": first["id_token"],
        "post_logout_redirect_uri": LOGOUT_URI,
        "state": "xyz",
    }
    answer = stack.http("GET", f"/oauth2/logout?{urlencode(query)}", headers={"cookie": cookie})
    assert answer.status == 302
    assert answer.headers["location"] == f"{LOGOUT_URI}?state=xyz"
    assert any(c.startswith("__Host-sso=;") for c in answer.cookies)
    for tokens, owner in ((first, client), (second, other)):
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        refreshed = stack.http(
            "POST", "/oauth2/token", urlencode({**form, "client_id": owner["client_id"]}), FORM
        )
        assert (refreshed.status, refreshed.json()["error"]) == (400, "invalid_grant")
    # The old cookie names no central session: the next sign-in asks for the password
    again = authorize(stack, client["client_id"], cookie)
    assert (again.status, urlsplit(again.headers["location"]).path) == (302, "/signin")


def test_a_logout_redirect_the_app_did_not_register_is_refused(stack: Stack) -> None:
    client = registered(stack, APP)
    cookie = signed_in(stack)
    tokens = app_tokens(stack, client["client_id"], cookie)
    query = {
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": "https://evil.example/",
    }
    answer = stack.http("GET", f"/oauth2/logout?{urlencode(query)}", headers={"cookie": cookie})
    assert answer.status == 400
    assert "location" not in answer.headers
    assert userinfo(stack, tokens["access_token"]).status == 200


def test_a_logout_without_a_hint_asks_the_user_and_a_post_of_that_page_signs_out(
    stack: Stack,
) -> None:
    client = registered(stack, APP)
    cookie = signed_in(stack)
    tokens = app_tokens(stack, client["client_id"], cookie)
    asked = stack.http("GET", "/oauth2/logout", headers={"cookie": cookie})
    assert asked.status == 200
    assert '<form method="post" action="/oauth2/logout">' in asked.raw.body.decode()
    assert userinfo(stack, tokens["access_token"]).status == 200
    # A POST of another site's page (or of none) is asked again: SameSite=Lax alone would
    # let a sibling site's form sign the browser out
    for origin in ({"origin": "https://evil.example"}, {}):
        again = stack.http(
            "POST", "/oauth2/logout", "", headers={**FORM, "cookie": cookie, **origin}
        )
        assert '<form method="post" action="/oauth2/logout">' in again.raw.body.decode()
    assert userinfo(stack, tokens["access_token"]).status == 200
    page = {**FORM, "cookie": cookie, "origin": ISSUER}
    confirmed = stack.http("POST", "/oauth2/logout", "", headers=page)
    assert confirmed.status == 200
    assert "signed out" in confirmed.raw.body.decode()
    assert userinfo(stack, tokens["access_token"]).status == 401
