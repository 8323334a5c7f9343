"""Passkeys over each store (in memory, moto, DynamoDB Local), held under bursts of
concurrent requests: a sign-in ceremony buys one session, a registration challenge one
passkey, a step-up's ceremony one fresh auth_time, and a burst of assertions that do not
verify gets no more judgements than the login throttle allows."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable

import pytest

from harness.domain import CLIENT, RELYING_PARTY, Services
from session_service.domain.accounts.account_changes import account_event
from session_service.domain.errors import MfaRequired
from session_service.domain.factors.webauthn_ceremonies import WebAuthn, passkey_id_of
from session_service.domain.flows.passkey_sign_in import PasskeyLoginRequest
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.flows.second_step import SecondStepRequest
from session_service.domain.flows.step_up import PasskeyReauthCall
from session_service.domain.models import Passkey, TotpFactor
from session_service.domain.ports import (
    PasskeyAddition,
    PasskeyCountRefused,
    PasskeyStore,
    SecondFactorStore,
    SessionStore,
    StaleWrite,
    TotpEnrollment,
)
from session_service.domain.sessions.session_records import IssuedTokens, StartRequest
from tests.helpers import (
    add_passkey,
    burst,
    enroll_totp,
    factor_change,
    outcome,
    passkey_authenticator,
)
from tests.integration.backends import BACKENDS, ROOM_FOR_BURSTS

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

PASSWORD = "correct horse"
BURST = 8


@pytest.fixture
def services(services_with: Callable[..., Services]) -> Services:
    return services_with(throttle=ROOM_FOR_BURSTS)


def _signed_in(services: Services) -> IssuedTokens:
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    return services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))


def _sessions(store: SessionStore, user_id: str) -> int:
    state = store.load_user(user_id)
    assert state is not None
    return len(state.sessions)


def test_one_ceremony_with_its_assertion_sent_at_once_buys_one_session(
    services: Services, store: SessionStore
) -> None:
    issued = _signed_in(services)
    authenticator = passkey_authenticator()
    passkey_id = add_passkey(services, issued, authenticator)
    ceremony_id, options = services.passkeys.sign_in_options(None)
    request = PasskeyLoginRequest(ceremony_id, authenticator.get(options), CLIENT)
    outcomes = burst(BURST, lambda _: outcome(lambda: services.passkey_sign_in.login(request)))
    assert outcomes == Counter({"ok": 1, "InvalidGrant": BURST - 1})
    assert _sessions(store, issued.session.user_id) == 2
    # and the passkey's count moved on once
    listed = services.passkeys.list(issued.session.user_id)
    assert [(p.passkey_id, p.sign_count) for p in listed] == [(passkey_id, 1)]


def test_one_registration_posted_at_once_adds_one_passkey(services: Services) -> None:
    issued = _signed_in(services)
    user_id = issued.session.user_id
    # (from a session that proved a factor: each post after the first finds its challenge
    # spent; a password-only session's would find that the account now has a factor)
    change = factor_change(issued, amr=("hwk", "user"))
    options = services.passkeys.registration_options(change)
    attestation = passkey_authenticator().create(options)

    def register() -> object:
        return services.passkeys.register(change, attestation, None)

    outcomes = burst(4, lambda _: outcome(register))
    assert outcomes == Counter({"ok": 1, "Conflict": 3})
    assert len(services.passkeys.list(user_id)) == 1


def test_one_step_up_ceremony_sent_at_once_steps_up_once(services: Services) -> None:
    issued = _signed_in(services)
    authenticator = passkey_authenticator()
    add_passkey(services, issued, authenticator)
    ceremony_id, options = services.passkeys.sign_in_options("ada")
    call = PasskeyReauthCall(
        issued.session.user_id,
        "ada",
        issued.session.session_id,
        ceremony_id,
        authenticator.get(options),
        CLIENT,
    )
    outcomes = burst(BURST, lambda _: outcome(lambda: services.step_up.with_passkey(call)))
    assert outcomes == Counter({"ok": 1, "InvalidGrant": BURST - 1})


def test_a_burst_of_assertions_that_do_not_verify_gets_no_more_than_the_throttle(
    services_with: Callable[..., Services],
) -> None:
    services = services_with()  # five judged failures per username and address
    issued = _signed_in(services)
    authenticator = passkey_authenticator()
    add_passkey(services, issued, authenticator)
    ceremonies = [services.passkeys.sign_in_options("ada") for _ in range(24)]
    # Each from another origin: a phishing page's relay
    requests = [
        PasskeyLoginRequest(
            ceremony_id, authenticator.get(options, origin="https://evil.test"), CLIENT
        )
        for ceremony_id, options in ceremonies
    ]
    outcomes = burst(24, lambda i: outcome(lambda: services.passkey_sign_in.login(requests[i])))
    assert outcomes == Counter({"InvalidGrant": 5, "RateLimited": 19})


def test_two_removals_of_the_last_two_passkeys_at_once_leave_one_under_mfa_required(
    services: Services,
) -> None:
    issued = _signed_in(services)
    ids = [add_passkey(services, issued, passkey_authenticator()) for _ in range(2)]
    change = factor_change(issued, amr=("hwk", "user"))

    def remove(index: int) -> str:
        return outcome(lambda: services.passkeys.remove(change, ids[index], keep_a_factor=True))

    outcomes = burst(2, remove)
    assert outcomes == Counter({"ok": 1, "Conflict": 1})
    assert len(services.passkeys.list(issued.session.user_id)) == 1


def test_a_first_factor_lands_only_on_an_account_still_without_one(
    services: Services, passkey_store: PasskeyStore
) -> None:
    # The check before the write passed; TOTP was turned on between it and the write
    issued = _signed_in(services)
    first = factor_change(issued)  # a password-only session: this must be the first factor
    options = services.passkeys.registration_options(first)
    attestation = passkey_authenticator().create(options)
    enroll_totp(services, issued)
    ceremony = passkey_store.find_registration(issued.session.user_id)
    assert ceremony is not None
    verified = WebAuthn(RELYING_PARTY).verify_registration(attestation, ceremony.challenge)
    passkey = Passkey(
        user_id=issued.session.user_id,
        username_key="ada",
        passkey_id=passkey_id_of(verified.credential_id),
        credential_id=verified.credential_id,
        public_key=verified.public_key,
        sign_count=0,
        transports=(),
        name="late",
        created_at=int(services.clock() * 1000),
    )
    event = account_event(issued.session.user_id, "PasskeyAdded", passkey.created_at)
    addition = PasskeyAddition(passkey, ceremony.challenge, event, 20, first_factor=True)
    with pytest.raises(PasskeyCountRefused):
        passkey_store.add_passkey(addition)
    # while from a session that proved a factor it lands
    proved = dataclasses.replace(addition, first_factor=False)
    passkey_store.add_passkey(proved)
    assert [p.name for p in services.passkeys.list(issued.session.user_id)] == ["late"]


def test_totp_as_a_first_factor_lands_only_on_an_account_still_without_one(
    services: Services, factor_store: SecondFactorStore, store: SessionStore
) -> None:
    # TOTP begun by a password-only session; a passkey added before the confirmation lands
    issued = _signed_in(services)
    services.second_factors.begin_totp(factor_change(issued))
    pending = store.find_credential("ada")
    assert pending is not None
    assert pending.pending_totp is not None
    add_passkey(services, issued, passkey_authenticator(), amr=issued.session.amr)
    factor = TotpFactor(
        pending.pending_totp.sealed_secret, 1, pending.pending_totp.expires_at - 1, frozenset({"d"})
    )
    event = account_event(issued.session.user_id, "MfaEnabled", factor.enabled_at)
    enrollment = TotpEnrollment(
        pending, issued.session.session_id, factor, event, first_factor=True
    )
    with pytest.raises(StaleWrite):
        factor_store.enable_totp(enrollment)
    current = store.find_credential("ada")
    assert current is not None
    assert current.totp is None


def test_one_passkey_after_a_password_sent_at_once_buys_one_session(
    services: Services, store: SessionStore
) -> None:
    # Given a passkey-only account whose password step gave an mfa_token
    issued = _signed_in(services)
    authenticator = passkey_authenticator()
    add_passkey(services, issued, authenticator, amr=("pwd",))
    with pytest.raises(MfaRequired) as required:
        services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))
    token = required.value.mfa_token
    ceremony_id, options = services.passkeys.sign_in_options("ada")
    request = SecondStepRequest(
        token, CLIENT, ceremony_id=ceremony_id, credential=authenticator.get(options)
    )
    # When the token and the assertion are sent at once, many times
    outcomes = burst(BURST, lambda _: outcome(lambda: services.second_step.complete(request)))
    # Then one session is bought, as both proofs
    assert outcomes == Counter({"ok": 1, "InvalidGrant": BURST - 1})
    state = store.load_user(issued.session.user_id)
    assert state is not None
    assert sorted(s.amr for s in state.sessions) == [("pwd",), ("pwd", "hwk", "user")]


def test_a_password_only_session_cannot_land_once_a_passkey_is_added(
    services: Services, store: SessionStore
) -> None:
    # A login that read the credential before the passkey, its session landing after
    issued = _signed_in(services)
    before = store.find_credential("ada")
    add_passkey(services, issued, passkey_authenticator(), amr=("pwd",))
    start = StartRequest(issued.session.user_id, CLIENT, credential=before)
    assert outcome(lambda: services.sessions.start(start)) == "InvalidGrant"
    assert _sessions(store, issued.session.user_id) == 1


def test_a_password_change_from_a_password_only_session_cannot_land_once_a_passkey_is_added(
    services: Services, store: SessionStore
) -> None:
    # A change that checked the account had no factor, its write landing after a passkey
    issued = _signed_in(services)
    before = store.find_credential("ada")
    add_passkey(services, issued, passkey_authenticator(), amr=("pwd",))
    change = StartRequest(
        issued.session.user_id, CLIENT, credential=before, new_password_hash="another hash"
    )
    assert outcome(lambda: services.sessions.start(change)) == "InvalidGrant"
    after = store.find_credential("ada")
    assert after is not None
    assert (after.password_hash, after.password_version) == (before.password_hash, 0)  # type: ignore[union-attr]
