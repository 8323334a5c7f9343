"""Passkeys in a real browser, through the demo page: Chromium's virtual authenticator
(DevTools WebAuthn domain: internal transport, resident key, user verification) creates
a passkey, answers the second step of a password login with it, signs in with it without
a username, and answers a step-up. The page runs on
http://localhost (a secure context; WebAuthn refuses IP addresses as relying-party ids).

Also writes docs/passkeys.png, the screenshot in docs/frontend.md."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, CDPSession, expect

from local_run.launcher import free_port
from local_run.template import ROOT
from tests.e2e.browser.pages import (
    ask_for_a_step_up,
    confirm_if_asked,
    log_in,
    open_demo,
    virtual_authenticator,
)
from tests.e2e.service import DEPLOYED_URL, Service
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
SCREENSHOT = ROOT / "docs" / "passkeys.png"


@pytest.fixture(scope="module")
def passkey_service(local_services: Callable[..., Service]) -> Service:
    """Cookie mode on http://localhost:<port> (the relying party `localhost`), with
    sign-ins that age fast: a step-up is asked for within seconds."""
    if DEPLOYED_URL:
        pytest.skip("needs a local run serving the demo page")
    port = free_port()
    origin = f"http://localhost:{port}"
    service = local_services(
        PORT=str(port),
        REFRESH_TOKEN_TRANSPORT="cookie",
        ALLOWED_ORIGINS=origin,
        REAUTH_MAX_AGE_SECONDS="3",
    )
    return dataclasses.replace(service, base_url=origin)


def _credentials(devtools: CDPSession) -> list[dict[str, object]]:
    found = devtools.send(
        "WebAuthn.getCredentials",
        {"authenticatorId": devtools.authenticator_id},  # type: ignore[attr-defined]
    )
    return list(found["credentials"])


def test_create_a_passkey_sign_in_with_it_and_answer_a_step_up(
    passkey_service: Service, context: BrowserContext
) -> None:
    service = passkey_service
    username = service.new_user()
    page = open_demo(context, service)
    devtools = virtual_authenticator(context, page)
    log_in(page, username)
    # Add a passkey: the authenticator now holds one discoverable credential for this user
    page.fill("#passkey-add [name=name]", "This laptop")
    page.click("#passkey-add button")
    confirm_if_asked(page, "document.querySelector('#passkeys tr') !== null")
    expect(page.locator("#passkeys tr")).to_have_count(1)
    expect(page.locator("#passkeys tr td").first).to_have_text("This laptop")
    [credential] = _credentials(devtools)
    assert credential["isResidentCredential"] is True
    # Sign out, then in with the password: the account now asks for its passkey after it
    page.click("#logout")
    expect(page.locator("#status")).to_have_text("Signed out.")
    page.fill("#credentials [name=username]", username)
    page.fill("#credentials [name=password]", PASSWORD)
    page.click("#credentials button[value=login]")
    expect(page.locator("#status")).to_have_text("Use your passkey.")
    expect(page.locator("#code-step")).to_be_hidden()
    page.click("#second-step-passkey")
    expect(page.locator("#status")).to_have_text("Signed in.")
    # Sign out, then in with the passkey alone: no username, no password
    page.click("#logout")
    expect(page.locator("#status")).to_have_text("Signed out.")
    page.click("#passkey-login")
    expect(page.locator("#status")).to_have_text("Signed in with a passkey.")
    expect(page.locator("#current")).to_contain_text("passkey")
    assert int(str(_credentials(devtools)[0]["signCount"])) >= 1
    expect(page.locator("#passkeys tr td").nth(2)).not_to_have_text("never")
    page.screenshot(path=str(SCREENSHOT), full_page=True, animations="disabled", caret="hide")
    # Once the sign-in is older than REAUTH_MAX_AGE_SECONDS, signing out everywhere else
    # asks to confirm it's you; the passkey answers (polled: while recent it just succeeds)
    ask_for_a_step_up(page)
    page.click("#reauth-passkey")
    expect(page.locator("#status")).to_have_text("Every other session has ended.")
    expect(page.locator("#step-up")).to_be_hidden()
