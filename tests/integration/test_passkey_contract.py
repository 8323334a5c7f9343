"""Passkeys over each store (in memory, moto, DynamoDB Local), held under bursts of
concurrent requests: a sign-in ceremony buys one session, a registration challenge one
passkey, a step-up's ceremony one fresh auth_time, and a burst of assertions that do not
verify gets no more judgements than the login throttle allows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from harness.domain import CLIENT, Services
from session_service.domain.accounts import LoginRequest
from session_service.domain.passkey_sign_in import PasskeyLoginRequest, PasskeyReauthCall
from session_service.domain.ports import SessionStore
from session_service.domain.session_records import IssuedTokens
from tests.helpers import add_passkey, burst, factor_change, outcome, passkey_authenticator
from tests.integration.backends import BACKENDS, ROOM_FOR_BURSTS

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

PASSWORD = "correct horse"
BURST = 8


@pytest.fixture
def services(services_with: Callable[..., Services]) -> Services:
    return services_with(throttle=ROOM_FOR_BURSTS)


def _signed_in(services: Services) -> IssuedTokens:
    services.accounts.register("ada", PASSWORD)
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
    options = services.passkeys.registration_options(factor_change(issued))
    attestation = passkey_authenticator().create(options)

    def register() -> object:
        return services.passkeys.register(user_id, "ada", attestation, None)

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
    outcomes = burst(
        BURST, lambda _: outcome(lambda: services.passkey_sign_in.reauthenticate(call))
    )
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
