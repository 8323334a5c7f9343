"""Step-up (RFC 9470): sensitive routes need a recent auth_time; re-authentication gives
the same session a fresh one (and its amr), counted by the login throttle like a login."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from harness.domain import CLIENT, Domain
from session_service.domain.accounts import ReauthCall
from session_service.domain.errors import (
    InsufficientUserAuthentication,
    InvalidGrant,
    InvalidRequest,
    MfaEnrollmentRequired,
    RateLimited,
)
from session_service.domain.session_records import IssuedTokens
from session_service.edge.authorization import CallerRules, authorizer_allow
from tests.helpers import enroll_totp, register_and_login, totp_code


def _reauth(
    domain: Domain,
    issued: IssuedTokens,
    password: str = "correct horse",  # noqa: S107 - the unit tests' password
    code: str | None = None,
) -> IssuedTokens:
    call = ReauthCall(
        user_id=issued.session.user_id,
        username="ada",
        session_id=issued.session.session_id,
        password=password,
        code=code,
        client=CLIENT,
    )
    return domain.accounts.reauthenticate(call)


def test_reauthentication_refreshes_auth_time_for_the_same_session(domain: Domain) -> None:
    # Given a session signed in half an hour ago (the idle timeout is an hour)
    issued = register_and_login(domain)
    domain.clock.advance(1800)
    # When the user proves the password again
    again = _reauth(domain, issued)
    # Then the same session has a fresh auth_time, in its new access token too
    assert again.session.session_id == issued.session.session_id
    claims = jwt.decode(again.access_token, options={"verify_signature": False})
    assert claims["auth_time"] == int(domain.clock())
    assert claims["amr"] == ["pwd"]
    stored = domain.store.sessions[(issued.session.user_id, issued.session.session_id)]
    assert stored.auth_time == int(domain.clock() * 1000)
    # and both refresh tokens stay good: another tab is not signed out
    domain.sessions.refresh(issued.refresh_token, CLIENT)
    with pytest.raises(InvalidGrant):
        # (the refresh above moved the session on: the reauth's token is now spent)
        domain.sessions.refresh(again.refresh_token, CLIENT)


def test_the_refresh_token_a_reauthentication_gives_refreshes(domain: Domain) -> None:
    issued = register_and_login(domain)
    again = _reauth(domain, issued)
    refreshed = domain.sessions.refresh(again.refresh_token, CLIENT)
    claims = jwt.decode(refreshed.access_token, options={"verify_signature": False})
    assert claims["auth_time"] == int(domain.clock())


def test_a_wrong_password_is_refused_and_counted_like_a_login(domain: Domain) -> None:
    issued = register_and_login(domain)
    for _ in range(5):
        with pytest.raises(InvalidGrant):
            _reauth(domain, issued, password="not it at all")
    with pytest.raises(RateLimited):
        _reauth(domain, issued)


def test_with_totp_on_a_code_is_needed_and_spent(domain: Domain) -> None:
    issued = register_and_login(domain)
    secret, _ = enroll_totp(domain, issued)
    with pytest.raises(InvalidRequest):
        _reauth(domain, issued)
    with pytest.raises(InvalidGrant):
        _reauth(domain, issued, code="000000")
    code = totp_code(secret, domain.clock())
    again = _reauth(domain, issued, code=code)
    claims = jwt.decode(again.access_token, options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "otp"]
    with pytest.raises(InvalidGrant):
        _reauth(domain, issued, code=code)


def _event(domain: Domain, issued: IssuedTokens) -> dict[str, Any]:
    """A request to our API as the authorizer lets it through, with its context."""
    answer = authorizer_allow(domain.sessions.authorize(issued.access_token))
    return {"requestContext": {"authorizer": {"lambda": answer["context"]}}}


def test_a_route_needing_a_recent_sign_in_refuses_an_older_one_with_max_age(
    domain: Domain,
) -> None:
    issued = register_and_login(domain)
    rules = CallerRules(reauth_max_age_seconds=900, mfa_required=False, clock=domain.clock)
    event = _event(domain, issued)
    assert rules.caller(event, recent=True).user_id == issued.session.user_id
    domain.clock.advance(901)
    rules.caller(event)  # a route that does not ask for it still answers
    with pytest.raises(InsufficientUserAuthentication) as refused:
        rules.caller(event, recent=True)
    assert refused.value.headers == {
        "WWW-Authenticate": 'Bearer error="insufficient_user_authentication", max_age=900'
    }
    assert refused.value.status == 401


def test_under_mfa_required_a_session_without_a_second_factor_may_only_enroll(
    domain: Domain,
) -> None:
    issued = register_and_login(domain)
    rules = CallerRules(reauth_max_age_seconds=900, mfa_required=True, clock=domain.clock)
    event = _event(domain, issued)
    with pytest.raises(MfaEnrollmentRequired):
        rules.caller(event)
    assert rules.caller(event, recent=True, enrolling=True).user_id == issued.session.user_id
    # Once enrolled, the session's next tokens carry otp, and every route answers
    enroll_totp(domain, issued)
    refreshed = domain.sessions.refresh(issued.refresh_token, CLIENT)
    assert rules.caller(_event(domain, refreshed)).amr == ("pwd", "otp")


def test_a_refresh_keeps_the_sign_in_time_and_methods(domain: Domain) -> None:
    # A refresh proves no credential: it must not make an old sign-in look recent
    issued = register_and_login(domain)
    signed_in_at = int(domain.clock())
    domain.clock.advance(1200)
    refreshed = domain.sessions.refresh(issued.refresh_token, CLIENT)
    claims = jwt.decode(refreshed.access_token, options={"verify_signature": False})
    assert claims["auth_time"] == signed_in_at
    assert claims["iat"] == signed_in_at + 1200
    assert claims["amr"] == ["pwd"]
