"""Two-step verification in a real browser, through the demo page: enrollment with a QR
code, a login with a code, and a step-up prompt answered with a code. Every code is
computed here, as an authenticator app computes them, each of a later step than the one
before (a step is good once)."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.browser.pages import ask_for_a_step_up, confirm_if_asked, log_in, open_demo
from tests.e2e.service import Service
from tests.helpers import PASSWORD, totp_code

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]


def _enroll(page: Page) -> tuple[str, list[str]]:
    page.click("#totp-on")
    confirm_if_asked(page, "!document.querySelector('#totp-setup').hidden")
    # The URI is drawn as a QR code (an SVG of the local run's), the key shown beside it
    expect(page.locator("#qr svg path")).to_have_count(1)
    secret = page.locator("#totp-secret").inner_text()
    assert len(secret) == 32
    # (the previous step's code, which the one step of skew accepts: the login's code and
    # the step-up's then belong to later steps, wherever the step boundaries fall)
    page.fill("#totp-confirm [name=code]", totp_code(secret, time.time() - 30))
    page.click("#totp-confirm button")
    page.wait_for_function(
        "() => document.querySelector('#status').textContent.includes('is on')"
        " || !document.querySelector('#step-up').hidden"
    )
    if page.locator("#step-up").is_visible():  # (as above: the sign-in aged meanwhile)
        page.fill("#reauth [name=password]", PASSWORD)
        page.click("#reauth button[type=submit]")
    expect(page.locator("#status")).to_have_text("Two-step verification is on.")
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    return secret, codes


def test_enroll_then_log_in_with_a_code_then_answer_a_step_up(
    step_up_service: Service, context: BrowserContext
) -> None:
    service = step_up_service
    username = service.new_user()
    page = open_demo(context, service)
    log_in(page, username)
    # Enroll: the page shows the QR code and key; a code confirms; recovery codes shown
    secret, _ = _enroll(page)
    # (enrolling proves the new secret, not the user: this session still signed in with the
    # password alone)
    expect(page.locator("#current")).not_to_contain_text("authenticator code")
    # Log out, then in: the password step asks for the code, which signs in
    page.click("#logout")
    expect(page.locator("#status")).to_have_text("Signed out.")
    page.fill("#credentials [name=username]", username)
    page.fill("#credentials [name=password]", PASSWORD)
    page.click("#credentials button[value=login]")
    expect(page.locator("#second-step")).to_be_visible()
    page.fill("#second-step [name=code]", "000000")
    page.click("#second-step button")
    expect(page.locator("#status")).to_have_text("The code is incorrect or has been used.")
    page.fill("#second-step [name=code]", totp_code(secret, time.time()))
    page.click("#second-step button")
    expect(page.locator("#status")).to_have_text("Signed in.")
    expect(page.locator("#current")).to_contain_text("password + authenticator code")
    # Once the sign-in is older than REAUTH_MAX_AGE_SECONDS, signing out everywhere else
    # asks the user to confirm it's them (polled: each click while recent just succeeds)
    ask_for_a_step_up(page)
    page.fill("#reauth [name=password]", PASSWORD)
    # (the next step's code, as a phone a little ahead shows it)
    page.fill("#reauth [name=code]", totp_code(secret, time.time() + 30))
    page.click("#reauth button[type=submit]")
    expect(page.locator("#status")).to_have_text("Every other session has ended.")
    expect(page.locator("#step-up")).to_be_hidden()


def test_the_page_shows_the_accounts_recent_activity(
    step_up_service: Service, context: BrowserContext
) -> None:
    service = step_up_service
    username = service.new_user()
    page = open_demo(context, service)
    log_in(page, username)
    # Activity is written a moment later (the table's stream): render again until it is
    deadline = time.monotonic() + 15
    while "Signed in" not in page.locator("#activity").inner_text():
        assert time.monotonic() < deadline, "no activity appeared"
        page.evaluate("sessionDemo.render()")
        time.sleep(0.3)
    expect(page.locator("#activity")).to_contain_text("New device")
