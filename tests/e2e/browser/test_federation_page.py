"""Sign-in with another identity provider in a real browser: Chromium on the demo page of
a local run in cookie mode, a button for the provider the run has registered (Node's
oidc-provider, OpenID Certified, started by the test), through the provider and back,
signed in with the refresh cookie; the provider's identity listed, the session's amr
`fed`. A second visit with the same identity signs in to the same account."""

from __future__ import annotations

import json

import pytest
from botocore.credentials import Credentials
from playwright.sync_api import BrowserContext, expect

from local_run.sigv4 import signed_headers
from tests.e2e.browser.pages import open_demo
from tests.e2e.service import Service
from tests.federation.upstream import UpstreamProvider

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
CLIENT_ID, CLIENT_SECRET = "local-run", "local-run-secret-0123456789"


def register_provider(service: Service, issuer: str) -> None:
    """POST /admin/identity-providers, signed with the local run's own credentials."""
    body = {
        "provider_id": "upstream",
        "issuer": issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "name": "Upstream",
    }
    data = json.dumps(body).encode()
    url = service.url("/admin/identity-providers")
    headers = signed_headers(
        "POST",
        url,
        data,
        Credentials(service.access_key, "local"),
        "us-east-1",
        {"host": url.split("/")[2]},
    )
    answer = service.post("/admin/identity-providers", headers=headers, data=data)
    assert answer.status_code in (201, 409), answer.text


def test_the_demo_page_signs_in_through_the_provider(
    cookie_service: Service, context: BrowserContext
) -> None:
    service = cookie_service
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [service.url("/auth/federation/upstream/callback")],
    }
    with UpstreamProvider().start([client]) as upstream:
        register_provider(service, upstream.issuer)
        upstream.sign_in_as("browser-user", email="browser@upstream.test", name="Browser")
        page = open_demo(context, service)
        button = page.get_by_role("button", name="Sign in with Upstream")
        expect(button).to_be_visible()
        button.click()
        expect(page.locator("#signed-in")).to_be_visible()
        assert page.url == service.url("/demo/")  # the answer taken out of the address
        seen = page.evaluate(
            """async () => {
                const identities = await sessionDemo.api("GET", "/auth/identities");
                const session = await sessionDemo.api("GET", "/auth/session");
                return { identities: await identities.json(), session: await session.json() };
            }"""
        )
        [identity] = seen["identities"]["identities"]
        assert (identity["provider_id"], identity["subject"]) == ("upstream", "browser-user")
        assert seen["session"]["amr"] == ["fed"]
        user_id = seen["session"]["user_id"]
        # Again, in another browser: the same account
        other = open_demo(context.browser.new_context(), service)  # type: ignore[union-attr]
        other.get_by_role("button", name="Sign in with Upstream").click()
        expect(other.locator("#signed-in")).to_be_visible()
        again = other.evaluate(
            'async () => (await (await sessionDemo.api("GET", "/auth/session")).json())'
        )
        assert again["user_id"] == user_id
        other.context.close()
