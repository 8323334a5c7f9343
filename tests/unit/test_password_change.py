"""Password change: every session ends at once, a fresh one starts after the change."""

from __future__ import annotations

import pytest

from harness.domain import CLIENT, Domain
from session_service.domain.errors import (
    Conflict,
    InsufficientUserAuthentication,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    MfaRequired,
    RateLimited,
)
from session_service.domain.sessions.session_records import StartRequest
from tests.helpers import (
    add_passkey,
    change_password,
    login_as,
    passkey_authenticator,
    register_and_login,
)


def test_password_change_ends_every_session_and_starts_a_fresh_one(domain: Domain) -> None:
    # Given three sessions, one of which asks for the change
    sessions = [register_and_login(domain) for _ in range(3)]
    user_id = sessions[0].session.user_id
    domain.clock.advance(0.3)
    # When
    fresh = change_password(domain, sessions[0], "correct horse", "new battery staple")
    # Then every earlier session is refused, access and refresh alike, in the same second
    for old in sessions:
        with pytest.raises(InvalidToken):
            domain.sessions.authorize(old.access_token)
        with pytest.raises(InvalidGrant):
            domain.sessions.refresh(old.refresh_token, CLIENT)
    assert list(domain.store.sessions) == [(user_id, fresh.session.session_id)]
    (ended,) = domain.store.ended
    assert ended.reason == "password_changed"
    assert set(ended.session_ids) == {old.session.session_id for old in sessions}
    # And the fresh session works, created no earlier than the change
    domain.sessions.authorize(fresh.access_token)
    profile = domain.store.profiles[user_id]
    assert fresh.session.created_at == profile.not_before == profile.password_changed_at
    # And only the new password logs in
    with pytest.raises(InvalidGrant):
        login_as(domain, password="correct horse")
    login_as(domain, password="new battery staple")


def test_wrong_current_passwords_are_refused_counted_and_end_the_session_at_5(
    domain: Domain,
) -> None:
    # Given a session
    issued = register_and_login(domain)
    other = login_as(domain)
    # When its wrong current passwords reach STEP_UP_FAILURES_PER_SESSION (5)
    for _ in range(4):
        with pytest.raises(InvalidGrant):
            change_password(domain, issued, "not it at all", "new battery staple")
    with pytest.raises(InvalidToken, match="too many wrong proofs"):
        change_password(domain, issued, "not it at all", "new battery staple")
    # Then that session has ended (reauth_failed), and only that one
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(issued.access_token)
    assert domain.store.ended[-1].reason == "reauth_failed"
    assert domain.store.ended[-1].session_ids == (issued.session.session_id,)
    domain.sessions.authorize(other.access_token)
    # And its address is full too: even the right password waits for the window
    with pytest.raises(RateLimited):
        change_password(domain, other, "correct horse", "new battery staple")


def test_new_password_must_differ_and_be_long_enough(domain: Domain) -> None:
    issued = register_and_login(domain)
    with pytest.raises(Conflict, match="differ"):
        change_password(domain, issued, "correct horse", "correct horse")
    with pytest.raises(InvalidRequest, match="new_password"):
        change_password(domain, issued, "correct horse", "short")


def test_a_login_that_verified_the_old_password_cannot_start_after_the_change(
    domain: Domain,
) -> None:
    # Given a login that read the credential before a password change landed
    issued = register_and_login(domain)
    user_id = issued.session.user_id
    credential = domain.store.find_credential("ada")
    change_password(domain, issued, "correct horse", "new battery staple")
    # When it tries to start its session with the old credential
    with pytest.raises(InvalidGrant, match="just changed"):
        domain.sessions.start(StartRequest(user_id, CLIENT, credential=credential))


def test_an_account_with_a_second_factor_changes_its_password_only_from_a_session_proving_it(
    domain: Domain,
) -> None:
    # Given a passkey-only account, and a session from before the passkey (password only)
    issued = register_and_login(domain)
    add_passkey(domain, issued, passkey_authenticator(), amr=("pwd",))
    # When that session asks to change the password, it is sent to step up with the factor
    with pytest.raises(InsufficientUserAuthentication, match="second factor") as refused:
        change_password(domain, issued, "correct horse", "new battery staple")
    assert refused.value.max_age == 900
    # and nothing changed, nothing was counted
    assert domain.store.find_credential("ada").password_version == 0  # type: ignore[union-attr]
    assert domain.store.held(f"step-up#{issued.session.session_id}") == 0
    # Then a session that proved the passkey may
    change_password(domain, issued, "correct horse", "new battery staple", amr=("hwk", "user"))
    with pytest.raises(MfaRequired):
        login_as(domain, password="new battery staple")
