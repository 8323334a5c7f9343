"""The second factor's own limits (contract v3): an account's wrong proofs per window,
which no address or known device exempts; the TOTP lock after a run of wrong proofs,
lifted by a recovery code, a passkey or an administrator; and SecondFactorFailing,
recorded once per window."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import pytest

from harness.domain import CLIENT, THROTTLE, Domain
from session_service.domain.errors import InvalidGrant, MfaRequired, RateLimited
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.flows.second_step import SecondStepRequest
from session_service.domain.models import ClientInfo
from session_service.domain.sessions.session_records import IssuedTokens
from tests.helpers import (
    add_passkey,
    enroll_totp,
    factor_change,
    outcome,
    passkey_authenticator,
    passkey_sign_in,
    register_and_login,
    totp_code,
)

PASSWORD = "correct horse"
WINDOW = THROTTLE.window_seconds
# A lock within reach of a test: ten wrong proofs a window, twelve in a row.
NEAR_LOCK = replace(THROTTLE, second_factor_failures_max=12)


def _client(index: int) -> ClientInfo:
    address = f"198.51.{100 + index // 250}.{index % 250}"
    return ClientInfo(address, "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")


def _mfa_token(domain: Domain, client: ClientInfo = CLIENT, device: str | None = None) -> str:
    with pytest.raises(MfaRequired) as required:
        domain.accounts.login(LoginRequest("ada", PASSWORD, client, device_token=device))
    return required.value.mfa_token


def _code(domain: Domain, code: str, client: ClientInfo = CLIENT) -> IssuedTokens:
    request = SecondStepRequest(_mfa_token(domain, client), client, code=code)
    return domain.second_step.complete(request)


def _failing(domain: Domain) -> list[tuple[str | None, int | None]]:
    return [
        (event.reason, event.failures)
        for event in domain.store.account_events
        if event.event_type == "SecondFactorFailing"
    ]


def _with_totp(domain: Domain) -> tuple[IssuedTokens, str, list[str]]:
    issued = register_and_login(domain)
    secret, codes = enroll_totp(domain, issued)
    return issued, secret, codes


def test_ten_wrong_codes_in_a_window_make_the_accounts_codes_answer_429(domain: Domain) -> None:
    # Given an account with TOTP, and wrong codes from ten addresses (none is full)
    _, secret, _ = _with_totp(domain)
    for index in range(10):
        with pytest.raises(InvalidGrant):
            _code(domain, "000000", _client(index))
    # When the right code comes from yet another address
    with pytest.raises(RateLimited) as refused:
        _code(domain, totp_code(secret, domain.clock()), _client(10))
    # Then it is refused unjudged until the window ends, and welcome after it
    assert refused.value.retry_after <= WINDOW
    domain.clock.advance(refused.value.retry_after)
    _code(domain, totp_code(secret, domain.clock()), _client(11))


def test_reaching_the_accounts_limit_is_recorded_once_per_window(domain: Domain) -> None:
    _with_totp(domain)
    for index in range(15):
        outcome(lambda: _code(domain, "000000", _client(index)))  # noqa: B023
    assert _failing(domain) == [("window_limit", 10)]
    # and once more in the next window that reaches it
    domain.clock.advance(WINDOW)
    for index in range(12):
        outcome(lambda: _code(domain, "000000", _client(index)))  # noqa: B023
    assert _failing(domain) == [("window_limit", 10), ("window_limit", 10)]


def _run_of_wrong_codes(domain: Domain, count: int) -> None:
    """`count` wrong codes, ten a window, each from an address of its own."""
    for index in range(count):
        if index and index % 10 == 0:
            domain.clock.advance(WINDOW)
        with pytest.raises(InvalidGrant):
            _code(domain, "000000", _client(index))


def test_a_run_of_wrong_codes_locks_totp_until_a_recovery_code_is_used(
    domain_with: Callable[..., Domain],
) -> None:
    # Given an account whose last twelve proofs were wrong codes (over two windows)
    domain = domain_with(throttle=NEAR_LOCK)
    _, secret, recovery_codes = _with_totp(domain)
    _run_of_wrong_codes(domain, 12)
    assert _failing(domain)[-1] == ("totp_locked", 12)
    # When the right TOTP code comes, in a window with room
    domain.clock.advance(WINDOW)
    with pytest.raises(RateLimited, match="recovery code or a passkey") as locked:
        _code(domain, totp_code(secret, domain.clock()), _client(100))
    assert locked.value.status == 429
    # Then a recovery code signs in, and lifts the lock
    _code(domain, recovery_codes[0], _client(101))
    domain.clock.advance(30)
    _code(domain, totp_code(secret, domain.clock()), _client(102))


def test_a_right_code_ends_the_run(domain_with: Callable[..., Domain]) -> None:
    domain = domain_with(throttle=NEAR_LOCK)
    _, secret, _ = _with_totp(domain)
    _run_of_wrong_codes(domain, 11)
    _code(domain, totp_code(secret, domain.clock()), _client(50))
    # eleven more wrong ones do not lock: the run began again
    domain.clock.advance(WINDOW)
    _run_of_wrong_codes(domain, 11)
    domain.clock.advance(WINDOW)
    _code(domain, totp_code(secret, domain.clock()), _client(51))


def test_a_passkey_sign_in_lifts_the_totp_lock(domain_with: Callable[..., Domain]) -> None:
    domain = domain_with(throttle=NEAR_LOCK)
    issued, secret, _ = _with_totp(domain)
    authenticator = passkey_authenticator()
    add_passkey(domain, issued, authenticator, amr=("pwd", "otp"))
    _run_of_wrong_codes(domain, 12)
    domain.clock.advance(WINDOW)
    with pytest.raises(RateLimited):
        _code(domain, totp_code(secret, domain.clock()), _client(60))
    passkey_sign_in(domain, authenticator)
    _code(domain, totp_code(secret, domain.clock()), _client(61))


def test_an_administrator_lifting_the_login_lock_lifts_the_totp_lock(
    domain_with: Callable[..., Domain],
) -> None:
    domain = domain_with(throttle=NEAR_LOCK)
    issued, secret, _ = _with_totp(domain)
    _run_of_wrong_codes(domain, 12)
    domain.clock.advance(WINDOW)
    with pytest.raises(RateLimited):
        _code(domain, totp_code(secret, domain.clock()), _client(70))
    domain.administration.lift_login_lock(issued.session.user_id)
    _code(domain, totp_code(secret, domain.clock()), _client(71))


def test_a_day_of_guessing_from_200_addresses_with_device_tokens_judges_100_codes(
    domain: Domain,
) -> None:
    # Given the password, and 200 addresses each holding a device token of the account
    issued, _, _ = _with_totp(domain)
    assert issued.device is not None
    judged = _counting_codes(domain)
    # When they send wrong codes all day: each window, twenty of them in turn
    for window in range(24 * 3600 // WINDOW):
        for index in range(window * 20, window * 20 + 20):
            client = _client(index % 200)
            token = _mfa_token(domain, client, issued.device.value)
            request = SecondStepRequest(token, client, code="000000")
            outcome(lambda: domain.second_step.complete(request))  # noqa: B023
        domain.clock.advance(WINDOW)
    # Then SECOND_FACTOR_FAILURES_MAX (100) codes were judged, and TOTP is locked
    assert judged() == 100
    assert _failing(domain)[-1] == ("totp_locked", 100)


def _counting_codes(domain: Domain) -> Callable[[], int]:
    """Counts the codes the second factor actually checks."""
    count = [0]
    lock = threading.Lock()
    prove = domain.second_factors.prove

    def counted(*args: object, **kwargs: object) -> object:
        with lock:
            count[0] += 1
        return prove(*args, **kwargs)  # type: ignore[arg-type]

    domain.second_factors.prove = counted  # type: ignore[method-assign,assignment]
    return lambda: count[0]


def test_codes_confirming_an_enrollment_are_held_by_the_accounts_limit(domain: Domain) -> None:
    # Given an enrollment waiting for its code (a copy of the session guessing it)
    issued = register_and_login(domain)
    change = factor_change(issued)
    domain.second_factors.begin_totp(change)
    session_id = issued.session.session_id

    def confirm(index: int) -> str:
        return outcome(
            lambda: domain.accounts.confirm_totp(change, session_id, "000000", _client(index))
        )

    # When wrong codes come from 15 addresses, then (enrolling again) from 15 more in the
    # next window
    first = [confirm(index) for index in range(15)]
    domain.clock.advance(WINDOW)
    domain.second_factors.begin_totp(change)
    second = [confirm(100 + index) for index in range(15)]
    # Then the account's window judged ten each time, whatever the address
    assert first == second == ["InvalidGrant"] * 10 + ["RateLimited"] * 5


def test_a_long_run_of_wrong_proofs_keeps_its_count_and_no_id_of_theirs(
    domain_with: Callable[..., Domain],
) -> None:
    # Given an account locked by a run of wrong codes, and wrong recovery codes after it
    # (a run the lock does not end: it counts until a right proof, for up to a year)
    domain = domain_with(throttle=NEAR_LOCK)
    _with_totp(domain)
    _run_of_wrong_codes(domain, 12)
    for index in range(6):
        domain.clock.advance(WINDOW)
        with pytest.raises(InvalidGrant):
            _code(domain, "aaaa-bbbb-cccc", _client(200 + index))
    # Then the run counts all 18, and its counter holds none of their ids
    (run,) = [key for key in domain.store.attempts if key[0].startswith("factor-run#")]
    assert domain.store.attempts[run] == 18
    assert domain.store.holders.get(run, set()) == set()
