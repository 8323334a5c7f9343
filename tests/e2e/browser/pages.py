"""What the browser tests share: how Chromium is started, the demo page's steps (open,
register, log in, call the API from the page), and a page of another origin."""

from __future__ import annotations

import time
import uuid
from typing import Any

from playwright.sync_api import (
    BrowserContext,
    CDPSession,
    Page,
    Response,
    expect,
)

from tests.e2e.service import Service
from tests.helpers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
COOKIE = "__Host-refresh_token"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

# A page of another origin that tries the cookie routes, with and without the CSRF header,
# and offers a form that posts to /auth/logout.
ATTACKER_PAGE = """<!doctype html>
<title>elsewhere</title>
<form method="post" action="{api}/auth/logout"><button>Claim your prize</button></form>
<script>
  async function attempt(path, headers) {{
    try {{
      const response = await fetch("{api}" + path, {{
        method: "POST", credentials: "include", headers,
      }});
      return `answered ${{response.status}}`;
    }} catch (error) {{
      return `failed: ${{error.name}}`;
    }}
  }}
  window.attempts = (async () => ({{
    refresh: await attempt("/auth/refresh", {{"X-Requested-With": "x"}}),
    logout: await attempt("/auth/logout", {{"X-Requested-With": "x"}}),
    refreshWithoutHeader: await attempt("/auth/refresh", {{}}),
    logoutWithoutHeader: await attempt("/auth/logout", {{}}),
  }}))();
</script>
"""


def open_demo(context: BrowserContext, service: Service) -> Page:
    """A tab on the demo page, once its silent refresh on load has settled."""
    page = context.new_page()
    page.goto(service.url("/demo/"))
    expect(page.locator("#status")).not_to_have_text("Restoring your session…")
    return page


def new_username() -> str:
    return f"e2e-{uuid.uuid4().hex[:16]}"


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.fill("#credentials [name=username]", username)
    page.fill("#credentials [name=password]", password)
    page.click("#credentials button[value=login]")
    expect(page.locator("#status")).to_have_text("Signed in.")


def signed_in_tab(context: BrowserContext, service: Service) -> tuple[Page, str]:
    username = service.new_user()
    page = open_demo(context, service)
    log_in(page, username)
    return page, username


def ask_for_a_step_up(page: Page) -> None:
    """Sign out everywhere else until the page asks to confirm it's you: once the sign-in
    is older than REAUTH_MAX_AGE_SECONDS (polled: while recent, the click just succeeds)."""
    deadline = time.monotonic() + 15
    while not page.locator("#step-up").is_visible():
        assert time.monotonic() < deadline, "no step-up was asked for"
        page.click("#sign-out-others")
        page.wait_for_function(
            "() => !document.querySelector('#step-up').hidden"
            " || document.querySelector('#status').textContent.includes('ended')"
        )
        if not page.locator("#step-up").is_visible():
            page.evaluate("document.querySelector('#status').textContent = ''")
            time.sleep(0.3)


def confirm_if_asked(page: Page, done: str) -> None:
    """Until the JavaScript condition `done` holds: a loaded machine may take longer than
    REAUTH_MAX_AGE_SECONDS (3 s in the cookie-mode runs) from the sign-in to a route that
    needs a recent one; the page then asks to confirm it's you (the password) and retries
    by itself."""
    page.wait_for_function(f"() => ({done}) || !document.querySelector('#step-up').hidden")
    if page.locator("#step-up").is_visible():
        page.fill("#reauth [name=password]", PASSWORD)
        page.click("#reauth button[type=submit]")
    page.wait_for_function(f"() => {done}")


def virtual_authenticator(context: BrowserContext, page: Page) -> CDPSession:
    """Chromium's virtual authenticator on this page (CDP): a platform authenticator that
    holds discoverable credentials and verifies its user at once."""
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }
    authenticator = devtools.send("WebAuthn.addVirtualAuthenticator", {"options": options})
    devtools.authenticator_id = authenticator["authenticatorId"]  # type: ignore[attr-defined]
    return devtools


def refresh_cookie(context: BrowserContext) -> dict[str, Any] | None:
    found = [dict(c) for c in context.cookies() if c["name"] == COOKIE and c["value"]]
    return found[0] if found else None


def call(page: Page, method: str, path: str) -> int:
    """A call through the page's own client (refresh once and retry once after a 401)."""
    return int(
        page.evaluate(
            "async ([method, path]) => (await sessionDemo.api(method, path)).status",
            [method, path],
        )
    )


def responses_of(page: Page) -> list[str]:
    """'METHOD /path STATUS' of every API response the page gets from now on."""
    seen: list[str] = []

    def record(response: Response) -> None:
        request = response.request
        path = request.url.split("://", 1)[1].split("/", 1)[1]
        if path.startswith("auth/"):
            seen.append(f"{request.method} /{path} {response.status}")

    page.on("response", record)
    return seen


# -- the demo page, served by the local run only ------------------------------------------
