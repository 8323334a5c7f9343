"""The central sign-in page's passkey button through the in-process stack, as its script
uses it: a ceremony from POST /auth/passkeys/authentication/options, the authenticator's
assertion posted as a form to POST /signin/passkey, then back to the app's authorization
request with the central session's cookie; refused (the page again, no cookie) for a bad
assertion, a replayed ceremony or a post from another site."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

from harness.soft_authenticator import SoftAuthenticator
from harness.stack import ISSUER, HttpAnswer, Stack
from local_run.template import ROOT
from tests.helpers import http_add_passkey, login, register
from tests.integration.client_admin import NATIVE_APP, registered
from tests.integration.oauth2_flow import FORM, authorize, exchange, redirected

PAGE_ORIGIN = {**FORM, "origin": ISSUER}
RP_ID = urlsplit(ISSUER).hostname or ""
PASSKEY_SCRIPT = ROOT / "layers" / "core" / "session_service" / "edge" / "hosted" / "passkey.js"


@pytest.fixture
def sso_stack(stack_with: Callable[..., Stack]) -> Stack:
    """Passkeys on for the service's own origin, where the hosted page is served."""
    return stack_with(ALLOWED_ORIGINS=ISSUER)


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(RP_ID, ISSUER)


@pytest.fixture
def client_id(sso_stack: Stack, authenticator: SoftAuthenticator) -> str:
    """A registered app; ada has a passkey of `authenticator`."""
    register(sso_stack)
    http_add_passkey(sso_stack, login(sso_stack)["access_token"], authenticator)
    return str(registered(sso_stack, NATIVE_APP)["client_id"])


def the_request(stack: Stack, client_id: str) -> str:
    location = urlsplit(authorize(stack, client_id).headers["location"])
    assert location.path == "/signin"
    return parse_qs(location.query)["request"][0]


def ceremony(stack: Stack, authenticator: SoftAuthenticator, **assertion: Any) -> dict[str, str]:
    """What the page's script posts: a ceremony (usernameless) and its assertion."""
    asked = stack.http("POST", "/auth/passkeys/authentication/options", {})
    assert asked.status == 200, asked.json()
    credential = authenticator.get(asked.json()["options"], **assertion)
    return {"ceremony_id": asked.json()["ceremony_id"], "credential": json.dumps(credential)}


def submit(
    stack: Stack, fields: dict[str, str], headers: dict[str, str] = PAGE_ORIGIN
) -> HttpAnswer:
    return stack.http("POST", "/signin/passkey", urlencode(fields), headers=headers)


def alert(page: HttpAnswer) -> str:
    match = re.search(r'<p role="alert">([^<]*)</p>', page.raw.body.decode())
    assert match, page.raw.body.decode()
    return match.group(1)


def sso_cookie(answer: HttpAnswer) -> str:
    (cookie,) = [c for c in answer.cookies if c.startswith("__Host-sso=")]
    assert {"HttpOnly", "Secure", "SameSite=Lax"} <= {p.strip() for p in cookie.split(";")}
    return cookie.split(";", 1)[0]


def test_the_page_offers_a_passkey_button_its_script_shows(sso_stack: Stack) -> None:
    # Given an app's authorization request
    client = registered(sso_stack, NATIVE_APP)
    request = the_request(sso_stack, client["client_id"])
    # When the browser opens the sign-in page
    page = sso_stack.http("GET", "/signin?" + urlencode({"request": request}))
    # Then the passkey form is there, hidden until the page's own script shows it
    body = page.raw.body.decode()
    assert page.status == 200
    assert '<script src="/signin/assets/passkey.js" defer></script>' in body
    assert '<form id="passkey" method="post" action="/signin/passkey" hidden>' in body
    assert '<button type="button">Sign in with a passkey</button>' in body
    assert page.headers["content-security-policy"] == (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    script = sso_stack.http("GET", "/signin/assets/passkey.js")
    assert script.status == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.raw.body.decode() == PASSKEY_SCRIPT.read_text(encoding="utf-8")


def test_a_passkey_signs_in_and_returns_the_browser_with_a_central_session(
    sso_stack: Stack, authenticator: SoftAuthenticator, client_id: str
) -> None:
    # Given the app's request on the page
    request = the_request(sso_stack, client_id)
    # When the page posts a passkey's assertion
    signed_in = submit(sso_stack, {"request": request, **ceremony(sso_stack, authenticator)})
    # Then the browser goes back to the request with a central session, a passkey's amr
    assert signed_in.status == 303, signed_in.raw.body.decode()
    assert signed_in.headers["location"] == f"/oauth2/authorize?{request}"
    assert signed_in.headers["cache-control"] == "no-store"
    code = redirected(authorize(sso_stack, client_id, sso_cookie(signed_in)))["code"][0]
    tokens = exchange(sso_stack, client_id, code)
    assert tokens.status == 200, tokens.json()
    claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
    assert claims["amr"] == ["hwk", "user"]


def test_a_passkey_sign_in_again_renews_the_browsers_central_session(
    sso_stack: Stack, authenticator: SoftAuthenticator, client_id: str
) -> None:
    # Given a browser with a central session from a passkey, and the app's grant on it
    request = the_request(sso_stack, client_id)
    signed_in = submit(sso_stack, {"request": request, **ceremony(sso_stack, authenticator)})
    first = sso_cookie(signed_in)
    assert first.removeprefix("__Host-sso=").startswith("ct2.")
    code = redirected(authorize(sso_stack, client_id, first))["code"][0]
    granted = exchange(sso_stack, client_id, code).json()
    sid = jwt.decode(granted["id_token"], options={"verify_signature": False})["sid"]
    # When the same user signs in with the passkey again in that browser
    headers = {**PAGE_ORIGIN, "cookie": first}
    fields = {"request": request, **ceremony(sso_stack, authenticator)}
    again = sso_cookie(submit(sso_stack, fields, headers))
    # Then the central session is the same one, and the grant on it lives on
    code = redirected(authorize(sso_stack, client_id, again))["code"][0]
    renewed = exchange(sso_stack, client_id, code).json()
    assert jwt.decode(renewed["id_token"], options={"verify_signature": False})["sid"] == sid
    refreshed = sso_stack.http(
        "POST",
        "/oauth2/token",
        urlencode(
            {
                "grant_type": "refresh_token",
                "refresh_token": granted["refresh_token"],
                "client_id": client_id,
            }
        ),
        headers=FORM,
    )
    assert refreshed.status == 200, refreshed.json()


def test_a_bad_assertion_shows_the_page_again_and_sets_no_cookie(
    sso_stack: Stack, authenticator: SoftAuthenticator, client_id: str
) -> None:
    # Given an assertion whose signature is another ceremony's
    request = the_request(sso_stack, client_id)
    presented = ceremony(sso_stack, authenticator)
    other = ceremony(sso_stack, authenticator)
    credential = json.loads(presented["credential"])
    credential["response"]["signature"] = json.loads(other["credential"])["response"]["signature"]
    presented["credential"] = json.dumps(credential)
    # When the page posts it
    refused = submit(sso_stack, {"request": request, **presented})
    # Then the form again, saying so, and no session
    assert (refused.status, refused.cookies) == (401, [])
    assert alert(refused) == "The passkey could not be verified."
    assert 'name="password"' in refused.raw.body.decode()


def test_an_unreadable_assertion_is_refused_before_any_check(
    sso_stack: Stack, authenticator: SoftAuthenticator, client_id: str
) -> None:
    request = the_request(sso_stack, client_id)
    fields = {**ceremony(sso_stack, authenticator), "request": request}
    for credential in ("", "{", '{"id": "x"}', "[" * 2000 + "]" * 2000):
        refused = submit(sso_stack, {**fields, "credential": credential})
        assert (refused.status, refused.cookies) == (400, []), credential[:20]
        assert alert(refused) == "The passkey&#x27;s answer could not be read. Try again."


def test_a_replayed_ceremony_signs_nobody_in(
    sso_stack: Stack, authenticator: SoftAuthenticator, client_id: str
) -> None:
    # Given a ceremony that signed the browser in
    request = the_request(sso_stack, client_id)
    fields = {"request": request, **ceremony(sso_stack, authenticator)}
    assert submit(sso_stack, fields).status == 303
    # When the same assertion is posted again
    replayed = submit(sso_stack, fields)
    # Then it is refused: the ceremony is spent
    assert (replayed.status, replayed.cookies) == (401, [])
    assert alert(replayed) == "The ceremony_id is invalid or has expired."


def test_a_post_from_another_site_signs_nobody_in(
    sso_stack: Stack, authenticator: SoftAuthenticator, client_id: str
) -> None:
    # Given a good assertion
    request = the_request(sso_stack, client_id)
    fields = {"request": request, **ceremony(sso_stack, authenticator)}
    # When another site posts it (or a client that names no origin)
    for headers in ({**FORM, "origin": "https://evil.example"}, FORM):
        refused = submit(sso_stack, fields, headers)
        # Then nobody is signed in (login CSRF), and nothing was judged
        assert (refused.status, refused.cookies) == (403, []), headers
        assert alert(refused) == "Sign in from this page."
    assert submit(sso_stack, fields).status == 303
