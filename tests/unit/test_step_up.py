"""Step-up (RFC 9470): sensitive routes need a recent auth_time; re-authentication gives
the same session a fresh one (and its amr), counted by the login throttle like a login."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest

from harness.domain import CLIENT, Domain
from session_service.domain.errors import (
    InsufficientUserAuthentication,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    MfaEnrollmentRequired,
    RateLimited,
)
from session_service.domain.flows.step_up import ReauthCall
from session_service.domain.models import ClientInfo, StepUpProof
from session_service.domain.sessions.session_records import IssuedTokens
from session_service.edge.authorization import CallerRules, authorizer_allow
from tests.helpers import enroll_totp, login_as, outcome, register_and_login, totp_code


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
    return domain.step_up.with_password(call)


def test_reauthentication_refreshes_auth_time_for_the_same_session(domain: Domain) -> None:
    # Given a session signed in half an hour ago (the idle timeout is an hour)
    issued = register_and_login(domain)
    domain.clock.advance(1800)
    # When the user proves the password again
    again = _reauth(domain, issued)
    # Then the same session has a fresh auth_time, in its new access token too, kept as
    # the step-up its token names (the session's start stays what it was)
    assert again.session.session_id == issued.session.session_id
    claims = jwt.decode(again.access_token, options={"verify_signature": False})
    assert claims["auth_time"] == int(domain.clock())
    assert claims["amr"] == ["pwd"]
    stored = domain.store.sessions[(issued.session.user_id, issued.session.session_id)]
    assert stored.step_ups == (StepUpProof(claims["proof"], int(domain.clock() * 1000), ("pwd",)),)
    assert stored.auth_time == issued.session.created_at
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


def test_wrong_passwords_count_like_a_login_and_the_fifth_ends_the_session(
    domain: Domain,
) -> None:
    # Given a session, and another of the same user
    issued = register_and_login(domain)
    other = login_as(domain)
    # When its step-ups get the password wrong four times, then a fifth
    for _ in range(4):
        with pytest.raises(InvalidGrant):
            _reauth(domain, issued, password="not it at all")
    with pytest.raises(InvalidToken):
        _reauth(domain, issued, password="not it at all")
    # Then the session has ended (reauth_failed), the other lives on
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(issued.access_token)
    assert domain.store.ended[-1].reason == "reauth_failed"
    domain.sessions.authorize(other.access_token)
    # and the five counted like logins: the address is full for the username
    with pytest.raises(RateLimited):
        _reauth(domain, other)


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


def test_a_copied_refresh_token_refreshed_after_a_step_up_keeps_its_old_sign_in(
    domain: Domain,
) -> None:
    # Given a session signed in half an hour ago, whose refresh token someone copied
    issued = register_and_login(domain)
    signed_in_at = int(domain.clock())
    domain.clock.advance(1800)
    # When the owner steps up, and the copy is refreshed after it
    stepped = _reauth(domain, issued)
    copy = domain.sessions.refresh(issued.refresh_token, CLIENT)
    # Then the copy's tokens carry the old sign-in, for the authorizer too
    claims = jwt.decode(copy.access_token, options={"verify_signature": False})
    assert (claims["auth_time"], "proof" in claims) == (signed_in_at, False)
    assert _context(domain, copy)["authTime"] == signed_in_at
    # while the owner's step-up token carries the fresh one
    assert _context(domain, stepped)["authTime"] == int(domain.clock())


def test_the_authorizer_goes_by_the_stored_session_not_the_tokens_claims(
    domain: Domain,
) -> None:
    # Given a session whose client stepped up with a code, and a second one without
    issued = register_and_login(domain)
    secret, _ = enroll_totp(domain, issued)
    stepped = _reauth(domain, issued, code=totp_code(secret, domain.clock()))
    proof = jwt.decode(stepped.access_token, options={"verify_signature": False})["proof"]
    domain.clock.advance(1800)
    session = issued.session
    # When tokens are minted with the signing key (a stolen one), claiming more than that

    def forged(**claims: Any) -> str:
        return domain.access_tokens.mint(
            session.user_id, session.session_id, not_after=session.expires_at // 1000, **claims
        ).token

    recent_and_strong = {"auth_time": int(domain.clock()), "amr": ("otp", "hwk")}
    naming_no_step_up = forged(**recent_and_strong, proof_id="A" * 22)
    naming_the_step_up = forged(**recent_and_strong, proof_id=proof)
    # Then the authorizer answers what the session holds: its start, or the step-up named
    start = _context_of(domain, forged(**recent_and_strong))
    assert (start["authTime"], start["amr"]) == (session.created_at // 1000, "pwd")
    assert _context_of(domain, naming_no_step_up) == start
    step_up = _context_of(domain, naming_the_step_up)
    assert (step_up["authTime"], step_up["amr"]) == (int(domain.clock()) - 1800, "pwd otp")


def test_a_session_keeps_its_four_newest_step_ups(domain: Domain) -> None:
    issued = register_and_login(domain)
    step_ups = []
    for _ in range(5):
        domain.clock.advance(60)
        step_ups.append(_reauth(domain, issued))
    stored = domain.store.sessions[(issued.session.user_id, issued.session.session_id)]
    kept = [jwt.decode(s.access_token, options={"verify_signature": False}) for s in step_ups]
    assert [p.proof_id for p in stored.step_ups or ()] == [c["proof"] for c in kept[1:]]
    # the oldest one's tokens fall back to the session's start
    assert _context(domain, step_ups[0])["authTime"] == issued.session.created_at // 1000
    assert _context(domain, step_ups[1])["authTime"] == kept[1]["auth_time"]


def _context(domain: Domain, issued: IssuedTokens) -> dict[str, Any]:
    return _context_of(domain, issued.access_token)


def _context_of(domain: Domain, access_token: str) -> dict[str, Any]:
    context: dict[str, Any] = authorizer_allow(domain.sessions.authorize(access_token))["context"]
    return context


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
    # Once enrolled, the session still proved no factor (a copy of its tokens would gain it
    # too), until a step-up with the code: then that client's tokens carry otp
    secret, _ = enroll_totp(domain, issued)
    refreshed = domain.sessions.refresh(issued.refresh_token, CLIENT)
    with pytest.raises(MfaEnrollmentRequired):
        rules.caller(_event(domain, refreshed))
    stepped = _reauth(domain, refreshed, code=totp_code(secret, domain.clock()))
    assert rules.caller(_event(domain, stepped)).amr == ("pwd", "otp")


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


def test_step_ups_from_50_sessions_and_addresses_are_held_by_the_usernames_ceiling(
    domain_with: Callable[..., Domain],
) -> None:
    # Given 50 live sessions of the user (stolen, say), each used from an address of its own
    domain = domain_with(max_sessions_per_user=50)
    register_and_login(domain)
    sessions = [login_as(domain) for _ in range(49)]
    verified = []
    verify = domain.passwords.verify

    def counted(password_hash: str, password: str) -> bool:
        verified.append(password)
        return verify(password_hash, password)

    domain.passwords.verify = counted  # type: ignore[method-assign]
    # When each tries five wrong passwords through step-ups (245 in all)
    for index, issued in enumerate(sessions):
        for guess in range(5):
            call = ReauthCall(
                issued.session.user_id,
                "ada",
                issued.session.session_id,
                f"guess {index} {guess}",
                None,
                ClientInfo(f"192.0.2.{index}", "x"),
            )
            outcome(lambda: domain.step_up.with_password(call))  # noqa: B023
    # Then the username's ceiling across all addresses (100) judged them, no more
    assert len(verified) == 100
