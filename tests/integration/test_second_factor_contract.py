"""The second factor's limits over each store (in memory, moto, DynamoDB Local), held under
bursts of concurrent requests: an mfa_token buys one session, a TOTP step is accepted once
per user, a recovery code once, a burst of wrong codes gets no more guesses than the
throttle allows, and two confirmations of one enrollment cannot both win."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest

from harness.domain import CLIENT, Services
from session_service.domain.errors import InvalidGrant, MfaRequired
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.flows.second_step import SecondStepRequest
from session_service.domain.flows.step_up import ReauthCall
from session_service.domain.models import ClientInfo
from session_service.domain.ports import SessionStore
from session_service.domain.sessions.session_records import IssuedTokens, StartRequest
from tests.helpers import burst, enroll_totp, factor_change, outcome, totp_code
from tests.integration.backends import BACKENDS, ROOM_FOR_BURSTS, account_events

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

PASSWORD = "correct horse"
BURST = 8


@pytest.fixture
def services(services_with: Callable[..., Services]) -> Services:
    return services_with(throttle=ROOM_FOR_BURSTS)


def _signed_in_with_totp(services: Services) -> tuple[IssuedTokens, str, list[str]]:
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    issued = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))
    secret, codes = enroll_totp(services, issued)
    return issued, secret, codes


def _mfa_token(
    services: Services, client: ClientInfo = CLIENT, device_token: str | None = None
) -> str:
    try:
        services.accounts.login(LoginRequest("ada", PASSWORD, client, device_token=device_token))
    except MfaRequired as required:
        return required.mfa_token
    raise AssertionError("the password step did not ask for a code")


def _refusal(action: Callable[[], object]) -> str:
    """Whether a code was judged (and wrong), or refused with its token spent."""
    try:
        action()
    except InvalidGrant as refused:
        return "token spent" if "mfa_token" in refused.description else "judged"
    return "ok"


def _with_code(services: Services, token: str, code: str) -> Callable[[], object]:
    return lambda: services.second_step.complete(SecondStepRequest(token, CLIENT, code=code))


def _sessions(store: SessionStore, user_id: str) -> int:
    state = store.load_user(user_id)
    assert state is not None
    return len(state.sessions)


def test_one_mfa_token_with_its_code_sent_at_once_buys_one_session(
    services: Services, store: SessionStore
) -> None:
    issued, secret, _ = _signed_in_with_totp(services)
    token = _mfa_token(services)
    code = totp_code(secret, services.clock())
    outcomes = burst(BURST, lambda _: outcome(_with_code(services, token, code)))
    assert outcomes == Counter({"ok": 1, "InvalidGrant": BURST - 1})
    assert _sessions(store, issued.session.user_id) == 2


def test_one_code_on_many_tokens_at_once_is_accepted_once(
    services: Services, store: SessionStore
) -> None:
    # The same code, on as many logins as there are requests: one step, once per user
    issued, secret, _ = _signed_in_with_totp(services)
    tokens = [_mfa_token(services) for _ in range(BURST)]
    code = totp_code(secret, services.clock())
    outcomes = burst(BURST, lambda i: outcome(_with_code(services, tokens[i], code)))
    assert outcomes == Counter({"ok": 1, "InvalidGrant": BURST - 1})
    assert _sessions(store, issued.session.user_id) == 2


def test_one_recovery_code_on_many_tokens_at_once_is_accepted_once(
    services: Services, store: SessionStore
) -> None:
    _, _, codes = _signed_in_with_totp(services)
    tokens = [_mfa_token(services) for _ in range(BURST)]
    outcomes = burst(BURST, lambda i: outcome(_with_code(services, tokens[i], codes[0])))
    assert outcomes == Counter({"ok": 1, "InvalidGrant": BURST - 1})
    # and the other nine still work
    _with_code(services, _mfa_token(services), codes[1])()


def test_a_burst_of_wrong_codes_on_one_mfa_token_has_exactly_three_judged(
    services: Services,
) -> None:
    _, secret, _ = _signed_in_with_totp(services)
    token = _mfa_token(services)
    outcomes = burst(24, lambda _: _refusal(_with_code(services, token, "000000")))
    assert outcomes == Counter({"judged": 3, "token spent": 21})
    # and the right code is then refused too: the token is spent
    right = totp_code(secret, services.clock())
    assert _refusal(_with_code(services, token, right)) == "token spent"


def test_a_burst_of_wrong_codes_on_many_tokens_gets_no_more_guesses_than_the_throttle(
    services_with: Callable[..., Services],
) -> None:
    services = services_with()  # five judged failures per username and address
    _signed_in_with_totp(services)
    tokens = [_mfa_token(services) for _ in range(24)]
    outcomes = burst(24, lambda i: outcome(_with_code(services, tokens[i], "000000")))
    assert outcomes == Counter({"InvalidGrant": 5, "RateLimited": 19})


def test_no_address_or_known_device_exempts_a_code_from_the_accounts_limit(
    services: Services,
) -> None:
    # Given 24 addresses, each holding a device token of the account and an mfa_token
    issued, _, _ = _signed_in_with_totp(services)
    assert issued.device is not None
    clients = [ClientInfo(f"198.51.100.{index}", "pytest") for index in range(24)]
    tokens = [_mfa_token(services, client, issued.device.value) for client in clients]
    # When each sends a wrong code at once
    outcomes = burst(
        24,
        lambda i: outcome(
            lambda: services.second_step.complete(
                SecondStepRequest(tokens[i], clients[i], code="000000")
            )
        ),
    )
    # Then exactly SECOND_FACTOR_FAILURES_PER_WINDOW (10) were judged
    assert outcomes == Counter({"InvalidGrant": 10, "RateLimited": 14})


def test_one_code_sent_with_many_reauthentications_at_once_refreshes_once(
    services: Services,
) -> None:
    issued, secret, _ = _signed_in_with_totp(services)
    code = totp_code(secret, services.clock())
    call = ReauthCall(
        user_id=issued.session.user_id,
        username="ada",
        session_id=issued.session.session_id,
        password=PASSWORD,
        code=code,
        client=CLIENT,
    )
    outcomes = burst(BURST, lambda _: outcome(lambda: services.step_up.with_password(call)))
    assert outcomes == Counter({"ok": 1, "InvalidGrant": BURST - 1})


def test_two_confirmations_of_one_enrollment_at_once_turn_totp_on_once(
    services: Services,
) -> None:
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    issued = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))
    setup = services.second_factors.begin_totp(factor_change(issued))
    code = totp_code(setup.secret, services.clock())

    def confirm() -> object:
        change = factor_change(issued)
        return services.second_factors.confirm_totp(change, issued.session.session_id, code)

    outcomes = burst(4, lambda _: outcome(confirm))
    assert outcomes == Counter({"ok": 1, "Conflict": 3})


def test_a_burst_of_wrong_codes_on_a_step_up_gets_no_more_guesses_than_the_throttle(
    services_with: Callable[..., Services],
) -> None:
    services = services_with()  # five judged failures per username and address
    issued, _, _ = _signed_in_with_totp(services)
    call = ReauthCall(
        user_id=issued.session.user_id,
        username="ada",
        session_id=issued.session.session_id,
        password=PASSWORD,
        code="000000",
        client=CLIENT,
    )
    outcomes = burst(24, lambda _: outcome(lambda: services.step_up.with_password(call)))
    # Five judged (the session's five step-ups): the fifth wrong one ended the session
    assert outcomes == Counter({"InvalidGrant": 4, "InvalidToken": 1, "RateLimited": 19})


def test_a_password_only_session_cannot_land_once_totp_is_on(
    services: Services, store: SessionStore
) -> None:
    # A login that read the credential before the enrollment, its session landing after
    services.accounts.register("ada", PASSWORD, CLIENT.ip)
    issued = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))
    before = store.find_credential("ada")
    enroll_totp(services, issued)
    start = StartRequest(issued.session.user_id, CLIENT, credential=before)
    assert outcome(lambda: services.sessions.start(start)) == "InvalidGrant"
    assert _sessions(store, issued.session.user_id) == 1


def test_a_burst_of_wrong_codes_near_the_lock_has_exactly_the_run_left_judged(
    services_with: Callable[..., Services], store: SessionStore
) -> None:
    # Given an account two wrong codes away from its TOTP lock (in a fresh window)
    throttle = replace(ROOM_FOR_BURSTS, second_factor_failures_max=12)
    services = services_with(throttle=throttle)
    _, secret, recovery_codes = _signed_in_with_totp(services)
    for index in range(10):
        client = ClientInfo(f"198.51.100.{index}", "pytest")
        request = SecondStepRequest(_mfa_token(services, client), client, code="000000")
        assert outcome(lambda: services.second_step.complete(request)) == "InvalidGrant"  # noqa: B023
    services.clock.advance(900)
    clients = [ClientInfo(f"192.0.2.{index}", "pytest") for index in range(24)]
    tokens = [_mfa_token(services, client) for client in clients]
    # When 24 wrong codes arrive at once
    outcomes = burst(
        24,
        lambda i: outcome(
            lambda: services.second_step.complete(
                SecondStepRequest(tokens[i], clients[i], code="000000")
            )
        ),
    )
    # Then two were judged, and TOTP is locked: recorded once, and only a recovery code
    # (or a passkey) signs in
    assert outcomes == Counter({"InvalidGrant": 2, "RateLimited": 22})
    events = [e for e in account_events(store) if e.event_type == "SecondFactorFailing"]
    assert [(e.reason, e.failures) for e in events] == [("window_limit", 10), ("totp_locked", 12)]
    right = SecondStepRequest(
        _mfa_token(services), CLIENT, code=totp_code(secret, services.clock())
    )
    assert outcome(lambda: services.second_step.complete(right)) == "RateLimited"
    recovery = SecondStepRequest(_mfa_token(services), CLIENT, code=recovery_codes[0])
    assert outcome(lambda: services.second_step.complete(recovery)) == "ok"
