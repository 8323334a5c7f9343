"""Session policies with a fixed clock: grace window, IP binding, refresh cap, session
list and remote logout, and brute-force throttling."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from session_service.errors import InvalidGrant, InvalidToken, NotFound, RateLimited
from session_service.models import ClientInfo
from session_service.throttling import lock_duration_ms
from tests.helpers import register_and_login
from tests.unit.conftest import CLIENT, Domain

# -- the reuse grace window ----------------------------------------------------------------


def test_previous_token_inside_the_grace_window_rotates_again(
    domain_with: Callable[..., Domain],
) -> None:
    # Given a rotation a moment ago, whose answer the client lost
    domain = domain_with(reuse_grace_seconds=10)
    first = register_and_login(domain)
    domain.sessions.refresh(first.refresh_token, CLIENT)
    domain.clock.advance(10)
    # When the previous token comes again at the very edge of the window
    again = domain.sessions.refresh(first.refresh_token, CLIENT)
    # Then it rotates again, and the session goes on
    assert again.session.status == "active"
    assert domain.sessions.refresh(again.refresh_token, CLIENT).session.status == "active"


def test_previous_token_after_the_grace_window_is_reuse(domain_with: Callable[..., Domain]) -> None:
    domain = domain_with(reuse_grace_seconds=10)
    first = register_and_login(domain)
    second = domain.sessions.refresh(first.refresh_token, CLIENT)
    domain.clock.advance(10.001)
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(first.refresh_token, CLIENT)
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(second.refresh_token, CLIENT)


def test_a_token_older_than_the_previous_is_reuse_even_inside_the_window(
    domain_with: Callable[..., Domain],
) -> None:
    domain = domain_with(reuse_grace_seconds=60)
    first = register_and_login(domain)
    second = domain.sessions.refresh(first.refresh_token, CLIENT)
    domain.sessions.refresh(second.refresh_token, CLIENT)
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(first.refresh_token, CLIENT)
    stored = domain.store.sessions[(first.session.user_id, first.session.session_id)]
    assert stored.revoked_reason == "reuse_detected"


def test_siblings_from_the_grace_window_are_all_exchangeable_once(
    domain_with: Callable[..., Domain],
) -> None:
    # Two tabs send the same token at once: both get a new one, either may be kept.
    domain = domain_with(reuse_grace_seconds=5)
    first = register_and_login(domain)
    tab_a = domain.sessions.refresh(first.refresh_token, CLIENT)
    tab_b = domain.sessions.refresh(first.refresh_token, CLIENT)
    assert domain.sessions.refresh(tab_b.refresh_token, CLIENT).session.status == "active"
    # the sibling that lost is now an older token: reuse
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(tab_a.refresh_token, CLIENT)


# -- IP binding and the refresh cap ---------------------------------------------------------


def test_refresh_from_another_ip_ends_a_bound_session(domain_with: Callable[..., Domain]) -> None:
    domain = domain_with(bind_to_ip=True)
    issued = register_and_login(domain)
    elsewhere = ClientInfo(ip="192.0.2.99", user_agent="pytest")
    with pytest.raises(InvalidGrant, match="address changed"):
        domain.sessions.refresh(issued.refresh_token, elsewhere)
    stored = domain.store.sessions[(issued.session.user_id, issued.session.session_id)]
    assert stored.revoked_reason == "ip_changed"
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(issued.access_token)


def test_refresh_from_another_ip_is_fine_when_not_bound(domain: Domain) -> None:
    issued = register_and_login(domain)
    elsewhere = ClientInfo(ip="192.0.2.99", user_agent="pytest")
    assert domain.sessions.refresh(issued.refresh_token, elsewhere).session.status == "active"


def test_refresh_cap_ends_the_session_after_the_last_allowed_refresh(
    domain_with: Callable[..., Domain],
) -> None:
    domain = domain_with(max_refreshes=2)
    token = register_and_login(domain).refresh_token
    for _ in range(2):
        token = domain.sessions.refresh(token, CLIENT).refresh_token
    with pytest.raises(InvalidGrant, match="refresh limit"):
        domain.sessions.refresh(token, CLIENT)


# -- the sessions of a user ----------------------------------------------------------------


def test_list_shows_live_sessions_newest_first(domain: Domain) -> None:
    first = register_and_login(domain)
    domain.clock.advance(1)
    second = register_and_login(domain)
    domain.clock.advance(1)
    third = register_and_login(domain)
    domain.sessions.logout_with(second.access_token, None)
    listed = domain.sessions.list_sessions(first.session.user_id)
    assert [s.session_id for s in listed] == [third.session.session_id, first.session.session_id]


def test_revoking_another_users_session_is_not_found(domain: Domain) -> None:
    ada = register_and_login(domain, "ada")
    bob = register_and_login(domain, "bob")
    with pytest.raises(NotFound):
        domain.sessions.revoke_session(bob.session.user_id, ada.session.session_id)
    with pytest.raises(NotFound):
        domain.sessions.revoke_session(bob.session.user_id, "no-such-session")
    domain.sessions.authorize(ada.access_token)


def test_revoke_other_sessions_keeps_only_the_current_one(domain: Domain) -> None:
    current = register_and_login(domain)
    others = [register_and_login(domain) for _ in range(3)]
    revoked = domain.sessions.revoke_other_sessions(
        current.session.user_id, current.session.session_id
    )
    assert revoked == 3
    domain.sessions.authorize(current.access_token)
    for other in others:
        with pytest.raises(InvalidToken):
            domain.sessions.authorize(other.access_token)


# -- brute force -----------------------------------------------------------------------------


def fail_login(domain: Domain, username: str = "ada", ip: str = CLIENT.ip) -> Exception:
    with pytest.raises((InvalidGrant, RateLimited)) as caught:
        domain.accounts.login(username, "wrong password!", ClientInfo(ip=ip, user_agent="x"))
    return caught.value


def test_lock_durations_double_and_never_exceed_the_window() -> None:
    window = 900_000
    durations = [lock_duration_ms(failures, 5, window) for failures in range(4, 12)]
    assert durations == [0, 30_000, 60_000, 120_000, 240_000, 480_000, 900_000, 900_000]


def test_past_the_username_limit_logins_get_429_with_a_growing_retry_after(domain: Domain) -> None:
    # Given five failures for one username
    domain.accounts.register("ada", "correct horse")
    for _ in range(5):
        assert isinstance(fail_login(domain), InvalidGrant)
    # Then even the right password is refused for 30 s, without being checked
    with pytest.raises(RateLimited) as locked:
        domain.accounts.login("ada", "correct horse", CLIENT)
    assert locked.value.retry_after == 30
    # And the next failure after the lock doubles it
    domain.clock.advance(30)
    assert isinstance(fail_login(domain), InvalidGrant)
    rate_limited = fail_login(domain)
    assert isinstance(rate_limited, RateLimited)
    assert rate_limited.retry_after == 60


def test_attempts_while_locked_do_not_extend_the_lock(domain: Domain) -> None:
    for _ in range(5):
        fail_login(domain, "nobody")
    for _ in range(20):
        assert isinstance(fail_login(domain, "nobody"), RateLimited)
    domain.clock.advance(30)
    assert isinstance(fail_login(domain, "nobody"), InvalidGrant)


def test_unknown_users_are_counted_and_answered_like_known_ones(domain: Domain) -> None:
    domain.accounts.register("ada", "correct horse")
    known = [type(fail_login(domain, "ada")).__name__ for _ in range(6)]
    unknown = [type(fail_login(domain, "ghost")).__name__ for _ in range(6)]
    assert known == unknown == ["InvalidGrant"] * 5 + ["RateLimited"]


def test_success_resets_the_username_count(domain: Domain) -> None:
    domain.accounts.register("ada", "correct horse")
    for _ in range(4):
        fail_login(domain)
    domain.accounts.login("ada", "correct horse", CLIENT)
    for _ in range(4):
        assert isinstance(fail_login(domain), InvalidGrant)


def test_failures_older_than_the_window_are_forgotten(domain: Domain) -> None:
    for _ in range(4):
        fail_login(domain)
    domain.clock.advance(900)
    for _ in range(4):
        assert isinstance(fail_login(domain), InvalidGrant)


def test_many_usernames_from_one_ip_hit_the_ip_limit(domain: Domain) -> None:
    for index in range(50):
        assert isinstance(fail_login(domain, f"user{index}"), InvalidGrant)
    assert isinstance(fail_login(domain, "someone-new"), RateLimited)
    # another address is not affected
    assert isinstance(fail_login(domain, "someone-new", ip="192.0.2.1"), InvalidGrant)
