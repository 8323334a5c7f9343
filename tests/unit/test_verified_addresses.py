"""A user's address (VerifiedAddresses) over the in-memory stores: asked for at registration
or later, proved with the mailed code, unique among verified addresses; and e-mail off
(or sign-in by code off): every route's domain call answers 409."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.domain import CLIENT
from harness.email_domain import (
    EmailDomain,
    build_email_domain,
    mailed_code,
    owner_change,
    verify_address,
)
from session_service.domain.email.policy import EmailPolicy
from session_service.domain.errors import Conflict, InsufficientUserAuthentication
from session_service.domain.flows.recovery import ResetRequest
from tests.helpers import enroll_totp, login_as, outcome

PASSWORD = "correct horse"
ADDRESS = "ada@example.test"


@pytest.fixture
def domain() -> EmailDomain:
    return build_email_domain()


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_registration_with_an_address_mails_a_code_that_verifies_it(
    domain: EmailDomain,
) -> None:
    create = domain.email.addresses.account_creator(" Ada@Example.TEST ", CLIENT.ip)
    user_id = domain.accounts.register("ada", PASSWORD, CLIENT.ip, create)
    # Until verified, the account view shows the pending address
    view = domain.email.addresses.account(user_id, "ada")
    assert (view.profile.email, view.pending.address if view.pending else None) == (None, ADDRESS)
    code = mailed_code(domain.email, ADDRESS, "verify_email")
    change = owner_change(user_id)
    assert domain.email.addresses.verify(change, code) == ADDRESS
    view = domain.email.addresses.account(user_id, "ada")
    assert (view.profile.email, view.pending) == (ADDRESS, None)
    assert domain.store.email_owners[ADDRESS].user_id == user_id
    assert [e.event_type for e in domain.store.account_events] == ["EmailVerified"]
    # The code is spent
    assert outcome(lambda: domain.email.addresses.verify(change, code)) == "InvalidGrant"


def test_a_registration_whose_name_is_taken_writes_no_address(domain: EmailDomain) -> None:
    domain.accounts.register("ada", PASSWORD, CLIENT.ip)
    create = domain.email.addresses.account_creator(ADDRESS, CLIENT.ip)
    assert outcome(lambda: domain.accounts.register("ADA", PASSWORD, CLIENT.ip, create)) == (
        "Conflict"
    )
    assert (domain.store.email_pending, domain.store.mail_requests) == ({}, {})


def test_wrong_codes_are_counted_and_five_spend_the_code(domain: EmailDomain) -> None:
    user_id = domain.accounts.register("ada", PASSWORD, CLIENT.ip)
    change = owner_change(user_id)
    domain.email.addresses.request_verification(change, ADDRESS, CLIENT.ip)
    code = mailed_code(domain.email, ADDRESS, "verify_email")
    verify = domain.email.addresses.verify
    assert [outcome(lambda: verify(change, _wrong(code))) for _ in range(5)] == ["InvalidGrant"] * 5
    assert domain.store.email_pending[user_id].tries == 5
    assert outcome(lambda: verify(change, code)) == "InvalidGrant"
    assert outcome(lambda: verify(change, "12345")) == "InvalidRequest"
    assert domain.store.profiles[user_id].email is None


def test_a_newer_request_voids_the_older_code(domain: EmailDomain) -> None:
    user_id = domain.accounts.register("ada", PASSWORD, CLIENT.ip)
    change = owner_change(user_id)
    domain.email.addresses.request_verification(change, ADDRESS, CLIENT.ip)
    older = mailed_code(domain.email, ADDRESS, "verify_email")
    domain.email.addresses.request_verification(change, "ada@other.test", CLIENT.ip)
    newer = mailed_code(domain.email, "ada@other.test", "verify_email")
    if older != newer:  # (alike one time in a million)
        assert outcome(lambda: domain.email.addresses.verify(change, older)) == "InvalidGrant"
    assert domain.email.addresses.verify(change, newer) == "ada@other.test"


def test_an_address_another_account_verified_is_a_conflict(domain: EmailDomain) -> None:
    ada = domain.accounts.register("ada", PASSWORD, CLIENT.ip)
    bob = domain.accounts.register("bob", PASSWORD, CLIENT.ip)
    verify_address(domain.email, ada, ADDRESS)
    change = owner_change(bob, "bob")
    domain.email.addresses.request_verification(change, ADDRESS, CLIENT.ip)
    code = mailed_code(domain.email, ADDRESS, "verify_email")
    with pytest.raises(Conflict) as conflict:
        domain.email.addresses.verify(change, code)
    assert conflict.value.status == 409
    assert domain.store.profiles[bob].email is None
    # Once Ada moves to another address, Bob may have it
    verify_address(domain.email, ada, "ada@new.test")
    domain.email.addresses.request_verification(change, ADDRESS, CLIENT.ip)
    bobs = mailed_code(domain.email, ADDRESS, "verify_email")
    assert domain.email.addresses.verify(change, bobs) == ADDRESS
    assert {a: o.user_id for a, o in domain.store.email_owners.items()} == {
        "ada@new.test": ada,
        ADDRESS: bob,
    }


def test_an_account_with_totp_changes_its_address_only_from_a_session_that_proved_it(
    domain: EmailDomain,
) -> None:
    user_id = domain.accounts.register("ada", PASSWORD, CLIENT.ip)
    enroll_totp(domain, login_as(domain))
    with pytest.raises(InsufficientUserAuthentication):
        domain.email.addresses.request_verification(owner_change(user_id), ADDRESS, CLIENT.ip)
    proved = owner_change(user_id, amr=("pwd", "otp"))
    domain.email.addresses.request_verification(proved, ADDRESS, CLIENT.ip)
    assert domain.store.email_pending[user_id].address == ADDRESS


def test_asking_beyond_the_addresss_mailing_limit_is_429(domain: EmailDomain) -> None:
    user_id = domain.accounts.register("ada", PASSWORD, CLIENT.ip)
    change = owner_change(user_id)
    ask = domain.email.addresses.request_verification
    outcomes = [outcome(lambda: ask(change, ADDRESS, CLIENT.ip)) for _ in range(6)]
    assert outcomes == ["ok"] * 5 + ["RateLimited"]


# -- e-mail off ----------------------------------------------------------------------------


def _routes(domain: EmailDomain, user_id: str) -> dict[str, Callable[[], object]]:
    """Each e-mail route's domain call."""
    email, change = domain.email, owner_change(user_id)
    return {
        "register": lambda: email.addresses.account_creator(ADDRESS, CLIENT.ip),
        "add_email": lambda: email.addresses.request_verification(change, ADDRESS, CLIENT.ip),
        "verify": lambda: email.addresses.verify(change, "123456"),
        "forgot": lambda: email.recovery.forgot("ada", None, CLIENT.ip),
        "reset": lambda: email.recovery.reset(ResetRequest("t" * 43, "a good password", CLIENT)),
        "login_start": lambda: email.sign_in.start(ADDRESS, CLIENT.ip),
        "login": lambda: email.sign_in.complete("t" * 43, "123456", CLIENT),
    }


def test_with_email_off_every_route_answers_conflict_but_the_account() -> None:
    off = build_email_domain(EmailPolicy())
    user_id = off.accounts.register("ada", PASSWORD, CLIENT.ip)
    for route, call in _routes(off, user_id).items():
        with pytest.raises(Conflict) as conflict:
            call()
        assert conflict.value.status == 409, route
        assert "EMAIL_SENDER" in conflict.value.description, route
    assert off.store.mail_requests == {}
    view = off.email.addresses.account(user_id, "ada")
    assert (view.profile.email, view.pending) == (None, None)


def test_with_sign_in_by_code_off_only_its_routes_answer_conflict() -> None:
    off = build_email_domain(EmailPolicy(enabled=True, sign_in=False))
    user_id = off.accounts.register("ada", PASSWORD, CLIENT.ip)
    outcomes = {route: outcome(call) for route, call in _routes(off, user_id).items()}
    assert outcomes == {
        "register": "ok",
        "add_email": "ok",
        "verify": "InvalidGrant",
        "forgot": "ok",
        "reset": "InvalidGrant",
        "login_start": "Conflict",
        "login": "Conflict",
    }
