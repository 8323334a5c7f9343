"""Federation through the HTTP API (the gateway in front of the functions) against a real
upstream provider: Node's oidc-provider (tests/federation/upstream.py), one per worker.
A test's browser is its binding cookie and the provider's cookie jar; the provider's
redirects are followed over HTTP, and the callback is sent to the in-process gateway."""

from __future__ import annotations

import base64
import dataclasses
import http.cookiejar
import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest

from harness.stack import ISSUER, Stack
from session_service.adapters.upstream_oidc import UpstreamRelyingParty
from tests.federation.upstream import UpstreamProvider, follow_to_callback
from tests.integration.client_admin import admin_call

APP = "https://app.example.test"
RETURN_TO = f"{APP}/signed-in"
CLIENT_ID = "session-service"
CLIENT_SECRET = "upstream-secret-" + "x" * 24
PROVIDERS = ("upstream", "second")
BINDING = "__Host-federation"


def callback_url(provider_id: str) -> str:
    return f"{ISSUER}/auth/federation/{provider_id}/callback"


def upstream_client() -> dict[str, Any]:
    """The service as the provider's client: a redirect URI per provider id the tests use."""
    return {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [callback_url(provider_id) for provider_id in PROVIDERS],
    }


def federated_stack(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider, **settings: str
) -> Stack:
    """A stack that signs in through `upstream`, registered as `upstream`."""
    stack = stack_with(ALLOWED_ORIGINS=APP, FEDERATION_LOOPBACK="on", **settings)
    register_provider(stack, upstream)
    return stack


def register_provider(
    stack: Stack, upstream: UpstreamProvider, provider_id: str = "upstream"
) -> None:
    answer = admin_call(
        stack,
        "POST",
        "/admin/identity-providers",
        {
            "provider_id": provider_id,
            "issuer": upstream.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "name": "Upstream",
        },
    )
    assert answer.status == 201, answer.json()


@dataclasses.dataclass
class Browser:
    """A browser: its binding cookie at the service and its cookie jar at the provider."""

    binding: str | None = None
    jar: http.cookiejar.CookieJar = dataclasses.field(default_factory=http.cookiejar.CookieJar)

    def cookie_header(self, **more: str) -> dict[str, str]:
        cookies = {BINDING: self.binding, **more} if self.binding else dict(more)
        return {"cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}


def start(
    stack: Stack,
    browser: Browser,
    return_to: str = RETURN_TO,
    provider_id: str = "upstream",
    query: str | None = None,
) -> str:
    """GET .../start: the provider's authorization URL; the browser keeps the binding."""
    from urllib.parse import quote  # noqa: PLC0415

    path = f"/auth/federation/{provider_id}/start?" + (query or f"return_to={quote(return_to)}")
    answer = stack.http("GET", path, headers=browser.cookie_header())
    assert answer.status == 302, answer.json()
    for cookie in answer.cookies:
        name, _, rest = cookie.partition("=")
        if name == BINDING:
            browser.binding = rest.split(";")[0]
    return answer.headers["location"]


def linking(stack: Stack, browser: Browser, authorization_url: str) -> str:
    """A link URL opened in the browser: its page asks, the browser confirms (a POST of
    that page): the provider's authorization URL."""
    path = authorization_url.removeprefix(ISSUER)
    page = stack.http("GET", path, headers=browser.cookie_header())
    assert page.status == 200, page.json()
    for cookie in page.cookies:
        name, _, rest = cookie.partition("=")
        if name == BINDING:
            browser.binding = rest.split(";")[0]
    link = parse_qsl(urlsplit(authorization_url).query)[0][1]
    form = urlencode({"link": link})
    headers = {
        **browser.cookie_header(),
        "origin": ISSUER,
        "content-type": "application/x-www-form-urlencoded",
    }
    answer = stack.http("POST", urlsplit(path).path, form, headers=headers)
    assert answer.status == 302, answer.json()
    return answer.headers["location"]


def at_provider(
    upstream: UpstreamProvider, browser: Browser, url: str, provider_id: str = "upstream"
) -> str:
    """The browser through the provider: the callback URL it is sent back with."""
    return follow_to_callback(url, callback_url(provider_id), browser.jar)


def callback(stack: Stack, browser: Browser, url: str, **cookies: str) -> Any:
    """The callback, sent to the service by this browser."""
    parts = urlsplit(url)
    return stack.http(
        "GET", f"{parts.path}?{parts.query}", headers=browser.cookie_header(**cookies)
    )


def fragment(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).fragment))


def sign_in(
    stack: Stack, upstream: UpstreamProvider, browser: Browser | None = None, **account: Any
) -> Any:
    """A whole sign-in as `account` (sub, email...) up to the callback's answer."""
    browser = browser or Browser()
    if account:
        upstream.sign_in_as(**account)
    url = at_provider(upstream, browser, start(stack, browser))
    return callback(stack, browser, url)


def exchange(stack: Stack, handoff: str) -> Any:
    return stack.http("POST", "/auth/federation/exchange", {"handoff": handoff})


def signed_in(stack: Stack, upstream: UpstreamProvider, **account: Any) -> dict[str, Any]:
    """A body-mode sign-in to the end: the token response."""
    answer = sign_in(stack, upstream, **account)
    assert answer.status == 303, answer.json()
    handoff = fragment(answer.headers["location"])["handoff"]
    tokens = exchange(stack, handoff)
    assert tokens.status == 200, tokens.json()
    return dict(tokens.json())


def claims(access_token: str) -> dict[str, Any]:
    return dict(jwt.decode(access_token, options={"verify_signature": False}))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenSwap:
    """The provider's real ID token, replaced after the real exchange by one the test
    makes from it (signed with the provider's own key unless told otherwise): what the
    service would see from a provider that misbehaves, or an attacker in its place."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, upstream: UpstreamProvider) -> None:
        self.upstream = upstream
        self.change: Callable[[dict[str, Any]], dict[str, Any]] = lambda c: c
        self.header: dict[str, Any] = {}
        self.key: dict[str, Any] | None = None
        self.unsigned = False
        original = UpstreamRelyingParty._exchange

        def swapped(party: UpstreamRelyingParty, *args: Any) -> str:
            real = original(party, *args)
            return self.token(jwt.decode(real, options={"verify_signature": False}))

        monkeypatch.setattr(UpstreamRelyingParty, "_exchange", swapped)

    def token(self, real: dict[str, Any]) -> str:
        body = self.change(dict(real))
        if self.unsigned:
            header = {"alg": "none", "kid": self.upstream.signing_jwk["kid"], **self.header}
            encoded = (b64(json.dumps(header).encode()), b64(json.dumps(body).encode()))
            return ".".join(encoded) + "."
        key = self.key or self.upstream.signing_jwk
        private = jwt.PyJWK(key).key
        headers = {"kid": key["kid"], **self.header}
        return jwt.encode(body, private, algorithm="RS256", headers=headers)


def new_subject() -> str:
    return f"user-{secrets.token_hex(4)}"
