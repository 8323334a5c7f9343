"""The domain's conditional paths over each store: the in-memory fake, the DynamoDB stores
on moto, and the DynamoDB stores on AWS's DynamoDB Local. Each case runs the services as
the functions wire them and reads the outcome back through the store's own interface, so
a condition the fake or moto enforces differently from AWS's implementation turns one
backend red. Bursts run real threads against every backend (moto in process applies one
request at a time, as the local run's emulator does)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest

from harness.domain import CLIENT, DEFAULT_POLICY, THROTTLE, Services
from session_service.domain.errors import (
    InvalidGrant,
    RateLimited,
    ServiceError,
    SessionLimitReached,
)
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.models import ClientInfo
from session_service.domain.ports import SessionStore
from session_service.domain.sessions.session_records import IssuedTokens
from tests.helpers import burst, change_password, outcome
from tests.integration.backends import BACKENDS, ROOM_FOR_BURSTS

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

PASSWORD = "correct horse"
NEW_PASSWORD = "new battery staple"


@pytest.fixture
def services(services_with: Callable[..., Services]) -> Services:
    return services_with()


def login(services: Services, username: str = "ada", password: str = PASSWORD) -> IssuedTokens:
    return services.accounts.login(LoginRequest(username, password, CLIENT))


def logins_a_second_apart(services: Services, count: int) -> list[IssuedTokens]:
    issued = []
    for _ in range(count):
        services.clock.advance(1)
        issued.append(login(services))
    return issued


def live_ids(store: SessionStore, user_id: str) -> set[str]:
    state = store.load_user(user_id)
    assert state is not None
    return {session.session_id for session in state.sessions}


# -- the session limit ---------------------------------------------------------------------


def test_a_login_at_the_limit_ends_the_least_recently_used(
    services_with: Callable[..., Services], store: SessionStore
) -> None:
    services = services_with(max_sessions_per_user=3)
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    first, second, third = logins_a_second_apart(services, 3)
    services.clock.advance(1)
    first = services.sessions.refresh(first.refresh_token, CLIENT)
    services.clock.advance(1)
    fourth = login(services)
    assert live_ids(store, user_id) == {
        first.session.session_id,
        third.session.session_id,
        fourth.session.session_id,
    }
    assert outcome(lambda: services.sessions.refresh(second.refresh_token, CLIENT)) == (
        "InvalidGrant"
    )


def test_sessions_last_used_in_the_same_millisecond_are_evicted_alike_on_every_backend(
    services_with: Callable[..., Services], store: SessionStore
) -> None:
    # Stores read a user's sessions in different orders (DynamoDB by sort key, the fake
    # by insertion); the choice must not depend on it
    services = services_with(max_sessions_per_user=2)
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    tied = sorted(login(services).session.session_id for _ in range(2))
    third = login(services)
    assert live_ids(store, user_id) == {tied[1], third.session.session_id}


def test_the_reject_policy_refuses_the_login_over_the_limit(
    services_with: Callable[..., Services], store: SessionStore
) -> None:
    services = services_with(max_sessions_per_user=2, limit_policy="reject")
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    kept = {login(services).session.session_id for _ in range(2)}
    with pytest.raises(SessionLimitReached):
        login(services)
    assert live_ids(store, user_id) == kept


@pytest.mark.parametrize(
    ("limit_policy", "expected"),
    [
        ("evict_oldest", Counter({"ok": 12})),
        ("reject", Counter({"ok": 3, "SessionLimitReached": 9})),
    ],
)
def test_a_burst_of_logins_leaves_exactly_the_limit(
    services_with: Callable[..., Services],
    store: SessionStore,
    limit_policy: str,
    expected: Counter[str],
) -> None:
    services = services_with(ROOM_FOR_BURSTS, max_sessions_per_user=3, limit_policy=limit_policy)
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    assert burst(12, lambda _: outcome(lambda: login(services))) == expected
    assert len(live_ids(store, user_id)) == 3


# -- refresh: rotation, the grace window, reuse --------------------------------------------


def test_a_rotated_token_presented_again_ends_the_session(
    services: Services, store: SessionStore
) -> None:
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    issued = login(services)
    rotated = services.sessions.refresh(issued.refresh_token, CLIENT)
    assert rotated.session.session_id == issued.session.session_id
    assert rotated.session.generation == 1
    with pytest.raises(InvalidGrant):
        services.sessions.refresh(issued.refresh_token, CLIENT)
    assert live_ids(store, user_id) == set()
    with pytest.raises(InvalidGrant):
        services.sessions.refresh(rotated.refresh_token, CLIENT)


def test_the_previous_token_rotates_inside_the_grace_window_and_is_reuse_after_it(
    services_with: Callable[..., Services], store: SessionStore
) -> None:
    services = services_with(reuse_grace_seconds=2)
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    issued = login(services)
    rotated = services.sessions.refresh(issued.refresh_token, CLIENT)
    services.clock.advance(1)
    sibling = services.sessions.refresh(issued.refresh_token, CLIENT)
    assert sibling.refresh_token != rotated.refresh_token
    assert live_ids(store, user_id) == {issued.session.session_id}
    services.clock.advance(2)
    with pytest.raises(InvalidGrant):
        services.sessions.refresh(issued.refresh_token, CLIENT)
    assert live_ids(store, user_id) == set()


def test_a_burst_of_refreshes_of_one_token_lets_exactly_one_through(
    services: Services, store: SessionStore
) -> None:
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    issued = login(services)
    outcomes = burst(
        8, lambda _: outcome(lambda: services.sessions.refresh(issued.refresh_token, CLIENT))
    )
    # One exchange wins; every later one presents a spent token, which is reuse
    assert outcomes == Counter({"ok": 1, "InvalidGrant": 7})
    assert live_ids(store, user_id) == set()


def test_an_idle_session_neither_rotates_nor_counts_as_live(
    services: Services, store: SessionStore
) -> None:
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    issued = login(services)
    services.clock.advance(DEFAULT_POLICY.idle_timeout_seconds)
    with pytest.raises(InvalidGrant):
        services.sessions.refresh(issued.refresh_token, CLIENT)
    state = store.load_user(user_id)
    assert state is not None
    assert state.live(services.sessions.now()) == []


# -- revocation ----------------------------------------------------------------------------


def test_revoking_one_session_and_then_every_other_one(
    services: Services, store: SessionStore
) -> None:
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    phone, laptop, tablet = login(services), login(services), login(services)
    services.ending.revoke_session(user_id, tablet.session.session_id)
    assert live_ids(store, user_id) == {phone.session.session_id, laptop.session.session_id}
    assert services.ending.revoke_other_sessions(user_id, phone.session.session_id) == 1
    assert live_ids(store, user_id) == {phone.session.session_id}
    with pytest.raises(ServiceError):
        services.ending.revoke_session(user_id, tablet.session.session_id)


def test_logout_ends_the_session_once(services: Services, store: SessionStore) -> None:
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    issued = login(services)
    services.ending.logout(user_id, issued.session.session_id)
    services.ending.logout(user_id, issued.session.session_id)
    assert live_ids(store, user_id) == set()
    with pytest.raises(InvalidGrant):
        services.sessions.refresh(issued.refresh_token, CLIENT)


# -- not-before: a PasswordChanged from elsewhere -------------------------------------------


def test_a_password_changed_elsewhere_ends_exactly_the_older_sessions(
    services: Services, store: SessionStore
) -> None:
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    older = login(services)
    services.clock.advance(1)
    changed_at = services.sessions.now()
    newer = login(services)
    assert services.ending.end_sessions_before(user_id, changed_at) == 1
    assert live_ids(store, user_id) == {newer.session.session_id}
    # Repeating it (an event delivered twice) changes nothing
    assert services.ending.end_sessions_before(user_id, changed_at) == 0
    with pytest.raises(InvalidGrant):
        services.sessions.refresh(older.refresh_token, CLIENT)
    services.sessions.refresh(newer.refresh_token, CLIENT)


def test_a_burst_of_logins_racing_a_password_change_leaves_no_older_session(
    services_with: Callable[..., Services], store: SessionStore
) -> None:
    services = services_with(ROOM_FOR_BURSTS)
    # Given a change dated a moment after the logins' clock: a login that writes before it
    # lands is ended by it, one that reads after it starts its session at not_before
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    login(services)
    changed_at = services.sessions.now() + 1000

    def act(index: int) -> str:
        if index == 0:
            return outcome(lambda: services.ending.end_sessions_before(user_id, changed_at))
        return outcome(lambda: login(services))

    assert burst(8, act) == Counter({"ok": 8})
    state = store.load_user(user_id)
    assert state is not None
    assert state.profile.not_before == changed_at
    assert [s.created_at for s in state.sessions if s.created_at < changed_at] == []


# -- the password change's transaction ------------------------------------------------------


def test_a_password_change_replaces_the_hash_and_ends_every_session_at_once(
    services: Services, store: SessionStore
) -> None:
    user_id = services.accounts.register("ada", PASSWORD, CLIENT.ip)
    others = [login(services) for _ in range(3)]
    services.clock.advance(1)
    fresh = change_password(services, others[0], PASSWORD, NEW_PASSWORD)
    assert live_ids(store, user_id) == {fresh.session.session_id}
    credential = store.find_credential("ada")
    assert credential is not None
    assert credential.password_version == 1
    assert services.passwords.verify(credential.password_hash, NEW_PASSWORD)
    profile = store.find_profile(user_id)
    assert profile is not None
    assert profile.not_before == fresh.session.created_at
    for old in others:
        with pytest.raises(InvalidGrant):
            services.sessions.refresh(old.refresh_token, CLIENT)
    with pytest.raises(InvalidGrant):
        login(services)
    login(services, password=NEW_PASSWORD)


# -- the login throttle ---------------------------------------------------------------------


def test_failures_lock_the_username_at_this_address_until_the_window_ends(
    services: Services,
) -> None:
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    wrong = [outcome(lambda: login(services, password="not it at all")) for _ in range(6)]
    assert wrong == ["InvalidGrant"] * 5 + ["RateLimited"]
    with pytest.raises(RateLimited):
        login(services)
    # Elsewhere the username still logs in, and here once the window is over
    elsewhere = ClientInfo(ip="198.51.100.9", user_agent="pytest")
    services.accounts.login(LoginRequest("ada", PASSWORD, elsewhere))
    services.clock.advance(900)
    login(services)


def test_a_burst_of_wrong_passwords_has_exactly_the_limit_judged(services: Services) -> None:
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    outcomes = burst(24, lambda _: outcome(lambda: login(services, password="not it at all")))
    assert outcomes == Counter({"InvalidGrant": 5, "RateLimited": 19})


def test_a_right_password_gives_its_place_back(services: Services) -> None:
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    for _ in range(8):
        login(services)
    assert [outcome(lambda: login(services, password="nope nope")) for _ in range(6)] == [
        "InvalidGrant"
    ] * 5 + ["RateLimited"]


def test_a_burst_of_registrations_from_one_address_creates_exactly_the_limit(
    services_with: Callable[..., Services], store: SessionStore
) -> None:
    services = services_with(throttle=replace(THROTTLE, registrations_per_ip=5))

    def register(index: int) -> str:
        return outcome(lambda: services.accounts.register(f"new{index}", PASSWORD, "192.0.2.9"))

    assert burst(12, register) == Counter({"ok": 5, "RateLimited": 7})
    created = [store.find_credential(f"new{index}") for index in range(12)]
    assert len([c for c in created if c is not None]) == 5
