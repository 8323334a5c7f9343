"""The second step of a login after a right password (contract v3): the mfa_token with
a passkey's assertion, for an account whose factor is a passkey; the factors a right
password is told of; a wrong passkey counted like a wrong code."""

from __future__ import annotations

import hashlib

import pytest

from harness.domain import CLIENT, Domain
from harness.soft_authenticator import SoftAuthenticator
from session_service.domain.errors import InvalidGrant, InvalidRequest, MfaRequired
from session_service.domain.flows.second_step import SecondStepRequest
from session_service.domain.models import b64url
from session_service.domain.sessions.session_records import IssuedTokens
from tests.helpers import (
    add_passkey,
    enroll_totp,
    login_as,
    passkey_authenticator,
    register_and_login,
)

PROVED = ("hwk", "user")


def _password_step(domain: Domain, username: str = "ada") -> MfaRequired:
    with pytest.raises(MfaRequired) as required:
        login_as(domain, username)
    return required.value


def _passkey_step(
    domain: Domain, mfa_token: str, authenticator: SoftAuthenticator, username: str = "ada"
) -> IssuedTokens:
    ceremony_id, options = domain.passkeys.sign_in_options(username)
    request = SecondStepRequest(
        mfa_token, CLIENT, ceremony_id=ceremony_id, credential=authenticator.get(options)
    )
    return domain.second_step.complete(request)


def test_a_passkey_only_account_asks_for_the_passkey_after_a_right_password(
    domain: Domain,
) -> None:
    # Given an account whose only second factor is a passkey
    issued = register_and_login(domain)
    authenticator = passkey_authenticator()
    add_passkey(domain, issued, authenticator, amr=("pwd",))
    # When the password is right, no session starts: the answer names the factors
    required = _password_step(domain)
    assert required.factors == ("passkey",)
    assert required.body["factors"] == ["passkey"]
    assert len(domain.store.sessions) == 1
    # Then the mfa_token with a passkey's assertion signs in, as both proofs
    done = _passkey_step(domain, required.mfa_token, authenticator)
    assert done.session.amr == ("pwd", "hwk", "user")
    # and the token is spent
    with pytest.raises(InvalidGrant):
        _passkey_step(domain, required.mfa_token, authenticator)


def test_an_account_with_both_factors_names_all_three(domain: Domain) -> None:
    issued = register_and_login(domain)
    add_passkey(domain, issued, passkey_authenticator(), amr=("pwd",))
    enroll_totp(domain, issued, amr=PROVED)
    assert _password_step(domain).factors == ("totp", "passkey", "recovery_code")


def test_another_users_passkey_after_the_password_is_a_wrong_proof(domain: Domain) -> None:
    issued = register_and_login(domain)
    add_passkey(domain, issued, passkey_authenticator(), amr=("pwd",))
    bob = register_and_login(domain, "bob")
    bobs = passkey_authenticator()
    add_passkey(domain, bob, bobs, "bob", amr=("pwd",))
    required = _password_step(domain)
    with pytest.raises(InvalidGrant):
        _passkey_step(domain, required.mfa_token, bobs, username="bob")
    # counted: in the account's second-factor scope and the mfa_token's tries
    assert domain.store.held(f"factor#{issued.session.user_id}") == 1
    assert domain.store.held(f"mfa#{_digest(required.mfa_token)}") == 1


def test_a_code_is_no_proof_for_an_account_without_totp(domain: Domain) -> None:
    issued = register_and_login(domain)
    add_passkey(domain, issued, passkey_authenticator(), amr=("pwd",))
    required = _password_step(domain)
    with pytest.raises(InvalidRequest, match="no TOTP"):
        domain.second_step.complete(SecondStepRequest(required.mfa_token, CLIENT, code="123456"))


def _digest(token: str) -> str:
    return b64url(hashlib.sha256(token.encode()).digest())
