"""Account recovery (PasswordRecovery) over the in-memory stores: "forgot" costs the same
calls whether or not the account exists and records what the mailer is to send; the
mailed token sets a new password once, ends every session (reason password_reset), never
walks past a second factor, and is void once expired, replaced or after a password
change."""

from __future__ import annotations

import pytest

from harness.domain import CLIENT
from harness.email_domain import EmailDomain, build_email_domain, mailed_token, verify_address
from session_service.domain.email.addresses import token_digest
from session_service.domain.errors import (
    InvalidGrant,
    InvalidRequest,
    SecondFactorNeeded,
)
from session_service.domain.flows.recovery import ResetRequest
from session_service.domain.models import Credential
from tests.helpers import change_password, enroll_totp, login_as, outcome, totp_code

PASSWORD = "correct horse"
NEW_PASSWORD = "new battery staple"
ADDRESS = "ada@example.test"


@pytest.fixture
def domain() -> EmailDomain:
    return build_email_domain()


def _user(domain: EmailDomain, address: str | None = ADDRESS) -> str:
    """Ada, with her address verified (unless None)."""
    user_id = domain.accounts.register("ada", PASSWORD, CLIENT.ip)
    if address is not None:
        verify_address(domain.email, user_id, address)
    return user_id


def _token(domain: EmailDomain) -> str:
    domain.email.recovery.forgot("ada", None, CLIENT.ip)
    return mailed_token(domain.email, ADDRESS)


def _credential(domain: EmailDomain) -> Credential:
    return domain.store.credentials["ada"]


def _reset(domain: EmailDomain, token: str, code: str | None = None) -> str:
    request = ResetRequest(token, NEW_PASSWORD, CLIENT, code=code)
    return outcome(lambda: domain.email.recovery.reset(request))


# -- forgot --------------------------------------------------------------------------------


def test_forgot_costs_the_same_calls_for_known_and_unknown_accounts(domain: EmailDomain) -> None:
    _user(domain)
    asked = [("ada", None), ("nobody", None), (None, ADDRESS), (None, "nobody@example.test")]
    calls = []
    for username, address in asked:
        domain.store.calls.clear()
        domain.email.recovery.forgot(username, address, CLIENT.ip)
        calls.append(domain.store.calls[:])
    # Two mailing places (the client's address, the recipient's) and the request recorded
    assert calls == [["reserve", "reserve", "request_mail"]] * 4
    # Nothing is sent on the request's path; the mailer sends to the known account only
    sent = domain.email.deliver()
    assert [(m.to, m.template) for m in sent] == [(ADDRESS, "password_reset")] * 2


def test_forgot_takes_a_username_or_an_address_never_both(domain: EmailDomain) -> None:
    forgot = domain.email.recovery.forgot
    assert outcome(lambda: forgot("ada", ADDRESS, CLIENT.ip)) == "InvalidRequest"
    assert outcome(lambda: forgot(None, None, CLIENT.ip)) == "InvalidRequest"
    assert outcome(lambda: forgot(None, "not an address", CLIENT.ip)) == "InvalidRequest"
    assert outcome(lambda: forgot("", None, CLIENT.ip)) == "InvalidRequest"
    assert domain.store.mail_requests == {}


def test_forgot_beyond_the_addresss_mailing_limit_records_nothing(domain: EmailDomain) -> None:
    _user(domain, address=None)
    for _ in range(6):
        domain.email.recovery.forgot(None, ADDRESS, CLIENT.ip)  # no error: 202 always
    assert len(domain.store.mail_requests) == 5


# -- reset ---------------------------------------------------------------------------------


def test_the_mailed_token_sets_the_password_and_ends_every_session(
    domain: EmailDomain,
) -> None:
    user_id = _user(domain)
    before = login_as(domain)
    token = _token(domain)
    issued = domain.email.recovery.reset(ResetRequest(token, NEW_PASSWORD, CLIENT))
    assert issued.session.amr == ("email",)
    credential = _credential(domain)
    assert (credential.password_version, credential.reset_digest) == (1, None)
    assert domain.passwords.verify(credential.password_hash, NEW_PASSWORD)
    assert domain.store.profiles[user_id].password_change_reason == "reset"
    # Every other session ended, for the reset
    assert domain.store.ended[-1].session_ids == (before.session.session_id,)
    assert domain.store.ended[-1].reason == "password_reset"
    assert outcome(lambda: domain.sessions.refresh(before.refresh_token, CLIENT)) == (
        "InvalidGrant"
    )
    # The token is spent; the new password signs in
    assert _reset(domain, token) == "InvalidGrant"
    assert login_as(domain, password=NEW_PASSWORD).session.user_id == user_id


def test_a_newer_token_voids_the_older(domain: EmailDomain) -> None:
    _user(domain)
    older, newer = _token(domain), _token(domain)
    assert _reset(domain, older) == "InvalidGrant"
    assert _reset(domain, newer) == "ok"


def test_a_password_change_voids_the_token(domain: EmailDomain) -> None:
    _user(domain)
    token = _token(domain)
    change_password(domain, login_as(domain), PASSWORD, "another good password")
    assert _credential(domain).reset_digest is None
    assert _reset(domain, token) == "InvalidGrant"


def test_an_expired_token_is_refused(domain: EmailDomain) -> None:
    _user(domain)
    token = _token(domain)
    domain.clock.advance(900)  # PASSWORD_RESET_TTL_SECONDS
    assert _reset(domain, token) == "InvalidGrant"
    assert _credential(domain).password_version == 0


def test_a_malformed_token_and_a_weak_password_are_refused(domain: EmailDomain) -> None:
    _user(domain)
    token = _token(domain)
    assert _reset(domain, "short") == "InvalidGrant"
    assert _reset(domain, token[:-1] + ("A" if token[-1] != "A" else "B")) == "InvalidGrant"
    weak = ResetRequest(token, "short", CLIENT)
    with pytest.raises(InvalidRequest):
        domain.email.recovery.reset(weak)
    assert _reset(domain, token) == "ok"


# -- an account with a second factor ------------------------------------------------------


def _with_totp(domain: EmailDomain) -> tuple[str, str, list[str]]:
    """Ada with a verified address and TOTP; her user id, secret and recovery codes."""
    user_id = _user(domain)
    secret, codes = enroll_totp(domain, login_as(domain))
    return user_id, secret, codes


def test_a_reset_of_an_account_with_totp_names_the_factors_it_needs(
    domain: EmailDomain,
) -> None:
    _with_totp(domain)
    token = _token(domain)
    with pytest.raises(SecondFactorNeeded) as needed:
        domain.email.recovery.reset(ResetRequest(token, NEW_PASSWORD, CLIENT))
    assert (needed.value.status, needed.value.code) == (400, "invalid_request")
    assert needed.value.body["factors"] == ["totp", "recovery_code"]
    # The token stays good, and the password as it was
    assert _credential(domain).reset_digest == token_digest(token)
    assert _credential(domain).password_version == 0


def test_a_wrong_code_is_counted_and_leaves_the_token_good(domain: EmailDomain) -> None:
    user_id, secret, _ = _with_totp(domain)
    token = _token(domain)
    right = totp_code(secret, domain.clock())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert _reset(domain, token, wrong) == "InvalidGrant"
    assert domain.store.held(f"factor#{user_id}") == 1
    assert _credential(domain).reset_digest == token_digest(token)
    issued = domain.email.recovery.reset(ResetRequest(token, NEW_PASSWORD, CLIENT, code=right))
    assert issued.session.amr == ("email", "otp")
    credential = _credential(domain)
    assert credential.password_version == 1
    assert credential.totp is not None
    assert credential.totp.last_step == int(domain.clock()) // 30  # the step is spent


def test_a_recovery_code_proves_the_factor_of_a_reset(domain: EmailDomain) -> None:
    _, _, codes = _with_totp(domain)
    token = _token(domain)
    issued = domain.email.recovery.reset(ResetRequest(token, NEW_PASSWORD, CLIENT, code=codes[0]))
    assert issued.session.amr == ("email", "otp")
    credential = _credential(domain)
    assert credential.password_version == 1
    assert credential.totp is not None
    assert len(credential.totp.recovery_codes) == len(codes) - 1
    assert [e.event_type for e in domain.store.account_events][-1] == "RecoveryCodeUsed"
    # and it is spent: a second reset with it is refused
    again = _token(domain)
    with pytest.raises(InvalidGrant):
        domain.email.recovery.reset(ResetRequest(again, "a third password", CLIENT, code=codes[0]))
