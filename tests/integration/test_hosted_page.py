"""The hosted page (`GET /signin`) through the in-process stack: the default reset link
points at it, it is served with its script and style sheet under a strict
Content-Security-Policy, and the requests it makes reset the password (the browser's own
run of it: tests/e2e/browser/test_hosted_page.py)."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

from harness.stack import ISSUER, HttpAnswer, Stack
from tests.helpers import PASSWORD, assert_error, bearer, login
from tests.mail_helpers import EMAIL_ON, deliver_mail, sent, verify_sender

NEW_PASSWORD = "a brand new passphrase"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# What the page sends (signin.js): JSON, with the CSRF header a browser's request carries.
PAGE_HEADERS = {"content-type": "application/json", "x-requested-with": "fetch"}


class PageParts(HTMLParser):
    """What the page is made of: its scripts, style sheets, labels and fields."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.styles: list[str] = []
        self.labels: dict[str, str] = {}
        self.fields: dict[str, str] = {}  # id -> name
        self.inline: list[str] = []  # style attributes, <style>, on* handlers
        self._label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.inline += [name for name in found if name == "style" or name.startswith("on")]
        if tag == "script":
            self.scripts.append(found.get("src"))
        elif tag == "style":
            self.inline.append("<style>")
        elif tag == "link" and found.get("rel") == "stylesheet":
            self.styles.append(str(found["href"]))
        elif tag == "label":
            self._label = str(found["for"])
            self.labels[self._label] = ""
        elif tag == "input":
            self.fields[str(found["id"])] = str(found["name"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label = None

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self.labels[self._label] += data


@pytest.fixture
def mail_stack(stack_with: Callable[..., Stack]) -> Stack:
    stack = stack_with(**EMAIL_ON)  # EMAIL_LINK_URL left at its default
    verify_sender(stack)
    return stack


def assert_hosted_headers(answer: HttpAnswer, content_type: str) -> None:
    headers = answer.headers
    assert headers["content-type"] == content_type
    assert headers["content-security-policy"] == CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"


def reset_link(stack: Stack, address: str = "ada@example.com") -> str:
    """Ada, with a verified address, asks for a reset: the mailed link."""
    answer = stack.http(
        "POST", "/auth/register", {"username": "ada", "password": PASSWORD, "email": address}
    )
    assert answer.status == 201, answer.json()
    deliver_mail(stack)
    (verification,) = sent(address)
    tokens = login(stack)
    verified = stack.http(
        "POST",
        "/auth/email/verify",
        {"code": verification.code},
        headers=bearer(tokens["access_token"]),
    )
    assert verified.status == 204, verified.json()
    assert stack.http("POST", "/auth/password/forgot", {"email": address}).status == 202
    deliver_mail(stack)
    mail = sent(address)[-1]
    return f"{ISSUER}/signin#token={mail.token}"


def test_the_default_reset_link_opens_the_hosted_page(mail_stack: Stack) -> None:
    # Given a reset link mailed with EMAIL_LINK_URL at its default
    link = reset_link(mail_stack)
    mail = sent("ada@example.com")[-1]
    assert link in mail.text
    assert link in mail.html
    # When the browser asks for it (the fragment stays in the browser)
    page_url = link.split("#", 1)[0]
    page = mail_stack.http("GET", urlsplit(page_url).path)
    # Then the page comes, HTML under a strict policy, never cached, sending no Referer
    assert page.status == 200
    assert_hosted_headers(page, "text/html; charset=utf-8")
    html = page.raw.body.decode()
    assert mail.token not in html
    parts = PageParts()
    parts.feed(html)
    # ...with no inline script or style, its files served beside it
    assert parts.inline == []
    assert None not in parts.scripts
    scripts = [str(src) for src in parts.scripts]
    assets = dict.fromkeys(scripts, "text/javascript") | dict.fromkeys(parts.styles, "text/css")
    assert len(assets) == 2
    for reference, media_type in assets.items():
        asset = mail_stack.http("GET", urlsplit(urljoin(page_url, reference)).path)
        assert asset.status == 200, reference
        assert_hosted_headers(asset, f"{media_type}; charset=utf-8")
        assert asset.raw.body
    # ...and every field labelled: the new password, and a code when one is asked for
    assert set(parts.fields.values()) == {"new_password", "code"}
    assert set(parts.labels) == set(parts.fields)
    assert all(text.strip() for text in parts.labels.values())


def test_a_file_the_page_does_not_load_is_not_found(mail_stack: Stack) -> None:
    for name in ("signin.html", "..%2F__init__.py", "hosted_page_routes.py", "nothing.js"):
        answer = mail_stack.http("GET", f"/signin/assets/{name}")
        assert_error(answer, 404, "not_found")
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_pages_reset_sets_the_password_and_ends_every_other_session(
    mail_stack: Stack,
) -> None:
    # Given Ada signed in on another device, and her reset link
    link = reset_link(mail_stack)
    other_device = login(mail_stack)
    token = link.split("#token=", 1)[1]
    # When the page sends the new password, as its script does
    answer = mail_stack.http(
        "POST",
        "/auth/password/reset",
        {"reset_token": token, "new_password": NEW_PASSWORD},
        headers=PAGE_HEADERS,
    )
    # Then the password is reset and the session of before refused
    assert answer.status == 200, answer.json()
    refused = mail_stack.http("GET", "/auth/session", headers=bearer(other_device["access_token"]))
    assert refused.status == 401
    # And the spent link answers what the page reads as "invalid or expired"
    again = mail_stack.http(
        "POST",
        "/auth/password/reset",
        {"reset_token": token, "new_password": "yet another passphrase"},
        headers=PAGE_HEADERS,
    )
    assert_error(again, 401, "invalid_grant")
