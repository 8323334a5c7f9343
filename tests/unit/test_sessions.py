"""The session lifecycle over the in-memory store with a fixed clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.domain import CLIENT, Domain
from session_service.domain.errors import InvalidGrant, InvalidToken, SessionLimitReached
from tests.helpers import login_as, register_and_login


def test_login_returns_a_token_pair_for_a_new_session(domain: Domain) -> None:
    # Given
    user_id = domain.accounts.register("ada", "correct horse", CLIENT.ip)
    # When
    issued = login_as(domain, "ADA")
    # Then
    claims = domain.access_tokens.verify(issued.access_token)
    assert claims.user_id == user_id
    assert claims.session_id == issued.session.session_id
    assert issued.expires_in == 600
    assert issued.refresh_expires_in == 3600
    assert issued.session.ip == CLIENT.ip


def test_refresh_tokens_are_stored_only_as_digests(domain: Domain) -> None:
    issued = register_and_login(domain)
    stored = domain.store.sessions[(issued.session.user_id, issued.session.session_id)]
    assert issued.refresh_token not in repr(stored)
    assert len(stored.refresh_digests) == 1


def test_refresh_rotates_and_spends_the_presented_token(domain: Domain) -> None:
    # Given
    first = register_and_login(domain)
    # When
    second = domain.sessions.refresh(first.refresh_token, CLIENT)
    # Then
    assert second.refresh_token != first.refresh_token
    assert second.session.session_id == first.session.session_id
    assert domain.sessions.refresh(second.refresh_token, CLIENT).session.generation == 2


def test_refresh_with_rotated_token_revokes_the_session(domain: Domain) -> None:
    # Given a token that has been exchanged once
    first = register_and_login(domain)
    second = domain.sessions.refresh(first.refresh_token, CLIENT)
    # When it is presented again
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(first.refresh_token, CLIENT)
    # Then the whole session is over: its newest refresh token and its access tokens too
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(second.refresh_token, CLIENT)
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(second.access_token)
    assert domain.store.sessions == {}
    assert [e.reason for e in domain.store.ended] == ["reuse_detected"]


def test_refresh_with_a_token_older_than_the_previous_one_revokes_the_session(
    domain: Domain,
) -> None:
    first = register_and_login(domain)
    second = domain.sessions.refresh(first.refresh_token, CLIENT)
    domain.sessions.refresh(second.refresh_token, CLIENT)
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(first.refresh_token, CLIENT)
    assert domain.store.sessions == {}
    assert [e.reason for e in domain.store.ended] == ["reuse_detected"]


def test_forged_refresh_token_is_refused_without_ending_the_session(domain: Domain) -> None:
    # Given a token whose secret part an attacker replaced (the MAC no longer matches)
    issued = register_and_login(domain)
    parts = issued.refresh_token.split(".")
    parts[5] = "A" * 43
    # When
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(".".join(parts), CLIENT)
    # Then the owner's session goes on
    assert domain.sessions.refresh(issued.refresh_token, CLIENT).session.generation == 1
    assert domain.store.ended == []


@pytest.mark.parametrize(
    "garbage",
    ["", "x", "rt1.", "a" * 511, "rt1.a.b.0.1.c.d", "eyJhbGciOiJub25lIn0.e30."],
)
def test_malformed_refresh_tokens_are_invalid_grant(domain: Domain, garbage: str) -> None:
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(garbage, CLIENT)


def test_logout_ends_the_session_and_its_access_tokens(domain: Domain) -> None:
    issued = register_and_login(domain)
    domain.ending.logout_with(issued.access_token, None)
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(issued.access_token)
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(issued.refresh_token, CLIENT)


def test_an_eventual_read_that_finds_no_live_session_is_checked_consistently(
    domain: Domain,
) -> None:
    # A live session: one eventually consistent read, half the cost
    issued = register_and_login(domain)
    domain.store.calls.clear()
    domain.sessions.authorize(issued.access_token, consistent=False)
    assert domain.store.calls == ["eventual_lookup"]
    # An ended one: before a refusal (which another API may cache), a consistent read
    domain.ending.logout_with(issued.access_token, None)
    domain.store.calls.clear()
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(issued.access_token, consistent=False)
    assert domain.store.calls == ["eventual_lookup", "authorization_lookup"]


def test_logout_with_refresh_token_twice_changes_nothing_more(domain: Domain) -> None:
    issued = register_and_login(domain)
    domain.ending.logout_with(None, issued.refresh_token)
    domain.ending.logout_with(None, issued.refresh_token)
    # One record of the end (one SessionRevoked), whatever the repetitions
    (ended,) = domain.store.ended
    assert ended.reason == "logout"
    assert ended.session_ids == (issued.session.session_id,)
    assert domain.store.calls.count("end_sessions") == 2


def test_an_ended_session_leaves_no_item_behind(domain: Domain) -> None:
    # The authorizer refuses a session without an item; nothing of it is read again.
    issued = register_and_login(domain)
    domain.ending.logout_with(issued.access_token, None)
    assert domain.store.sessions == {}


def test_authorize_accepts_a_live_session(domain: Domain) -> None:
    issued = register_and_login(domain)
    authorized = domain.sessions.authorize(issued.access_token)
    assert authorized.session.session_id == issued.session.session_id
    assert domain.store.calls[-1] == "authorization_lookup"


# -- timeouts ------------------------------------------------------------------------------


def test_refresh_just_before_the_idle_timeout_succeeds_and_extends_it(domain: Domain) -> None:
    issued = register_and_login(domain)
    domain.clock.advance(3600 - 0.001)
    refreshed = domain.sessions.refresh(issued.refresh_token, CLIENT)
    assert refreshed.refresh_expires_in == 3600
    domain.clock.advance(3599)
    assert domain.sessions.refresh(refreshed.refresh_token, CLIENT).session.generation == 2


def test_refresh_at_the_idle_timeout_is_refused(domain: Domain) -> None:
    issued = register_and_login(domain)
    domain.clock.advance(3600)
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(issued.refresh_token, CLIENT)


def test_access_token_is_refused_once_the_session_idles_out(
    domain_with: Callable[..., Domain],
) -> None:
    domain = domain_with(idle_timeout_seconds=300)
    issued = register_and_login(domain)
    # the access token cannot outlive its session
    assert issued.expires_in == 300
    domain.clock.advance(299)
    domain.sessions.authorize(issued.access_token)
    domain.clock.advance(1)
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(issued.access_token)


def test_activity_never_extends_the_absolute_timeout(domain_with: Callable[..., Domain]) -> None:
    # Given a session refreshed regularly, well inside its idle timeout
    domain = domain_with(idle_timeout_seconds=3600, absolute_timeout_seconds=7200)
    token = register_and_login(domain).refresh_token
    for _ in range(3):
        domain.clock.advance(1800)
        refreshed = domain.sessions.refresh(token, CLIENT)
        token = refreshed.refresh_token
    # Then refresh_expires_in counts down to the absolute deadline, not the idle one
    assert refreshed.refresh_expires_in == 7200 - 5400
    domain.clock.advance(1800)
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(token, CLIENT)


# -- the per-user limit --------------------------------------------------------------------


def test_login_beyond_the_limit_evicts_the_least_recently_used_session(
    domain_with: Callable[..., Domain],
) -> None:
    # Given three sessions, the oldest of which was used most recently
    domain = domain_with(max_sessions_per_user=3)
    oldest = register_and_login(domain)
    domain.clock.advance(1)
    middle = register_and_login(domain)
    domain.clock.advance(1)
    register_and_login(domain)
    domain.clock.advance(1)
    domain.sessions.refresh(oldest.refresh_token, CLIENT)
    # When a fourth login arrives
    domain.clock.advance(1)
    register_and_login(domain)
    # Then the least recently used one is gone, like a logout
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(middle.access_token)
    assert (middle.session.user_id, middle.session.session_id) not in domain.store.sessions
    assert len(domain.store.sessions) == 3
    assert [(e.reason, e.session_ids) for e in domain.store.ended] == [
        ("evicted", (middle.session.session_id,))
    ]


def test_reject_policy_refuses_the_login_beyond_the_limit(
    domain_with: Callable[..., Domain],
) -> None:
    domain = domain_with(max_sessions_per_user=2, limit_policy="reject")
    register_and_login(domain)
    register_and_login(domain)
    with pytest.raises(SessionLimitReached):
        register_and_login(domain)


def test_ended_sessions_do_not_count_toward_the_limit(domain_with: Callable[..., Domain]) -> None:
    domain = domain_with(max_sessions_per_user=2, limit_policy="reject")
    first = register_and_login(domain)
    register_and_login(domain)
    domain.ending.logout_with(first.access_token, None)
    register_and_login(domain)  # does not raise


# -- password change -----------------------------------------------------------------------


def test_end_sessions_before_refuses_older_sessions_at_once(domain: Domain) -> None:
    # Given two sessions, then a password change
    old = register_and_login(domain)
    domain.clock.advance(0.5)
    changed_at = int(domain.clock.now * 1000)
    domain.clock.advance(0.2)
    newer = register_and_login(domain)
    # When
    revoked = domain.ending.end_sessions_before(old.session.user_id, changed_at)
    # Then the older session is over, in the same second, and the newer one lives
    assert revoked == 1
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(old.access_token)
    domain.sessions.authorize(newer.access_token)


def test_end_sessions_before_twice_or_out_of_order_leaves_the_same_state(domain: Domain) -> None:
    issued = register_and_login(domain)
    user_id = issued.session.user_id
    later = int(domain.clock.now * 1000) + 10
    earlier = later - 5
    domain.ending.end_sessions_before(user_id, later)
    snapshot = (dict(domain.store.sessions), domain.store.profiles[user_id])
    assert domain.ending.end_sessions_before(user_id, later) == 0
    assert domain.ending.end_sessions_before(user_id, earlier) == 0
    assert (dict(domain.store.sessions), domain.store.profiles[user_id]) == snapshot
    assert domain.store.profiles[user_id].not_before == later


def test_a_login_removes_the_items_of_expired_sessions(domain_with: Callable[..., Domain]) -> None:
    # Given five sessions that have idled out, whose items TTL has not deleted yet
    domain = domain_with(idle_timeout_seconds=60)
    expired = [register_and_login(domain) for _ in range(5)]
    domain.clock.advance(60)
    # When the user logs in again
    fresh = register_and_login(domain)
    # Then only the new session's item is left, and the expired ones ended without an event
    assert list(domain.store.sessions) == [(fresh.session.user_id, fresh.session.session_id)]
    assert domain.store.ended == []
    for old in expired:
        with pytest.raises(InvalidGrant):
            domain.sessions.refresh(old.refresh_token, CLIENT)
