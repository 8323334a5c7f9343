"""What the OpenID Connect provider's tests share: a central session's cookie, the
authorization request of a PKCE client, and the token endpoint's form requests."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from harness.sso_apps import PKCE_CHALLENGE, PKCE_VERIFIER
from harness.stack import ISSUER, HttpAnswer, Stack
from tests.helpers import PASSWORD
from tests.integration.client_admin import NATIVE_APP

VERIFIER = PKCE_VERIFIER
FORM = {"content-type": "application/x-www-form-urlencoded"}


def signed_in(stack: Stack, username: str = "ada") -> str:
    """A central session's cookie header for a new user, as the hosted page sets it (its
    form posted for an app's request: the request itself is checked at the authorize
    endpoint, where the page sends the browser back)."""
    stack.http("POST", "/auth/register", {"username": username, "password": PASSWORD})
    form = {"request": "response_type=code", "username": username, "password": PASSWORD}
    answer = stack.http("POST", "/signin", urlencode(form), headers={**FORM, "origin": ISSUER})
    return sso_cookie_of(answer)


def authorize(stack: Stack, client_id: str, cookie: str | None = None, **params: str) -> HttpAnswer:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": NATIVE_APP["redirect_uris"][0],
        "scope": "openid profile",
        "state": "af0ifjsldkj",
        "nonce": "n-0S6_WzA2Mj",
        "code_challenge": PKCE_CHALLENGE,
        "code_challenge_method": "S256",
        **params,
    }
    headers = {"cookie": cookie} if cookie else {}
    return stack.http("GET", f"/oauth2/authorize?{urlencode(query)}", headers=headers)


def redirected(answer: HttpAnswer) -> dict[str, list[str]]:
    assert answer.status == 302, answer.raw
    location = answer.headers["location"]
    assert location.startswith(NATIVE_APP["redirect_uris"][0] + "?"), location
    return parse_qs(urlsplit(location).query)


def token(stack: Stack, form: dict[str, str], headers: dict[str, str] | None = None) -> HttpAnswer:
    return stack.http("POST", "/oauth2/token", urlencode(form), headers={**FORM, **(headers or {})})


def code_of(stack: Stack, client_id: str, cookie: str) -> str:
    return redirected(authorize(stack, client_id, cookie))["code"][0]


def exchange(stack: Stack, client_id: str, code: str, verifier: str = VERIFIER) -> HttpAnswer:
    return token(
        stack,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": NATIVE_APP["redirect_uris"][0],
            "client_id": client_id,
            "code_verifier": verifier,
        },
    )


def on_the_sign_in_page(
    stack: Stack, client_id: str, fields: dict[str, str], cookie: str | None = None, **params: str
) -> HttpAnswer:
    """An app's authorization request sent to the hosted page (`params`: prompt=login...),
    and the page's form posted there with `fields` by the browser holding `cookie`."""
    sent_to = authorize(stack, client_id, cookie, **params)
    assert sent_to.status == 302, sent_to.raw
    location = urlsplit(sent_to.headers["location"])
    assert location.path == "/signin", location
    form = {"request": parse_qs(location.query)["request"][0], **fields}
    headers = {**FORM, "origin": ISSUER, **({"cookie": cookie} if cookie else {})}
    return stack.http("POST", "/signin", urlencode(form), headers=headers)


def sso_cookie_of(answer: HttpAnswer) -> str:
    """The central session's cookie the hosted page set, as a Cookie header."""
    assert answer.status == 303, answer.raw
    (cookie,) = [c for c in answer.cookies if c.startswith("__Host-sso=")]
    return cookie.split(";", 1)[0]
