"""The hosted page (GET /signin) in a real browser, on a local run whose EMAIL_LINK_URL is
left at its default: the reset link read from the run's mailbox opens it, the token leaves
the address bar, the new password is set there (with a recovery code when the account has
two-step verification) and the sessions of before are refused; under its strict
Content-Security-Policy, with nothing kept in the browser."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, expect

from tests.e2e.service import DEPLOYED_URL, Service
from tests.helpers import PASSWORD, totp_code

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

NEW_PASSWORD = "a brand new passphrase"
PASSWORD_LABEL = "New password"
CODE_LABEL = "Code from your authenticator app, or a recovery code"
SUBMIT = "Set the new password"
DONE = "Your password is reset, and every other session has ended. Sign in with the new password."


@pytest.fixture(scope="module")
def hosted_service(local_services: Callable[..., Service]) -> Service:
    """A local run whose reset links point where a deployed stack's do by default: its
    own hosted page (EMAIL_LINK_URL empty, instead of the local run's demo page)."""
    if DEPLOYED_URL:
        pytest.skip("needs a local run's mailbox")
    return local_services(EMAIL_LINK_URL="")


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab whose console and uncaught errors are watched: none is expected (a script or
    style the policy refused would say so there)."""
    tab = context.new_page()
    problems: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(message.text)

    tab.on("console", console)
    tab.on("pageerror", lambda error: problems.append(str(error)))
    yield tab
    # (a 4xx answer the page asked for is logged as a failed resource: not a problem)
    assert [p for p in problems if "status of 4" not in p] == []


def mail_to(service: Service, to: str, pattern: str, after: int = 0) -> str:
    """What `pattern` finds in the newest message to `to` (beyond the first `after`
    messages), polled: the mailer sends it a moment after the request."""
    deadline = time.monotonic() + 30
    while True:
        answer = service.get("/demo/mailbox", params={"to": to})
        assert answer.status_code == 200, answer.text
        messages: list[dict[str, Any]] = answer.json()["messages"]
        for message in messages[: max(len(messages) - after, 0)]:
            found = re.search(pattern, message["text"] or "")
            if found:
                return found.group(0)
        assert time.monotonic() < deadline, f"no message to {to} with {pattern!r}"
        time.sleep(0.2)


def mailbox_size(service: Service, to: str) -> int:
    return len(service.get("/demo/mailbox", params={"to": to}).json()["messages"])


def verified_account(service: Service) -> tuple[str, str, dict[str, Any]]:
    """A new account with a verified address: its name, address and a session."""
    username = f"e2e-{uuid.uuid4().hex[:16]}"
    address = f"{uuid.uuid4().hex[:12]}@example.test"
    body = {"username": username, "password": PASSWORD, "email": address}
    assert service.post("/auth/register", body).status_code == 201
    tokens = service.login(username)
    code = mail_to(service, address, r"\b\d{6}\b")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert service.post("/auth/email/verify", {"code": code}, headers=headers).status_code == 204
    return username, address, tokens


def reset_link(service: Service, address: str) -> str:
    before = mailbox_size(service, address)
    assert service.post("/auth/password/forgot", {"email": address}).status_code == 202
    link = mail_to(service, address, r"https?://\S+#token=[\w-]+", after=before)
    # EMAIL_LINK_URL's default: the service's own hosted page
    assert link.startswith(service.url("/signin#token="))
    return link


def refused(service: Service, tokens: dict[str, Any]) -> bool:
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    return service.get("/auth/session", headers=headers).status_code == 401


def opened(page: Page, link: str) -> None:
    """The link opened: the page asks for the new password, the token gone from the URL."""
    page.goto(link)
    expect(page.get_by_label(PASSWORD_LABEL)).to_be_focused()
    expect(page.get_by_text("Open the link from the e-mail.")).to_be_hidden()
    assert "#" not in page.url
    assert page.evaluate("location.hash") == ""


def body_of(request: Request) -> dict[str, Any]:
    body = request.post_data_json
    assert isinstance(body, dict)
    return body


def nothing_kept(page: Page, context: BrowserContext) -> None:
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert context.cookies() == []


def test_the_mailed_link_resets_the_password_and_ends_the_sessions_of_before(
    hosted_service: Service, page: Page, context: BrowserContext
) -> None:
    service = hosted_service
    # Given Ada, with a verified address, signed in on two devices
    username, address, first = verified_account(service)
    second = service.login(username)
    # When she opens the reset link from her mailbox and sets a new password there
    opened(page, reset_link(service, address))
    page.get_by_label(PASSWORD_LABEL).fill(NEW_PASSWORD)
    with (
        page.expect_request("**/auth/password/reset") as sent,
        page.expect_response("**/auth/logout") as signed_out,
    ):
        page.get_by_role("button", name=SUBMIT).click()
    assert set(body_of(sent.value)) == {"reset_token", "new_password"}
    # (the session the reset started is signed out at once: the page has no use for it)
    assert signed_out.value.status == 204
    # Then the page says so, and keeps nothing
    expect(page.get_by_role("status")).to_have_text(DONE)
    expect(page.get_by_label(PASSWORD_LABEL)).to_be_hidden()
    nothing_kept(page, context)
    # And the sessions of before are refused, and the new password signs her in
    assert refused(service, first)
    assert refused(service, second)
    login = {"username": username, "password": NEW_PASSWORD}
    answer = service.post("/auth/login", login)
    assert answer.status_code == 200
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    # her only session is this one: none is left over from the reset
    assert len(service.get("/auth/sessions", headers=headers).json()["sessions"]) == 1
    # And the link, spent, is invalid from then on
    page.goto("about:blank")  # (else only the fragment would change: no new page)
    page.goto(service.url(f"/signin#token={body_of(sent.value)['reset_token']}"))
    page.get_by_label(PASSWORD_LABEL).fill("yet another passphrase")
    page.get_by_role("button", name=SUBMIT).click()
    expect(page.get_by_role("status")).to_have_text(
        "This link is invalid or has expired. Ask for a new one."
    )


def test_an_account_with_two_step_verification_gives_a_recovery_code_too(
    hosted_service: Service, page: Page, context: BrowserContext
) -> None:
    service = hosted_service
    # Given Ada's account has two-step verification
    username, address, tokens = verified_account(service)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    secret = service.post("/auth/mfa/totp", headers=headers).json()["secret"]
    confirmed = service.post(
        "/auth/mfa/totp/confirm", {"code": totp_code(secret, time.time())}, headers=headers
    )
    assert confirmed.status_code == 200, confirmed.text
    recovery_code = confirmed.json()["recovery_codes"][0]
    # When she sets a new password from the link
    opened(page, reset_link(service, address))
    page.get_by_label(PASSWORD_LABEL).fill(NEW_PASSWORD)
    page.get_by_role("button", name=SUBMIT).click()
    # Then the page asks for a code as well
    expect(page.get_by_label(CODE_LABEL)).to_be_focused()
    # And a wrong one is refused, the form kept for another try
    now = time.time()
    current = {totp_code(secret, now + step) for step in (-30, 0, 30)}
    wrong = next(code for code in ("000000", "111111", "222222") if code not in current)
    page.get_by_label(CODE_LABEL).fill(wrong)
    page.get_by_role("button", name=SUBMIT).click()
    expect(page.get_by_role("status")).to_have_text(
        "The code is incorrect or has been used, or the link has expired."
    )
    # And with a recovery code the password is reset
    page.get_by_label(CODE_LABEL).fill(recovery_code)
    with page.expect_request("**/auth/password/reset") as sent:
        page.get_by_role("button", name=SUBMIT).click()
    assert body_of(sent.value)["code"] == recovery_code
    expect(page.get_by_role("status")).to_have_text(DONE)
    nothing_kept(page, context)
    assert refused(service, tokens)
    answer = service.post("/auth/login", {"username": username, "password": NEW_PASSWORD})
    assert (answer.status_code, answer.json()["error"]) == (401, "mfa_required")


def test_without_a_token_the_page_says_to_open_the_link(
    hosted_service: Service, page: Page
) -> None:
    page.goto(hosted_service.url("/signin"))
    expect(page.get_by_text("Open the link from the e-mail.")).to_be_visible()
    expect(page.get_by_label(PASSWORD_LABEL)).to_be_hidden()


def test_the_policy_refuses_a_script_not_served_by_the_service(
    hosted_service: Service, context: BrowserContext
) -> None:
    # Given the page (a tab of its own: the refusal is logged as an error)
    tab = context.new_page()
    tab.goto(hosted_service.url("/signin"))
    expect(tab.get_by_text("Open the link from the e-mail.")).to_be_visible()
    # When an inline script finds its way into it
    with tab.expect_console_message(lambda m: "Content Security Policy" in m.text):
        tab.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.injected = true";
                document.body.append(script);
            }"""
        )
    # Then the browser refuses to run it
    assert tab.evaluate("window.injected === undefined")
