"""What an upstream provider's answer must pass before anyone is signed in (contract v3,
federation), over the HTTP API on moto against Node's oidc-provider: the real flow, with
the ID token the service receives replaced by one made from it (signed with the
provider's own key, or not): another audience, a wrong nonce, an expired token, `alg:
none`, an unknown key, a mismatched PKCE verifier. Each is sent back to return_to with
the error in its fragment, and no account or session is made. And the hosted sign-in
page's provider buttons, which end in a central session."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from harness.stack import Stack
from session_service.domain.federation import sign_in as federation_sign_in
from tests.federation.upstream import UpstreamProvider, signing_key
from tests.helpers import assert_error, bearer, login, register
from tests.integration.client_admin import NATIVE_APP, admin_call, registered
from tests.integration.federation_flow import (
    RETURN_TO,
    Browser,
    TokenSwap,
    at_provider,
    callback,
    claims,
    exchange,
    federated_stack,
    fragment,
    linking,
    new_subject,
    register_provider,
    sign_in,
    signed_in,
    start,
    upstream_client,
)
from tests.integration.oauth2_flow import authorize


def made_nothing(stack: Stack) -> None:
    items = stack.items()
    assert [i for i in items if i["sk"]["S"] == "PROFILE"] == []
    assert [i for i in items if i.get("kind", {}).get("S") == "session"] == []
    assert [i for i in items if i.get("kind", {}).get("S") == "federation_handoff"] == []


def refused_with(answer: Any, description: str) -> None:
    assert answer.status == 303
    location = answer.headers["location"]
    assert location.startswith(f"{RETURN_TO}#")
    said = fragment(location)
    assert said["error"] == "invalid_grant"
    assert description in said["error_description"]


CASES: dict[str, tuple[Callable[[TokenSwap], None], str]] = {
    "another audience": (
        lambda swap: setattr(swap, "change", lambda c: {**c, "aud": "another-app"}),
        "aud",
    ),
    "a wrong nonce": (
        lambda swap: setattr(swap, "change", lambda c: {**c, "nonce": "not-the-flows"}),
        "nonce",
    ),
    "an expired token": (
        lambda swap: setattr(
            swap,
            "change",
            lambda c: {**c, "iat": int(time.time()) - 900, "exp": int(time.time()) - 300},
        ),
        "expired",
    ),
    "alg none": (lambda swap: setattr(swap, "unsigned", True), "alg"),
    "an unknown key": (lambda swap: setattr(swap, "key", signing_key()), "key"),
    "another issuer": (
        lambda swap: setattr(swap, "change", lambda c: {**c, "iss": "https://evil.example"}),
        "iss",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_an_id_token_that_fails_a_check_signs_nobody_in(
    stack_with: Callable[..., Stack],
    upstream: UpstreamProvider,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    stack = federated_stack(stack_with, upstream)
    make, description = CASES[case]
    make(TokenSwap(monkeypatch, upstream))
    answer = sign_in(stack, upstream, sub=new_subject())
    refused_with(answer, description)
    made_nothing(stack)


def test_a_mismatched_pkce_verifier_is_refused_by_the_provider(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = federated_stack(stack_with, upstream)
    browser = Browser()
    upstream.sign_in_as(new_subject())
    url = at_provider(upstream, browser, start(stack, browser))
    # The callback derives another verifier than the start's challenge was made from
    monkeypatch.setattr(federation_sign_in, "code_verifier", lambda binding, state: "v" * 43)
    answer = callback(stack, browser, url)
    refused_with(answer, "token endpoint")
    made_nothing(stack)


def test_the_providers_refusal_is_sent_back_as_an_error(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream)
    browser = Browser()
    url = start(stack, browser)
    state = parse_qs(urlsplit(url).query)["state"][0]
    answer = callback(
        stack,
        browser,
        "/auth/federation/upstream/callback?"
        + urlencode({"state": state, "error": "access_denied<script>"}),
    )
    refused_with(answer, "access_denied")
    assert "<script>" not in fragment(answer.headers["location"])["error_description"]
    made_nothing(stack)


def test_the_sign_in_page_offers_each_provider_and_ends_in_a_central_session(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream)
    client = registered(stack, NATIVE_APP)
    location = urlsplit(authorize(stack, client["client_id"]).headers["location"])
    page = stack.http("GET", f"{location.path}?{location.query}")
    body = page.raw.body.decode()
    links = re.findall(r'href="(/auth/federation/upstream/start\?[^"]+)"', body)
    assert len(links) == 1, body
    assert "Sign in with Upstream" in body
    browser = Browser()
    upstream.sign_in_as(new_subject())
    query = links[0].replace("&amp;", "&").split("?", 1)[1]
    back = callback(
        stack, browser, at_provider(upstream, browser, start(stack, browser, query=query))
    )
    assert back.status == 303
    assert back.headers["location"].startswith("/oauth2/authorize?")
    assert parse_qs(urlsplit(back.headers["location"]).query)["client_id"] == [client["client_id"]]
    [central] = [c for c in back.cookies if c.startswith("__Host-sso=")]
    assert "HttpOnly" in central
    sessions = [i for i in stack.items() if i.get("kind", {}).get("S") == "session"]
    assert [s["central"]["BOOL"] for s in sessions] == [True]
    assert [s["provider"]["S"] for s in sessions] == ["upstream"]


def test_a_link_url_starts_nothing_without_its_pages_confirmation(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    """Link CSRF: an attacker's link URL (for the attacker's account) opened in a victim's
    browser must not link the victim's identity silently. Its page names the account, and
    only a POST of that page (this origin) starts the flow."""
    stack = federated_stack(stack_with, upstream)
    register(stack, "mallory")
    access = bearer(login(stack, "mallory")["access_token"])
    body = {"return_to": RETURN_TO}
    url = stack.http("POST", "/auth/federation/upstream/link", body, headers=access).json()[
        "authorization_url"
    ]
    link = parse_qs(urlsplit(url).query)["link"][0]
    page = stack.http("GET", urlsplit(url).path + "?" + urlsplit(url).query)
    assert page.status == 200
    assert "<strong>mallory</strong>" in page.raw.body.decode()
    assert not any(c.startswith("location") for c in page.headers)
    form = urlencode({"link": link})
    for headers in (
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "cross-site"},
        {},
    ):
        posted = stack.http(
            "POST",
            "/auth/federation/upstream/start",
            form,
            headers={**headers, "content-type": "application/x-www-form-urlencoded"},
        )
        assert_error(posted, 403, "forbidden")
    # A link returns to the app, never to the sign-in page
    to_page = {"return_to": "/signin?request=x"}
    refused = stack.http("POST", "/auth/federation/upstream/link", to_page, headers=access)
    assert_error(refused, 400, "invalid_request")


def test_a_provider_registered_again_with_another_issuer_signs_in_none_of_its_identities(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    """Until their owner, signed in, links them again through the new issuer."""
    stack = federated_stack(stack_with, upstream)
    register(stack, "grace")
    access = bearer(login(stack, "grace")["access_token"])

    def link(provider: UpstreamProvider) -> str:
        body = {"return_to": RETURN_TO}
        url = stack.http("POST", "/auth/federation/upstream/link", body, headers=access)
        browser = Browser()
        authorization = linking(stack, browser, url.json()["authorization_url"])
        back = callback(stack, browser, at_provider(provider, browser, authorization))
        return fragment(back.headers["location"])["identity_linked"]

    upstream.sign_in_as(subject := new_subject())
    first = link(upstream)
    assert admin_call(stack, "DELETE", "/admin/identity-providers/upstream").status == 204
    with UpstreamProvider().start([upstream_client()]) as impostor:
        register_provider(stack, impostor)
        answer = sign_in(stack, impostor, sub=subject)
        refused = fragment(answer.headers["location"])
        assert refused["error"] == "invalid_grant"
        assert "another issuer" in refused["error_description"]
        assert len([i for i in stack.items() if i["sk"]["S"] == "PROFILE"]) == 1
        # Grace, signed in, proves the identity at the new issuer: the same identity
        impostor.sign_in_as(subject)
        assert link(impostor) == first
        tokens = signed_in(stack, impostor, sub=subject)
    assert claims(tokens["access_token"])["sub"] == claims(access["authorization"][7:])["sub"]


def test_an_identity_unlinked_after_its_sign_in_buys_nothing_with_its_handoff(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream)
    register(stack, "grace")
    access = bearer(login(stack, "grace")["access_token"])
    body = {"return_to": RETURN_TO}
    url = stack.http("POST", "/auth/federation/upstream/link", body, headers=access)
    browser = Browser()
    upstream.sign_in_as(subject := new_subject())
    authorization = linking(stack, browser, url.json()["authorization_url"])
    back = callback(stack, browser, at_provider(upstream, browser, authorization))
    identity_id = fragment(back.headers["location"])["identity_linked"]
    # A sign-in through the identity, then its owner unlinks it before the handoff is used
    handoff = fragment(sign_in(stack, upstream, sub=subject).headers["location"])["handoff"]
    gone = stack.http("DELETE", f"/auth/identities/{identity_id}", headers=access)
    assert gone.status == 204
    assert_error(exchange(stack, handoff), 401, "invalid_grant")
