"""The single sign-on page's passkey button in a real browser: Chromium's virtual
authenticator (DevTools WebAuthn domain) holds a passkey made on the demo page; an app's
authorization request sends the browser to the hosted sign-in, whose passkey button signs
in and returns the browser to the app's redirect URI with a code. Without JavaScript the
page shows the password form alone, and it signs in. The run's issuer is
http://localhost:<port> (WebAuthn refuses IP addresses as relying-party ids), one of its
ALLOWED_ORIGINS.

Also writes docs/sso-signin.png, the screenshot in docs/sso.md."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from botocore.credentials import Credentials
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from harness.sso_apps import PKCE_CHALLENGE, PKCE_VERIFIER
from local_run.launcher import free_port
from local_run.sigv4 import signed_headers
from local_run.template import ROOT
from tests.e2e.browser.pages import log_in, open_demo, virtual_authenticator
from tests.e2e.service import DEPLOYED_URL, Service
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
SCREENSHOT = ROOT / "docs" / "sso-signin.png"
STATE = "af0ifjsldkj"


@pytest.fixture(scope="module")
def sso_service(local_services: Callable[..., Service]) -> Service:
    """Cookie mode (the demo page that makes the passkey) on http://localhost:<port>, which
    is also the issuer, so the hosted sign-in page is a passkey origin."""
    if DEPLOYED_URL:
        pytest.skip("needs a local run serving the demo page")
    port = free_port()
    origin = f"http://localhost:{port}"
    service = local_services(
        PORT=str(port),
        REFRESH_TOKEN_TRANSPORT="cookie",
        ALLOWED_ORIGINS=origin,
        TOKEN_ISSUER=origin,
    )
    return dataclasses.replace(service, base_url=origin)


@pytest.fixture(scope="module")
def redirect_uri() -> Iterator[str]:
    """The app's callback: a loopback server that answers every GET with a page."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "7")
            self.end_headers()
            self.wfile.write(b"the app")

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/callback"
    server.shutdown()
    server.server_close()


@pytest.fixture
def client_id(sso_service: Service, redirect_uri: str) -> str:
    """A public app registered through the admin API, signed with the run's credentials."""
    body = {"name": "Passkey app", "type": "public", "redirect_uris": [redirect_uri]}
    data = json.dumps(body).encode()
    url = sso_service.url("/admin/clients")
    credentials = Credentials(sso_service.access_key, "local")
    host = urlsplit(url).netloc
    headers = signed_headers("POST", url, data, credentials, "us-east-1", {"host": host})
    answer = sso_service.post("/admin/clients", headers=headers, data=data)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["client_id"])


def _watched(page: Page) -> list[str]:
    """The console's errors and warnings and the page's uncaught errors (a script or a
    fetch the Content-Security-Policy refused would say so there)."""
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def _authorize(page: Page, service: Service, client_id: str, redirect_uri: str) -> None:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid profile",
        "state": STATE,
        "nonce": "n-0S6_WzA2Mj",
        "code_challenge": PKCE_CHALLENGE,
        "code_challenge_method": "S256",
    }
    page.goto(service.url(f"/oauth2/authorize?{urlencode(query)}"))
    expect(page).to_have_url(re.compile(r"/signin\?request="))


def _code_at_the_app(
    page: Page, service: Service, client_id: str, redirect_uri: str
) -> dict[str, object]:
    """The app's callback got a code, the state and the issuer: the ID token's claims."""
    page.wait_for_url(re.compile(re.escape(f"{redirect_uri}?")))
    params = parse_qs(urlsplit(page.url).query)
    assert (params["state"], params["iss"]) == ([STATE], [service.base_url])
    form = {
        "grant_type": "authorization_code",
        "code": params["code"][0],
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": PKCE_VERIFIER,
    }
    tokens = requests.post(service.url("/oauth2/token"), data=form, timeout=30)
    assert tokens.status_code == 200, tokens.text
    claims = jwt.decode(tokens.json()["id_token"], options={"verify_signature": False})
    return dict(claims)


def test_the_passkey_button_signs_in_and_returns_to_the_app_with_a_code(
    sso_service: Service, context: BrowserContext, client_id: str, redirect_uri: str
) -> None:
    # Given a passkey made on the demo page, held by the browser's authenticator
    username = sso_service.new_user()
    page = open_demo(context, sso_service)
    virtual_authenticator(context, page)
    log_in(page, username)
    page.fill("#passkey-add [name=name]", "This laptop")
    page.click("#passkey-add button")
    expect(page.locator("#status")).to_have_text("Passkey added.")
    problems = _watched(page)
    # When an app's authorization request sends the browser to the sign-in page
    _authorize(page, sso_service, client_id, redirect_uri)
    button = page.get_by_role("button", name="Sign in with a passkey")
    expect(button).to_be_visible()
    page.screenshot(path=str(SCREENSHOT), full_page=True, animations="disabled", caret="hide")
    # and the user signs in with the passkey (no username, no password)
    button.click()
    # Then the browser is back at the app with a code for a passkey's sign-in
    claims = _code_at_the_app(page, sso_service, client_id, redirect_uri)
    assert claims["amr"] == ["hwk", "user"]
    assert claims["preferred_username"] == username
    assert [c["name"] for c in context.cookies(sso_service.base_url)].count("__Host-sso") == 1
    assert problems == []


@pytest.fixture
def no_script_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(java_script_enabled=False, locale="en-US")
    context.set_default_timeout(15_000)
    yield context
    context.close()


def test_without_javascript_the_page_signs_in_with_the_password_alone(
    sso_service: Service, no_script_context: BrowserContext, client_id: str, redirect_uri: str
) -> None:
    # Given a browser that runs no script, on the sign-in page of an app's request
    username = sso_service.new_user()
    page = no_script_context.new_page()
    _authorize(page, sso_service, client_id, redirect_uri)
    # Then the passkey button is not shown (it needs the script), the password form is
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_hidden()
    # When the user signs in with the password
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    # Then the browser is back at the app with a code
    claims = _code_at_the_app(page, sso_service, client_id, redirect_uri)
    assert claims["amr"] == ["pwd"]
