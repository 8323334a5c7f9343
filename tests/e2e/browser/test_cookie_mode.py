"""Cookie mode in a real browser: headless Chromium (Debian's package, `make browser`) drives
the demo page the local run serves at /demo/. The refresh cookie stays out of JavaScript's
reach, pages of other origins can neither refresh nor log out, two tabs may refresh at the
same moment, logout clears the cookie, and a password change signs other devices out.
Also writes docs/frontend.png, the screenshot in docs/frontend.md."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import (
    BrowserContext,
    Route,
    expect,
)

from local_run.template import ROOT
from tests.e2e.browser.pages import (
    COOKIE,
    PHONE,
    call,
    log_in,
    new_username,
    open_demo,
    refresh_cookie,
    responses_of,
    signed_in_tab,
)
from tests.e2e.service import Service
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SCREENSHOT = ROOT / "docs" / "frontend.png"


def test_the_local_run_serves_the_demo_page_and_no_other_file(cookie_service: Service) -> None:
    types = {
        "/demo/": "text/html; charset=utf-8",
        "/demo/demo.js": "text/javascript; charset=utf-8",
        "/demo/demo.css": "text/css; charset=utf-8",
        "/demo/favicon.svg": "image/svg+xml",
    }
    for path, content_type in types.items():
        answer = cookie_service.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["Content-Type"] == content_type
        assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
    redirect = cookie_service.get("/demo", allow_redirects=False)
    assert (redirect.status_code, redirect.headers["Location"]) == (308, "/demo/")
    # Nothing outside local_run/demo/, however the path is spelled (sent as written)
    host = cookie_service.base_url.removeprefix("http://")
    for path in ("/demo/../gateway.py", "/demo/..%2fgateway.py", "/demo/%00", "/demo/no.js"):
        connection = http.client.HTTPConnection(host, timeout=30)
        try:
            connection.request("GET", path)
            answer_404 = connection.getresponse()
            assert (answer_404.status, answer_404.read()) == (404, b'{"message": "Not Found"}')
        finally:
            connection.close()
    # Never deployed: no resource of the template takes its code from local_run/.
    assert "local_run" not in (ROOT / "template.yaml").read_text()


# -- (a) login, the session list, the screenshot -------------------------------------------


def test_register_and_log_in_through_the_page_then_a_reload_restores_the_session(
    cookie_service: Service, context: BrowserContext
) -> None:
    # Registering through the page logs in as well
    username = new_username()
    page = open_demo(context, cookie_service)
    expect(page.locator("#status")).to_have_text("Not signed in.")
    page.fill("#credentials [name=username]", username)
    page.fill("#credentials [name=password]", PASSWORD)
    page.click("#credentials button[value=register]")
    expect(page.locator("#status")).to_have_text("Signed in.")
    # The same user on a phone
    cookie_service.login(username, headers={"User-Agent": PHONE})
    # A reload forgets the access token; the cookie restores the session
    page.reload()
    expect(page.locator("#status")).to_have_text("Session restored.")
    rows = page.locator("#sessions tr")
    expect(rows).to_have_count(2)
    # Newest first: the phone, then this browser
    expect(rows.nth(0)).to_contain_text("Safari on iPhone")
    expect(rows.nth(0)).to_contain_text("127.0.0.1")
    expect(rows.nth(0).locator("button")).to_have_text("Sign out")
    expect(rows.nth(1)).to_contain_text("HeadlessChrome on Linux")
    expect(rows.nth(1)).to_contain_text("this device")
    expect(page.locator("#current")).to_contain_text("127.0.0.1")
    expect(page.locator("#not-cookie-mode")).to_be_hidden()
    page.screenshot(path=str(SCREENSHOT), full_page=True, animations="disabled", caret="hide")


# -- (b) the refresh token is out of JavaScript's reach ------------------------------------


def test_the_refresh_cookie_is_httponly_secure_strict_and_invisible_to_scripts(
    cookie_service: Service, context: BrowserContext
) -> None:
    username = cookie_service.new_user()
    page = open_demo(context, cookie_service)
    with page.expect_response("**/auth/login") as login:
        log_in(page, username)
    assert "refresh_token" not in login.value.json()
    # The browser holds it ...
    cookie = refresh_cookie(context)
    assert cookie is not None
    assert cookie["value"].startswith("rt2.")
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
    assert (cookie["domain"], cookie["path"]) == ("127.0.0.1", "/")
    # ... but no script of the page sees it, and nothing is left in web storage
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert cookie["value"] not in page.content()


# -- (c) another origin can neither refresh nor log out ------------------------------------


@pytest.mark.parametrize(
    ("host", "cookie_sent", "form_status"),
    [("127.0.0.1", True, 403), ("localhost", False, 401)],
    ids=["same-site", "cross-site"],
)
def test_a_page_of_another_origin_can_neither_refresh_nor_log_out(
    cookie_service: Service,
    context: BrowserContext,
    attacker_port: int,
    host: str,
    cookie_sent: bool,
    form_status: int,
) -> None:
    # Another port of 127.0.0.1 is another origin of the same site: the browser sends the
    # SameSite=Strict cookie along, and the Origin check refuses it. localhost is another
    # site: the cookie stays home.
    page, _ = signed_in_tab(context, cookie_service)
    cookie = refresh_cookie(context)
    elsewhere = context.new_page()
    elsewhere.goto(f"http://{host}:{attacker_port}/")
    attempts = elsewhere.evaluate("window.attempts")
    # CORS: the preflight for X-Requested-With is refused, and without the header the
    # answer (a refusal) cannot be read either
    assert attempts == {
        "refresh": "failed: TypeError",
        "logout": "failed: TypeError",
        "refreshWithoutHeader": "failed: TypeError",
        "logoutWithoutHeader": "failed: TypeError",
    }
    # A form post from there is refused too (no allowed Origin, no X-Requested-With)
    with elsewhere.expect_navigation() as navigation:
        elsewhere.click("button")
    answer = navigation.value
    assert answer is not None
    assert answer.status == form_status, answer.text()
    assert (COOKIE in (answer.request.header_value("cookie") or "")) is cookie_sent
    # The session is alive: the access token still works as it is, the cookie is the
    # same, and it still refreshes
    calls = responses_of(page)
    assert call(page, "GET", "/auth/session") == 200
    assert refresh_cookie(context) == cookie
    assert page.evaluate("sessionDemo.refresh()") is True
    assert calls == ["GET /auth/session 200", "POST /auth/refresh 200"]


# -- (d) two tabs refreshing at the same moment --------------------------------------------


def test_two_tabs_refreshing_at_the_same_moment_both_stay_signed_in(
    cookie_service: Service, context: BrowserContext
) -> None:
    first, _ = signed_in_tab(context, cookie_service)
    second = open_demo(context, cookie_service)  # the same browser: restored by the cookie
    expect(second.locator("#status")).to_have_text("Session restored.")
    tabs = [first, second]
    # Both tabs start a refresh; the browser holds both requests until both are sent, then
    # lets them go together (so neither can carry the cookie the other one's answer sets)
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    context.route("**/auth/refresh", hold)
    for tab in tabs:
        tab.evaluate("() => { window.refreshed = sessionDemo.refresh(); }")
    deadline = time.monotonic() + 10
    while len(held) < 2 and time.monotonic() < deadline:
        first.wait_for_timeout(10)
    assert len(held) == 2
    for route in held:
        route.continue_()
    context.unroute("**/auth/refresh", hold)
    assert [tab.evaluate("window.refreshed") for tab in tabs] == [True, True]
    refreshes = [route.request for route in held]
    # They presented the same refresh token: one rotated it, the other is the grace
    # window's case (without the window, that would be reuse and end the session)
    presented = [request.header_value("cookie") for request in refreshes]
    assert len(presented) == 2
    assert presented[0] == presented[1], "the two refreshes did not overlap"
    # Both tabs go on working, in the same session, and refresh again
    for tab in tabs:
        assert call(tab, "GET", "/auth/session") == 200
        assert tab.evaluate("sessionDemo.refresh()") is True
        expect(tab.locator("#signed-in")).to_be_visible()
    assert refresh_cookie(context) is not None


# -- (e) logout ---------------------------------------------------------------------------


def test_logout_clears_the_cookie_and_the_next_refresh_fails(
    cookie_service: Service, context: BrowserContext
) -> None:
    page, _ = signed_in_tab(context, cookie_service)
    cookie = refresh_cookie(context)
    assert cookie is not None
    with page.expect_response("**/auth/logout") as logout:
        page.click("#logout")
    assert logout.value.status == 204
    expect(page.locator("#status")).to_have_text("Signed out.")
    expect(page.locator("#signed-out")).to_be_visible()
    assert refresh_cookie(context) is None
    with page.expect_response("**/auth/refresh") as refreshed:
        assert page.evaluate("sessionDemo.refresh()") is False
    assert refreshed.value.status == 401
    # Not merely forgotten: the session has ended, so the old cookie is refused too
    context.add_cookies([cookie])  # type: ignore[list-item]
    with page.expect_response("**/auth/refresh") as replayed:
        assert page.evaluate("sessionDemo.refresh()") is False
    assert replayed.value.status == 401


# -- (f) a password change ------------------------------------------------------------------


def test_a_password_change_signs_the_other_devices_out(
    cookie_service: Service, new_context: Callable[[], BrowserContext]
) -> None:
    laptop, phone = new_context(), new_context()
    laptop_tab, username = signed_in_tab(laptop, cookie_service)
    laptop_other_tab = open_demo(laptop, cookie_service)
    phone_tab = open_demo(phone, cookie_service)
    log_in(phone_tab, username)
    expect(laptop_tab.locator("#sessions tr")).to_have_count(1)  # listed before the phone
    # The password changes on the laptop
    laptop_tab.fill("#password [name=current_password]", PASSWORD)
    laptop_tab.fill("#password [name=new_password]", "a brand new passphrase")
    laptop_tab.click("#password button")
    expect(laptop_tab.locator("#status")).to_have_text(
        "Password changed. Every other session has ended."
    )
    expect(laptop_tab.locator("#sessions tr")).to_have_count(1)
    # The phone's next call is refused; its one refresh is refused; it is signed out
    phone_calls = responses_of(phone_tab)
    assert call(phone_tab, "GET", "/auth/session") == 401
    assert phone_calls == ["GET /auth/session 401", "POST /auth/refresh 401"]
    expect(phone_tab.locator("#signed-out")).to_be_visible()
    expect(phone_tab.locator("#status")).to_have_text(
        "Your session has ended. Please log in again."
    )
    assert refresh_cookie(phone) is None
    # The laptop's other tab shares the laptop's cookie, which now holds the new session:
    # its old access token is refused, its refresh moves it into the new session
    other_calls = responses_of(laptop_other_tab)
    assert call(laptop_other_tab, "GET", "/auth/session") == 200
    assert other_calls == [
        "GET /auth/session 401",
        "POST /auth/refresh 200",
        "GET /auth/session 200",
    ]
    # And the old password no longer opens a session
    log_in_again = open_demo(phone, cookie_service)
    log_in_again.fill("#credentials [name=username]", username)
    log_in_again.fill("#credentials [name=password]", PASSWORD)
    log_in_again.click("#credentials button[value=login]")
    expect(log_in_again.locator("#status")).to_have_text("The username or password is incorrect.")


# -- silent refresh before expiry ------------------------------------------------------------


def test_the_page_refreshes_silently_thirty_seconds_before_the_access_token_expires(
    cookie_service: Service, context: BrowserContext
) -> None:
    username = cookie_service.new_user()
    page = context.new_page()
    page.clock.install()
    page.goto(cookie_service.url("/demo/"))
    expect(page.locator("#status")).to_have_text("Not signed in.")
    with page.expect_response("**/auth/login") as login:
        log_in(page, username)
    expires_in = int(login.value.json()["expires_in"])
    calls = responses_of(page)
    page.clock.run_for((expires_in - 31) * 1000)
    assert calls == []
    with page.expect_response("**/auth/refresh") as refreshed:
        page.clock.run_for(2000)
    assert refreshed.value.status == 200
    assert call(page, "GET", "/auth/session") == 200
    assert calls == ["POST /auth/refresh 200", "GET /auth/session 200"]
