"""Session policies with a fixed clock: grace window, IP binding, refresh cap, session
list and remote logout. (Brute-force throttling: test_throttling.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.domain import CLIENT, Domain
from session_service.domain.errors import InvalidGrant, InvalidToken, NotFound
from session_service.domain.models import ClientInfo
from tests.helpers import register_and_login

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
    assert again.session.session_id == first.session.session_id
    after = domain.sessions.refresh(again.refresh_token, CLIENT)
    assert after.session.session_id == first.session.session_id


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
    assert (first.session.user_id, first.session.session_id) not in domain.store.sessions
    assert domain.store.ended[-1].reason == "reuse_detected"
    assert domain.store.ended[-1].session_ids == (first.session.session_id,)


def test_siblings_from_the_grace_window_are_all_exchangeable_once(
    domain_with: Callable[..., Domain],
) -> None:
    # Two tabs send the same token at once: both get a new one, either may be kept.
    domain = domain_with(reuse_grace_seconds=5)
    first = register_and_login(domain)
    tab_a = domain.sessions.refresh(first.refresh_token, CLIENT)
    tab_b = domain.sessions.refresh(first.refresh_token, CLIENT)
    assert domain.sessions.refresh(tab_b.refresh_token, CLIENT).refresh_token
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
    assert (issued.session.user_id, issued.session.session_id) not in domain.store.sessions
    assert domain.store.ended[-1].reason == "ip_changed"
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(issued.access_token)


def test_refresh_from_another_ip_is_fine_when_not_bound(domain: Domain) -> None:
    issued = register_and_login(domain)
    elsewhere = ClientInfo(ip="192.0.2.99", user_agent="pytest")
    refreshed = domain.sessions.refresh(issued.refresh_token, elsewhere)
    assert refreshed.session.ip == CLIENT.ip  # the session keeps the address it began at


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
    domain.ending.logout_with(second.access_token, None)
    listed = domain.sessions.list_sessions(first.session.user_id)
    assert [s.session_id for s in listed] == [third.session.session_id, first.session.session_id]


def test_revoking_another_users_session_is_not_found(domain: Domain) -> None:
    ada = register_and_login(domain, "ada")
    bob = register_and_login(domain, "bob")
    with pytest.raises(NotFound):
        domain.ending.revoke_session(bob.session.user_id, ada.session.session_id)
    with pytest.raises(NotFound):
        domain.ending.revoke_session(bob.session.user_id, "no-such-session")
    with pytest.raises(NotFound):
        domain.ending.revoke_session(ada.session.user_id, "0" * 2_000)
    domain.sessions.authorize(ada.access_token)


def test_revoke_other_sessions_keeps_only_the_current_one(domain: Domain) -> None:
    current = register_and_login(domain)
    others = [register_and_login(domain) for _ in range(3)]
    revoked = domain.ending.revoke_other_sessions(
        current.session.user_id, current.session.session_id
    )
    assert revoked == 3
    domain.sessions.authorize(current.access_token)
    for other in others:
        with pytest.raises(InvalidToken):
            domain.sessions.authorize(other.access_token)
