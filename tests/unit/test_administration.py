"""What support staff may do for a user: end sessions, disable and enable the account,
lift the login lock; each one an event of the user's."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.domain import CLIENT, Domain
from session_service.domain.errors import InvalidGrant, InvalidToken, NotFound, RateLimited
from tests.helpers import login_as, register_and_login


def test_a_user_is_found_by_username_in_any_case(domain: Domain) -> None:
    issued = register_and_login(domain)
    found = domain.administration.find_user("ADA")
    assert (found.user_id, found.username, found.disabled, found.mfa, found.passkeys) == (
        issued.session.user_id,
        "ada",
        False,
        False,
        0,
    )
    with pytest.raises(NotFound):
        domain.administration.find_user("nobody")


def test_ending_every_session_refuses_their_tokens_at_once(domain: Domain) -> None:
    sessions = [register_and_login(domain) for _ in range(3)]
    user_id = sessions[0].session.user_id
    assert domain.administration.end_sessions(user_id) == 3
    for issued in sessions:
        with pytest.raises(InvalidToken):
            domain.sessions.authorize(issued.access_token)
        with pytest.raises(InvalidGrant):
            domain.sessions.refresh(issued.refresh_token, CLIENT)
    (ended,) = domain.store.ended
    assert ended.reason == "admin"


def test_ending_one_session_leaves_the_others(domain: Domain) -> None:
    first, second = register_and_login(domain), register_and_login(domain)
    user_id = first.session.user_id
    domain.administration.end_session(user_id, first.session.session_id)
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(first.access_token)
    domain.sessions.authorize(second.access_token)
    with pytest.raises(NotFound):
        domain.administration.end_session(user_id, first.session.session_id)


def test_a_disabled_account_has_no_session_and_logs_in_like_a_wrong_password(
    domain: Domain,
) -> None:
    issued = register_and_login(domain)
    user_id = issued.session.user_id
    domain.administration.disable(user_id)
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(issued.access_token)
    with pytest.raises(InvalidGrant) as refused:
        login_as(domain)
    assert refused.value.description == "The username or password is incorrect."
    assert domain.administration.find_user("ada").disabled is True
    # Enabling restores login, not the sessions
    domain.administration.enable(user_id)
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(issued.refresh_token, CLIENT)
    login_as(domain)
    kinds = [e.event_type for e in domain.store.account_events]
    assert kinds == ["AccountDisabled", "AccountEnabled"]
    assert [e.reason for e in domain.store.ended] == ["admin"]


def test_disabling_twice_writes_and_publishes_once(domain: Domain) -> None:
    user_id = register_and_login(domain).session.user_id
    domain.administration.disable(user_id)
    domain.administration.disable(user_id)
    assert [e.event_type for e in domain.store.account_events] == ["AccountDisabled"]


def test_lifting_the_login_lock_lets_the_owner_try_again(domain: Domain) -> None:
    user_id = register_and_login(domain).session.user_id
    for _ in range(5):
        with pytest.raises(InvalidGrant):
            login_as(domain, password="not it at all")
    with pytest.raises(RateLimited):
        login_as(domain)
    domain.administration.lift_login_lock(user_id)
    login_as(domain)


def test_an_unknown_user_is_not_found_for_every_action(domain: Domain) -> None:
    nobody = "00000000-0000-4000-8000-000000000000"
    actions: list[Callable[[], object]] = [
        lambda: domain.administration.sessions(nobody),
        lambda: domain.administration.end_sessions(nobody),
        lambda: domain.administration.disable(nobody),
        lambda: domain.administration.enable(nobody),
        lambda: domain.administration.lift_login_lock(nobody),
    ]
    for action in actions:
        with pytest.raises(NotFound):
            action()
