"""Unit fixtures: the domain over the in-memory store, a fixed clock, cheap argon2."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from session_service.accounts import Accounts
from session_service.devices import DeviceTokens
from session_service.keyring import KeyRingSource
from session_service.models import ClientInfo
from session_service.passwords import Argon2Parameters, Passwords
from session_service.session_ending import SessionEnding
from session_service.sessions import SessionPolicy, SessionService
from session_service.throttling import LoginThrottle, ThrottlePolicy
from session_service.tokens import AccessTokens, RefreshTokens
from tests.fakes import FixedClock, InMemoryStore, key_ring_source

ISSUER = "https://sessions.example.test"
AUDIENCE = "example-api"
CLIENT = ClientInfo(ip="203.0.113.7", user_agent="pytest")
# Unit tests exercise logic, not argon2's cost: the smallest parameters argon2 allows.
CHEAP_ARGON2 = Argon2Parameters(time_cost=1, memory_cost_kib=8, parallelism=1)

THROTTLE = ThrottlePolicy(
    failures_per_username_and_ip=5,
    failures_per_username=100,
    failures_per_ip=50,
    window_seconds=900,
)

DEFAULT_POLICY = SessionPolicy(
    access_token_ttl_seconds=600,
    idle_timeout_seconds=3600,
    absolute_timeout_seconds=86_400,
    max_sessions_per_user=5,
    limit_policy="evict_oldest",
    reuse_grace_seconds=0,
    max_refreshes=None,
    bind_to_ip=False,
)


@dataclass
class Domain:
    clock: FixedClock
    store: InMemoryStore
    keys: KeyRingSource
    secret: dict[str, Any]
    access_tokens: AccessTokens
    refresh_tokens: RefreshTokens
    sessions: SessionService
    ending: SessionEnding
    accounts: Accounts
    passwords: Passwords
    devices: DeviceTokens


def build_domain(policy: SessionPolicy = DEFAULT_POLICY, algorithm: str = "RS256") -> Domain:
    clock = FixedClock(1_800_000_000.0)
    store = InMemoryStore()
    keys, secret = key_ring_source(algorithm, clock)
    access_tokens = AccessTokens(
        keys, lambda: ISSUER, AUDIENCE, policy.access_token_ttl_seconds, clock
    )
    refresh_tokens = RefreshTokens(lambda: keys.current().refresh_token_key)
    sessions = SessionService(
        store, access_tokens, refresh_tokens, policy, clock=clock, sleep=lambda _: None
    )
    ending = SessionEnding(store, sessions, access_tokens, refresh_tokens)
    passwords = Passwords(CHEAP_ARGON2)
    throttle = LoginThrottle(store, THROTTLE, now=lambda: int(clock() * 1000))
    devices = DeviceTokens(lambda: keys.current().refresh_token_key, clock)
    accounts = Accounts(store, sessions, ending, passwords, throttle, devices, clock=clock)
    return Domain(
        clock,
        store,
        keys,
        secret,
        access_tokens,
        refresh_tokens,
        sessions,
        ending,
        accounts,
        passwords,
        devices,
    )


@pytest.fixture
def domain() -> Domain:
    return build_domain()


@pytest.fixture
def domain_with() -> Callable[..., Domain]:
    """A domain whose policy differs from the default in the given fields."""

    def make(algorithm: str = "RS256", **changes: Any) -> Domain:
        return build_domain(replace(DEFAULT_POLICY, **changes), algorithm)

    return make
