"""The OpenID Connect provider's endpoints through the in-process stack: the authorization
code flow with PKCE from a central session, the token endpoint's grants, introspection and
revocation, and the errors of hostile requests (never a redirect to an unregistered URI)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

from harness.stack import ISSUER, Stack
from tests.integration.client_admin import NATIVE_APP, WEB_APP, registered
from tests.integration.oauth2_flow import (
    FORM,
    VERIFIER,
    authorize,
    code_of,
    exchange,
    redirected,
    signed_in,
    token,
)


def test_without_a_central_session_the_browser_goes_to_the_sign_in_page(stack: Stack) -> None:
    client = registered(stack, NATIVE_APP)
    answer = authorize(stack, client["client_id"], prompt="login")
    assert answer.status == 302
    location = urlsplit(answer.headers["location"])
    assert location.path == "/signin"
    carried = parse_qs(parse_qs(location.query)["request"][0])
    assert carried["client_id"] == [client["client_id"]]
    assert "prompt" not in carried


def test_a_central_session_gets_a_code_with_state_and_iss_and_the_code_gets_tokens(
    stack: Stack,
) -> None:
    client = registered(stack, NATIVE_APP)
    cookie = signed_in(stack)
    answer = redirected(authorize(stack, client["client_id"], cookie))
    assert answer["state"] == ["af0ifjsldkj"]
    assert answer["iss"] == [ISSUER]
    tokens = exchange(stack, client["client_id"], answer["code"][0])
    assert tokens.status == 200, tokens.json()
    body: dict[str, Any] = tokens.json()
    assert sorted(body) == [
        "access_token",
        "expires_in",
        "id_token",
        "refresh_token",
        "scope",
        "token_type",
    ]
    assert tokens.headers["cache-control"] == "no-store"
    id_claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert (id_claims["aud"], id_claims["nonce"], id_claims["iss"]) == (
        client["client_id"],
        "n-0S6_WzA2Mj",
        ISSUER,
    )
    again = exchange(stack, client["client_id"], answer["code"][0])
    assert (again.status, again.json()["error"]) == (400, "invalid_grant")
    refreshed = token(
        stack,
        {
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": client["client_id"],
        },
    )
    # The replay ended the grant its code started
    assert (refreshed.status, refreshed.json()["error"]) == (400, "invalid_grant")


def test_a_verifier_that_does_not_match_the_challenge_gets_no_tokens(stack: Stack) -> None:
    client = registered(stack, NATIVE_APP)
    code = code_of(stack, client["client_id"], signed_in(stack))
    refused = exchange(stack, client["client_id"], code, verifier="x" * 43)
    assert (refused.status, refused.json()["error"]) == (400, "invalid_grant")


def test_a_confidential_client_authenticates_and_introspects_until_the_central_session_ends(
    stack: Stack,
) -> None:
    web = registered(stack, {**WEB_APP, "redirect_uris": NATIVE_APP["redirect_uris"]})
    basic = base64.b64encode(f"{web['client_id']}:{web['client_secret']}".encode()).decode()
    auth = {"authorization": f"Basic {basic}"}
    cookie = signed_in(stack)
    code = code_of(stack, web["client_id"], cookie)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": NATIVE_APP["redirect_uris"][0],
        "code_verifier": VERIFIER,
    }
    wrong = base64.b64encode(f"{web['client_id']}:not-the-secret".encode()).decode()
    refused = token(stack, form, {"authorization": f"Basic {wrong}"})
    assert (refused.status, refused.json()["error"]) == (401, "invalid_client")
    issued = token(stack, form, auth)
    assert issued.status == 200, issued.json()
    tokens = issued.json()
    introspected = stack.http(
        "POST", "/oauth2/introspect", urlencode({"token": tokens["access_token"]}), {**FORM, **auth}
    )
    assert introspected.status == 200
    assert introspected.json()["active"] is True
    signed_out = {**FORM, "cookie": cookie, "origin": ISSUER}
    assert stack.http("POST", "/oauth2/logout", "", headers=signed_out).status == 200
    for value in (tokens["access_token"], tokens["refresh_token"]):
        answer = stack.http(
            "POST", "/oauth2/introspect", urlencode({"token": value}), {**FORM, **auth}
        )
        assert answer.json() == {"active": False}


def test_hostile_authorization_requests_never_redirect_to_an_unregistered_uri(
    stack: Stack,
) -> None:
    client = registered(stack, NATIVE_APP)
    cookie = signed_in(stack)
    registered_uri = NATIVE_APP["redirect_uris"][0]
    for params in (
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": registered_uri + "/"},
        {"redirect_uri": "javascript:alert(1)"},
    ):
        answer = authorize(stack, client["client_id"], cookie, **params)
        assert answer.status == 400, params
        assert "location" not in answer.headers, params
    unknown = authorize(stack, "no-such-client", cookie)
    assert (unknown.status, "location" in unknown.headers) == (400, False)


def test_errors_after_the_redirect_uri_is_known_go_back_to_it_with_state_and_iss(
    stack: Stack,
) -> None:
    client = registered(stack, NATIVE_APP)
    without_pkce = redirected(
        authorize(stack, client["client_id"], signed_in(stack), code_challenge="")
    )
    assert without_pkce["error"] == ["invalid_request"]
    assert (without_pkce["state"], without_pkce["iss"]) == (["af0ifjsldkj"], [ISSUER])
    silent = redirected(authorize(stack, client["client_id"], prompt="none"))
    assert silent["error"] == ["login_required"]


def test_revocation_ends_the_grant_of_the_clients_refresh_token(stack: Stack) -> None:
    client = registered(stack, NATIVE_APP)
    tokens = exchange(
        stack, client["client_id"], code_of(stack, client["client_id"], signed_in(stack))
    ).json()
    form = {"token": tokens["refresh_token"], "client_id": client["client_id"]}
    revoked = stack.http("POST", "/oauth2/revoke", urlencode(form), FORM)
    assert revoked.status == 200
    refreshed = token(
        stack,
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": client["client_id"],
        },
    )
    assert (refreshed.status, refreshed.json()["error"]) == (400, "invalid_grant")
