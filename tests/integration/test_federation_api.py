"""Sign-in through an upstream provider (contract v3, federation) over the HTTP API, on
moto, against Node's oidc-provider: the handoff of body mode and the cookie of cookie
mode, one account per identity and never one found by an address, the flow bound to its
browser and spent once, return_to held to the allowed origins, and a second factor still
asked for."""

from __future__ import annotations

import time
from collections.abc import Callable

import pyotp

from harness.stack import Stack
from tests.federation.upstream import UpstreamProvider
from tests.helpers import PASSWORD, assert_error, bearer, login, register
from tests.integration.federation_flow import (
    APP,
    RETURN_TO,
    Browser,
    at_provider,
    callback,
    claims,
    exchange,
    federated_stack,
    fragment,
    linking,
    new_subject,
    sign_in,
    signed_in,
    start,
)
from tests.mail_helpers import EMAIL_ON, deliver_mail, sent, verify_sender


def identities(stack: Stack, access_token: str) -> list[dict[str, str]]:
    answer = stack.http("GET", "/auth/identities", headers=bearer(access_token))
    assert answer.status == 200, answer.json()
    return list(answer.json()["identities"])


def test_a_new_identity_signs_in_to_a_new_account_through_a_handoff(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream)
    subject = new_subject()
    answer = sign_in(stack, upstream, sub=subject, email="ada@upstream.test")
    assert answer.status == 303
    location = answer.headers["location"]
    assert location.startswith(f"{RETURN_TO}#handoff=")
    assert "?" not in location  # no token in a query
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    tokens = exchange(stack, fragment(location)["handoff"])
    assert tokens.status == 200, tokens.json()
    access = claims(tokens.json()["access_token"])
    assert access["amr"] == ["fed"]
    [identity] = identities(stack, tokens.json()["access_token"])
    assert identity["provider_id"] == "upstream"
    assert identity["subject"] == subject
    assert identity["email"] == "ada@upstream.test"
    account = stack.http("GET", "/auth/account", headers=bearer(tokens.json()["access_token"]))
    assert account.json()["identities"] == 1
    assert account.json()["user_id"] == access["sub"]
    # The same identity again: the same account
    again = signed_in(stack, upstream, sub=subject)
    assert claims(again["access_token"])["sub"] == access["sub"]


def test_a_handoff_is_spent_by_its_exchange(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream)
    answer = sign_in(stack, upstream, sub=new_subject())
    handoff = fragment(answer.headers["location"])["handoff"]
    assert exchange(stack, handoff).status == 200
    assert_error(exchange(stack, handoff), 401, "invalid_grant")
    assert_error(exchange(stack, "x" * 43), 401, "invalid_grant")


def test_cookie_mode_sets_the_refresh_cookie_on_the_way_back(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream, REFRESH_TOKEN_TRANSPORT="cookie")
    answer = sign_in(stack, upstream, sub=new_subject())
    assert answer.status == 303
    assert answer.headers["location"] == RETURN_TO
    [refresh] = [c for c in answer.cookies if c.startswith("__Host-refresh_token=")]
    assert "HttpOnly" in refresh
    assert "Secure" in refresh
    token = refresh.split(";")[0].split("=", 1)[1]
    renewed = stack.http(
        "POST",
        "/auth/refresh",
        {},
        headers={
            "cookie": f"__Host-refresh_token={token}",
            "origin": APP,
            "x-requested-with": "fetch",
        },
    )
    assert renewed.status == 200, renewed.json()
    assert claims(renewed.json()["access_token"])["amr"] == ["fed"]


def test_a_replayed_or_forged_state_or_another_browser_signs_nobody_in(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream)
    upstream.sign_in_as(new_subject())
    browser = Browser()
    url = at_provider(upstream, browser, start(stack, browser))
    # Another browser (its own binding, or none) finishing this browser's flow
    other = Browser()
    start(stack, other)
    assert_error(callback(stack, other, url), 400, "invalid_request")
    assert_error(callback(stack, Browser(), url), 400, "invalid_request")
    # A forged state
    forged = url.replace("state=", "state=forged")
    assert_error(callback(stack, browser, forged), 400, "invalid_request")
    # The real one, once; replayed, refused without a redirect
    first = callback(stack, browser, url)
    assert first.status == 303
    replayed = callback(stack, browser, url)
    assert_error(replayed, 400, "invalid_request")
    assert "location" not in replayed.headers
    # Nothing was made for the refused ones: one account, the first's
    accounts = [i for i in stack.items() if i["sk"]["S"] == "PROFILE"]
    assert len(accounts) == 1


def test_a_return_to_outside_the_allowed_origins_is_refused_without_a_redirect(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream)
    for return_to in (
        "https://evil.example/steal",
        "https://app.example.test.evil.example/",
        "//evil.example/",
        "javascript:alert(1)",
        f"{APP}/page#already",
        "",
    ):
        from urllib.parse import quote  # noqa: PLC0415

        answer = stack.http("GET", f"/auth/federation/upstream/start?return_to={quote(return_to)}")
        assert_error(answer, 400, "invalid_request")
        assert "location" not in answer.headers
    unknown = stack.http("GET", f"/auth/federation/nobody/start?return_to={RETURN_TO}")
    assert_error(unknown, 404, "not_found")


def test_a_matching_verified_address_never_reaches_an_existing_account(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    """Pre-account takeover: the identity's verified address is an existing account's
    verified address; a new account is made, the existing one untouched."""
    stack = federated_stack(stack_with, upstream, **EMAIL_ON)
    verify_sender(stack)
    victim = register(stack, "ada")
    owner = bearer(login(stack, "ada")["access_token"])
    assert (
        stack.http("POST", "/auth/email", {"email": "ada@upstream.test"}, headers=owner).status
        == 202
    )
    deliver_mail(stack)
    (mail,) = sent("ada@upstream.test")
    assert (
        stack.http("POST", "/auth/email/verify", {"code": mail.code}, headers=owner).status == 204
    )
    account = stack.http("GET", "/auth/account", headers=owner).json()
    assert (account["email"], account["email_verified"]) == ("ada@upstream.test", True)
    tokens = signed_in(
        stack, upstream, sub=new_subject(), email="ada@upstream.test", email_verified=True
    )
    assert claims(tokens["access_token"])["sub"] != victim
    assert identities(stack, owner["authorization"].removeprefix("Bearer ")) == []
    made = stack.http("GET", "/auth/account", headers=bearer(tokens["access_token"])).json()
    assert (made["email"], made["identities"]) == (None, 1)


def test_with_sign_up_off_an_unknown_identity_is_sent_back_forbidden(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream, FEDERATION_SIGNUP="off")
    answer = sign_in(stack, upstream, sub=new_subject())
    assert answer.status == 303
    said = fragment(answer.headers["location"])
    assert said["error"] == "forbidden"
    assert "link" in said["error_description"]
    assert [i for i in stack.items() if i["sk"]["S"] == "PROFILE"] == []


def test_an_account_with_a_second_factor_proves_it_after_the_provider(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream)
    tokens = signed_in(stack, upstream, sub=(subject := new_subject()))
    access = bearer(tokens["access_token"])
    secret = stack.http("POST", "/auth/mfa/totp", headers=access).json()["secret"]
    totp = pyotp.TOTP(secret)
    confirmed = stack.http("POST", "/auth/mfa/totp/confirm", {"code": totp.now()}, headers=access)
    assert confirmed.status == 200, confirmed.json()
    answer = sign_in(stack, upstream, sub=subject)
    refused = exchange(stack, fragment(answer.headers["location"])["handoff"])
    assert refused.status == 401
    assert refused.json()["error"] == "mfa_required"
    assert refused.json()["factors"] == ["totp", "recovery_code"]
    mfa_token = refused.json()["mfa_token"]
    code = totp.at(time.time() + 30)
    done = stack.http("POST", "/auth/login/mfa", {"mfa_token": mfa_token, "code": code})
    assert done.status == 200, done.json()
    assert claims(done.json()["access_token"])["amr"] == ["fed", "otp"]
    session_id = done.json()["session_id"]
    [session] = [i for i in stack.items() if i["sk"]["S"] == f"SESSION#{session_id}"]
    assert session["provider"]["S"] == "upstream"


def test_cookie_mode_sends_the_second_factor_back_in_the_fragment(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream, REFRESH_TOKEN_TRANSPORT="cookie")
    answer = sign_in(stack, upstream, sub=(subject := new_subject()))
    token = answer.cookies[0].split(";")[0].split("=", 1)[1]
    headers = {"cookie": f"__Host-refresh_token={token}", "origin": APP, "x-requested-with": "x"}
    access = bearer(stack.http("POST", "/auth/refresh", {}, headers=headers).json()["access_token"])
    secret = stack.http("POST", "/auth/mfa/totp", headers=access).json()["secret"]
    code = pyotp.TOTP(secret).now()
    assert (
        stack.http("POST", "/auth/mfa/totp/confirm", {"code": code}, headers=access).status == 200
    )
    again = sign_in(stack, upstream, sub=subject)
    said = fragment(again.headers["location"])
    assert said["error"] == "mfa_required"
    assert len(said["mfa_token"]) >= 43
    assert not [c for c in again.cookies if c.startswith("__Host-refresh_token=")]


def test_unlinking_the_last_way_to_sign_in_is_a_conflict(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream)
    tokens = signed_in(stack, upstream, sub=new_subject())
    access = bearer(tokens["access_token"])
    [identity] = identities(stack, tokens["access_token"])
    refused = stack.http("DELETE", f"/auth/identities/{identity['identity_id']}", headers=access)
    assert_error(refused, 409, "conflict")
    assert identities(stack, tokens["access_token"]) == [identity]
    missing = stack.http(
        "DELETE", "/auth/identities/00000000-0000-4000-8000-000000000000", headers=access
    )
    assert_error(missing, 404, "not_found")


def test_the_owner_links_an_identity_and_unlinks_it(
    stack_with: Callable[..., Stack], upstream: UpstreamProvider
) -> None:
    stack = federated_stack(stack_with, upstream)
    user_id = register(stack, "grace")
    access = bearer(login(stack, "grace")["access_token"])
    asked = stack.http(
        "POST", "/auth/federation/upstream/link", {"return_to": RETURN_TO}, headers=access
    )
    assert asked.status == 200, asked.json()
    url = asked.json()["authorization_url"]
    assert url.startswith("https://sessions.example.test/auth/federation/upstream/start?link=")
    upstream.sign_in_as(subject := new_subject())
    browser = Browser()
    page = stack.http("GET", url.removeprefix("https://sessions.example.test"))
    assert page.status == 200
    assert "<strong>grace</strong>" in page.raw.body.decode()
    back = callback(stack, browser, at_provider(upstream, browser, linking(stack, browser, url)))
    assert back.status == 303
    linked = fragment(back.headers["location"])["identity_linked"]
    [identity] = identities(stack, access["authorization"].removeprefix("Bearer "))
    assert identity["identity_id"] == linked
    assert identity["subject"] == subject
    # The link URL was single use
    reused = stack.http("GET", url.removeprefix("https://sessions.example.test"))
    assert_error(reused, 400, "invalid_request")
    # The identity now signs in to grace's account
    tokens = signed_in(stack, upstream, sub=subject)
    assert claims(tokens["access_token"])["sub"] == user_id
    # She has a password: the identity may go
    gone = stack.http("DELETE", f"/auth/identities/{linked}", headers=access)
    assert gone.status == 204
    assert identities(stack, access["authorization"].removeprefix("Bearer ")) == []
    assert PASSWORD  # (her password still signs her in)
    assert login(stack, "grace")["access_token"]
