"""E-mail in a real browser, through the demo page and its mailbox (what the local run's
SES emulator received): a reset link opens the reset form and leaves the address bar;
"forgot password → mailbox → reset" signs in with the new password and ends the sessions
of before; an address added at registration is verified with the mailed code; and a code
by e-mail signs in."""

from __future__ import annotations

import re
import uuid
from email.message import EmailMessage

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.browser.pages import log_in, new_username, open_demo
from tests.e2e.service import Service
from tests.helpers import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NEW_PASSWORD = "a brand new passphrase"


def new_address() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.test"


def mailed(service: Service, to: str, subject: str, text: str) -> None:
    """A message through the run's SES, as the mailer sends one (v2, raw, two parts),
    from a sender of the test's own."""
    ses = service.aws("sesv2")
    sender = "tests@mailbox.localhost"
    ses.create_email_identity(EmailIdentity=sender)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(text)
    message.add_alternative(f"<p>{text}</p>", subtype="html")
    ses.send_email(
        FromEmailAddress=sender,
        Destination={"ToAddresses": [to]},
        Content={"Raw": {"Data": message.as_bytes()}},
    )


def open_mailbox(page: Page, to: str) -> None:
    page.fill("#mailbox-open [name=to]", to)
    page.click("#mailbox-open button")


def mail_texts(page: Page) -> list[str]:
    return page.locator("#mailbox-messages .mail-text").all_inner_texts()


def mailed_code(page: Page, known: list[str]) -> str:
    """The six-digit code of the newest message with one that is not among `known` (the
    mailbox's texts before the code was asked for), once the mailbox shows it: the page
    watches for new mail, which the service sends a moment after the request (notices of
    other changes may arrive meanwhile)."""
    found = page.wait_for_function(
        """known => [...document.querySelectorAll("#mailbox-messages .mail-text")]
            .map((text) => text.innerText)
            .find((text) => /\\b\\d{6}\\b/.test(text) && !known.includes(text))""",
        arg=known,
        timeout=30_000,
    ).json_value()
    (code, *_) = re.findall(r"\b\d{6}\b", str(found))
    return str(code)


def test_a_reset_link_opens_the_reset_form_and_leaves_the_address_bar(
    cookie_service: Service, context: BrowserContext
) -> None:
    # When the page opens from a reset link
    page = context.new_page()
    page.goto(cookie_service.url("/demo/#token=rt-from-the-link"))
    # Then it asks for a new password, and the token is gone from the URL
    expect(page.locator("#password-reset")).to_be_visible()
    expect(page.locator("#reset [name=new_password]")).to_be_focused()
    assert "#" not in page.url
    assert page.evaluate("location.hash") == ""
    # And the reset sends the link's token with the new password, nothing else
    page.fill("#reset [name=new_password]", NEW_PASSWORD)
    with page.expect_request("**/auth/password/reset") as sent:
        page.click("#reset button[type=submit]")
    assert sent.value.post_data_json == {
        "reset_token": "rt-from-the-link",
        "new_password": NEW_PASSWORD,
    }


def test_the_mailbox_shows_what_ses_sent_and_its_links_open_on_the_page(
    cookie_service: Service, context: BrowserContext
) -> None:
    # Given a message with a link to this page, and one to someone else
    ada = new_address()
    link = cookie_service.url("/demo/#token=tok-123")
    mailed(cookie_service, new_address(), "Not Ada's", "Nothing for Ada.")
    mailed(cookie_service, ada, "Reset your password", f"Open {link}. It expires soon.")
    page = open_demo(context, cookie_service)
    # When Ada's mailbox is opened
    open_mailbox(page, ada)
    # Then it shows hers: subject, text, and the link clickable (the sentence's dot left out)
    messages = page.locator("#mailbox-messages .mail")
    expect(messages).to_have_count(1)
    expect(messages.locator(".mail-subject")).to_have_text("Reset your password")
    expect(messages.locator(".mail-meta")).to_contain_text(f"To {ada}")
    anchor = messages.locator(".mail-text a")
    expect(anchor).to_have_attribute("href", link)
    # And the link opens the reset form on this page, its token read and taken away
    anchor.click()
    expect(page.locator("#password-reset")).to_be_visible()
    assert "#" not in page.url
    # An address is required: the mailbox says so in the contract's error shape
    answer = cookie_service.get("/demo/mailbox")
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")


def test_forgot_password_then_the_mailbox_then_a_new_password_ends_the_old_sessions(
    cookie_service: Service, context: BrowserContext
) -> None:
    service = cookie_service
    # Given Ada registered on the page with an address, verified with the mailed code
    username, ada = new_username(), new_address()
    page = open_demo(context, service)
    page.fill("#credentials [name=username]", username)
    page.fill("#credentials [name=password]", PASSWORD)
    page.fill("#credentials [name=email]", ada)
    page.click("#credentials button[value=register]")
    expect(page.locator("#status")).to_have_text("Signed in.")
    expect(page.locator("#account-email")).to_have_text(ada)
    expect(page.locator("#account-email-status")).to_have_text("(not verified)")
    expect(page.locator("#mailbox-open [name=to]")).to_have_value(ada)
    page.click("#mailbox-open button")
    page.fill("#email-verify [name=code]", mailed_code(page, []))
    page.click("#email-verify button")
    expect(page.locator("#status")).to_have_text("Your e-mail address is verified.")
    expect(page.locator("#account-email-status")).to_have_text("(verified)")
    # ... and a session on another device
    other_device = service.login(username)
    page.click("#logout")
    expect(page.locator("#status")).to_have_text("Signed out.")
    # When she forgets her password: a link by e-mail, read in the mailbox
    page.click("#forgot-open")
    page.fill("#forgot [name=email]", ada)
    page.click("#forgot button")
    expect(page.locator("#status")).to_have_text(
        "If the account has a verified e-mail address, a reset link is on its way."
    )
    reset_link = page.locator("#mailbox-messages a[href*='#token=']").first
    expect(reset_link).to_be_visible(timeout=30_000)
    reset_link.click()
    expect(page.locator("#password-reset")).to_be_visible()
    assert "#" not in page.url
    page.fill("#reset [name=new_password]", NEW_PASSWORD)
    page.click("#reset button[type=submit]")
    # Then she is signed in, and every session of before has ended
    expect(page.locator("#status")).to_have_text("Password reset. Every other session has ended.")
    expect(page.locator("#signed-in")).to_be_visible()
    headers = {"Authorization": f"Bearer {other_device['access_token']}"}
    assert service.get("/auth/session", headers=headers).status_code == 401
    # And the new password signs her in
    page.click("#logout")
    log_in(page, username, NEW_PASSWORD)


def test_sign_in_with_a_code_by_e_mail(cookie_service: Service, context: BrowserContext) -> None:
    service = cookie_service
    # Given an account whose address is verified
    username, ada = new_username(), new_address()
    body = {"username": username, "password": PASSWORD, "email": ada}
    assert service.post("/auth/register", body).status_code == 201
    tokens = service.login(username)
    page = open_demo(context, service)
    open_mailbox(page, ada)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    verified = service.post("/auth/email/verify", {"code": mailed_code(page, [])}, headers=headers)
    assert verified.status_code == 204, verified.text
    # When she asks for a code by e-mail and enters it
    known = mail_texts(page)
    page.click("#email-login-open")
    page.fill("#email-login-start [name=email]", ada)
    page.click("#email-login-start button")
    expect(page.locator("#email-login")).to_be_visible()
    page.fill("#email-login [name=code]", mailed_code(page, known))
    page.click("#email-login button")
    # Then she is signed in, by the e-mailed code
    expect(page.locator("#status")).to_have_text("Signed in.")
    expect(page.locator("#current")).to_contain_text("e-mailed code")
    expect(page.locator("#account-username")).to_have_text(username)
