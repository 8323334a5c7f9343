"""The domain wired as the functions wire it, over any store: the unit tests' (in memory,
with a fixed clock and cheap argon2) and the store contract suite's (DynamoDB)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness.clock import FixedClock, key_ring_source
from harness.fakes import InMemoryStore
from harness.memory_admin import InMemoryAdministrationStore
from harness.memory_factors import InMemorySecondFactorStore
from harness.memory_passkeys import InMemoryPasskeyStore
from session_service.domain.accounts.passwords import Argon2Parameters, Passwords
from session_service.domain.administration.admin_actions import Administration
from session_service.domain.administration.records import AdministrationStore
from session_service.domain.concurrency import ParallelCalls
from session_service.domain.factors.one_time_codes import SecondFactorKeys
from session_service.domain.factors.passkeys import Passkeys
from session_service.domain.factors.totp import SecondFactors
from session_service.domain.factors.webauthn_ceremonies import RelyingParty, WebAuthn
from session_service.domain.flows.passkey_sign_in import PasskeySignIn
from session_service.domain.flows.password_flows import Accounts
from session_service.domain.flows.second_step import SecondStep
from session_service.domain.flows.step_up import StepUp
from session_service.domain.keys.keyring import KeyRingSource, MacKeys
from session_service.domain.models import ClientInfo
from session_service.domain.ports import (
    PasskeyStore,
    SecondFactorStore,
    SessionStore,
    ThrottleStore,
)
from session_service.domain.sessions.devices import DeviceTokens
from session_service.domain.sessions.lifecycle import SessionService
from session_service.domain.sessions.session_ending import SessionEnding
from session_service.domain.sessions.session_records import SessionPolicy
from session_service.domain.sessions.tokens import AccessTokens, RefreshTokens
from session_service.domain.throttling.login_throttle import LoginThrottle, ThrottlePolicy
from session_service.domain.throttling.proof_throttling import ProofThrottle

ISSUER = "https://sessions.example.test"
TOTP_ISSUER = "Example Sessions"
# What the second-factor key secret holds in tests (deployed: 64 random characters).
SECOND_FACTOR_KEYS = SecondFactorKeys.derive("test-second-factor-key-0123456789abcdefghij")
AUDIENCE = "example-api"
# The relying party of the tests' passkeys (harness/soft_authenticator.py signs for it).
RELYING_PARTY = RelyingParty("example.test", "Example Sessions", ("https://app.example.test",))
CLIENT = ClientInfo(ip="203.0.113.7", user_agent="pytest")
# The calls a request sends at once go out on threads, as in a container (one pool for
# every domain the tests build).
PARALLEL = ParallelCalls(ThreadPoolExecutor(8, thread_name_prefix="harness"))
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
class Services:
    """The domain's services over one store, on one clock."""

    clock: FixedClock
    keys: KeyRingSource
    secret: dict[str, Any]
    access_tokens: AccessTokens
    refresh_tokens: RefreshTokens
    sessions: SessionService
    ending: SessionEnding
    accounts: Accounts
    passwords: Passwords
    devices: DeviceTokens
    second_factors: SecondFactors
    administration: Administration
    passkeys: Passkeys
    passkey_sign_in: PasskeySignIn
    proofs: ProofThrottle
    second_step: SecondStep
    step_up: StepUp
    throttle: LoginThrottle


def build_services(
    store: SessionStore,
    throttle_store: ThrottleStore,
    factor_store: SecondFactorStore,
    admin_store: AdministrationStore,
    passkey_store: PasskeyStore,
    policy: SessionPolicy = DEFAULT_POLICY,
    algorithm: str = "RS256",
    throttle: ThrottlePolicy = THROTTLE,
) -> Services:
    clock = FixedClock(1_800_000_000.0)
    keys, secret = key_ring_source(algorithm, clock)
    access_tokens = AccessTokens(
        keys, lambda: ISSUER, AUDIENCE, policy.access_token_ttl_seconds, clock
    )
    refresh_tokens = RefreshTokens(MacKeys(keys, clock))
    sessions = SessionService(
        store, access_tokens, refresh_tokens, policy, clock=clock, sleep=lambda _: None
    )
    ending = SessionEnding(store, sessions, access_tokens, refresh_tokens)
    passwords = Passwords(CHEAP_ARGON2)
    login_throttle = LoginThrottle(
        throttle_store, throttle, now=lambda: int(clock() * 1000), parallel=PARALLEL
    )
    devices = DeviceTokens(MacKeys(keys, clock), clock)
    second_factors = SecondFactors(
        store, factor_store, lambda: SECOND_FACTOR_KEYS, TOTP_ISSUER, clock=clock
    )
    proofs = ProofThrottle(
        login_throttle,
        store,
        ending.end_after_failed_step_ups,
        policy.absolute_timeout_seconds,
    )
    accounts = Accounts(
        store,
        sessions,
        ending,
        passwords,
        login_throttle,
        devices,
        second_factors,
        proofs,
        clock=clock,
    )
    decoy_key = MacKeys(keys, clock).decoy_key
    passkeys = Passkeys(store, passkey_store, WebAuthn(RELYING_PARTY), decoy_key, clock=clock)
    sign_in = PasskeySignIn(accounts, passkeys, store, sessions, login_throttle, devices, proofs)
    second_step = SecondStep(accounts, second_factors, proofs, store, sessions, lambda: passkeys)
    step_up = StepUp(
        store, sessions, passwords, proofs, second_factors, lambda: passkeys, refresh_tokens
    )
    return Services(
        clock,
        keys,
        secret,
        access_tokens,
        refresh_tokens,
        sessions,
        ending,
        accounts,
        passwords,
        devices,
        second_factors,
        Administration(store, admin_store, sessions, clock=clock),
        passkeys,
        sign_in,
        proofs,
        second_step,
        step_up,
        login_throttle,
    )


@dataclass
class Domain(Services):
    """The services over the in-memory store, which tests may inspect."""

    store: InMemoryStore


def build_domain(
    policy: SessionPolicy = DEFAULT_POLICY,
    algorithm: str = "RS256",
    throttle: ThrottlePolicy = THROTTLE,
) -> Domain:
    store = InMemoryStore()
    services = build_services(
        store,
        store,
        InMemorySecondFactorStore(store),
        InMemoryAdministrationStore(store),
        InMemoryPasskeyStore(store),
        policy,
        algorithm,
        throttle,
    )
    return Domain(**vars(services), store=store)
