"""Single sign-on between the two example apps in Chromium, beside a local run: the
confidential web app (examples/sso_web_app, with back-channel logout) and the public SPA
(examples/sso_spa). A password in one, none in the other; a sign-out in either signs the
user out of both: the web app within 2 s by back-channel logout, the SPA at its next
refresh."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import BrowserContext, Page, Request, Response, expect

from harness.sso_examples import ExampleApp, start_spa, start_web_app
from local_run.launcher import free_port
from tests.e2e.service import DEPLOYED_URL, Service
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

# The bound: from the click on "Sign out" in the SPA to the web app's session gone.
BACKCHANNEL_SECONDS = 2.0
# The web app's own page asks it whether its session lives, every 50 ms.
WEB_APP_SIGNED_OUT = "async () => !(await (await fetch('/status')).json()).signed_in"


@dataclass
class Apps:
    service: Service
    web_app: ExampleApp
    spa: ExampleApp


@pytest.fixture(scope="module")
def apps(local_services: Callable[..., Service]) -> Iterator[Apps]:
    """One local run whose CORS allows the SPA's origin, and the two apps registered as its
    clients, each in a process of its own on a loopback port."""
    if DEPLOYED_URL:
        pytest.skip("registers the apps with a local run's credentials, on loopback URIs")
    spa_port = free_port()
    service = local_services(
        PORT=str(free_port(avoid={spa_port})), ALLOWED_ORIGINS=f"http://127.0.0.1:{spa_port}"
    )
    ports = {spa_port, int(service.base_url.rsplit(":", 1)[1])}
    web_app = start_web_app(service.base_url, free_port(avoid=ports), service.access_key)
    try:
        # Refreshed by its button only: the test says when the SPA's next refresh is.
        spa = start_spa(service.base_url, spa_port, service.access_key, refresh_seconds=3600)
    except Exception:
        web_app.stop()
        raise
    yield Apps(service, web_app, spa)
    spa.stop()
    web_app.stop()


def sign_in_to_the_web_app(context: BrowserContext, apps: Apps, username: str) -> Page:
    """The web app's tab, signed in with the password on the service's hosted page."""
    web = context.new_page()
    web.goto(apps.web_app.url)
    expect(web.locator("#status")).to_have_text("Signed out.")
    web.get_by_role("link", name="Sign in").click()
    web.wait_for_url(f"{apps.service.base_url}/signin?**")
    web.get_by_label("Username").fill(username)
    web.get_by_label("Password").fill(PASSWORD)
    web.get_by_role("button", name="Sign in", exact=True).click()
    expect(web.locator("#status")).to_have_text(f"Signed in as {username}.")
    return web


def open_the_spa(context: BrowserContext, apps: Apps) -> tuple[Page, list[str]]:
    """The SPA's tab once it has settled, and the pages of the service it was sent to."""
    spa = context.new_page()
    visited: list[str] = []

    def record(request: Request) -> None:
        if request.is_navigation_request() and request.url.startswith(apps.service.base_url):
            visited.append(request.url.split("?")[0])

    spa.on("request", record)
    spa.goto(apps.spa.url)
    expect(spa.locator("#status")).not_to_have_text("Loading…")
    return spa, visited


def is_token_request(response: Response) -> bool:
    return response.request.method == "POST" and response.url.endswith("/oauth2/token")


def test_one_password_signs_in_to_both_and_a_sign_out_in_the_spa_ends_the_web_app_at_once(
    apps: Apps, context: BrowserContext, record_property: Callable[[str, object], None]
) -> None:
    username = apps.service.new_user()
    # Given Ada signed in to the web app with her password
    web = sign_in_to_the_web_app(context, apps, username)
    sid = web.locator("#sid").inner_text()
    # When she opens the SPA in another tab
    spa, visited = open_the_spa(context, apps)
    # Then it is signed in to the same central session, and no password was asked for
    expect(spa.locator("#status")).to_have_text(f"Signed in as {username}.")
    expect(spa.locator("#sid")).to_have_text(sid)
    assert visited == [f"{apps.service.base_url}/oauth2/authorize"]
    # And its refresh token works while the central session lives
    with spa.expect_response(is_token_request) as refreshed:
        spa.get_by_role("button", name="Refresh").click()
    assert refreshed.value.status == 200
    # When she signs out in the SPA (RP-initiated logout)
    started = time.monotonic()
    spa.get_by_role("button", name="Sign out").click()
    # Then the web app's session is gone within 2 s
    web.wait_for_function(WEB_APP_SIGNED_OUT, polling=50, timeout=10_000)
    elapsed = time.monotonic() - started
    record_property("backchannel_seconds", round(elapsed, 3))
    assert elapsed < BACKCHANNEL_SECONDS
    # by back-channel logout (the app has no other way to hear of it)
    assert apps.web_app.wait_for_line(f"back-channel logout: session {sid} ended")
    # And both apps say so
    expect(spa.locator("#status")).to_have_text("Signed out.")
    assert spa.url == apps.spa.url
    web.reload()
    expect(web.locator("#status")).to_have_text("Signed out.")


def test_a_sign_out_in_the_web_app_signs_the_spa_out_at_its_next_refresh(
    apps: Apps, context: BrowserContext
) -> None:
    username = apps.service.new_user()
    # Given Ada signed in to the web app with her password, and to the SPA without it
    web = sign_in_to_the_web_app(context, apps, username)
    spa, visited = open_the_spa(context, apps)
    expect(spa.locator("#status")).to_have_text(f"Signed in as {username}.")
    assert visited == [f"{apps.service.base_url}/oauth2/authorize"]
    # When she signs out in the web app (RP-initiated logout, back to the web app)
    web.get_by_role("button", name="Sign out").click()
    web.wait_for_url(apps.web_app.url)
    expect(web.locator("#status")).to_have_text("Signed out.")
    # Then the SPA, told nothing yet, is refused at its next refresh and signs out
    expect(spa.locator("#status")).to_have_text(f"Signed in as {username}.")
    with spa.expect_response(is_token_request) as refused:
        spa.get_by_role("button", name="Refresh").click()
    assert (refused.value.status, refused.value.json()["error"]) == (400, "invalid_grant")
    expect(spa.locator("#status")).to_have_text("Signed out.")
    expect(spa.locator("#notice")).to_have_text("Your session has ended.")
    # And the SPA opened anew is told at once that there is no central session to join
    again, visited = open_the_spa(context, apps)
    expect(again.locator("#status")).to_have_text("Signed out.")
    expect(again.locator("#notice")).to_be_empty()
    assert visited == [f"{apps.service.base_url}/oauth2/authorize"]
    # And signing in to it again asks for the password
    spa.get_by_role("button", name="Sign in").click()
    spa.wait_for_url(f"{apps.service.base_url}/signin?**")
    expect(spa.get_by_label("Password")).to_be_visible()
