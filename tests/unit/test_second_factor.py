"""TOTP and recovery codes: enrollment, the second step of a login, codes good once,
secrets sealed at rest, and the claims that say how the user signed in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from harness.domain import CLIENT, SECOND_FACTOR_KEYS, TOTP_ISSUER, Domain
from session_service.domain.errors import Conflict, InvalidGrant, MfaRequired, RateLimited
from session_service.domain.factors.one_time_codes import SealError, SecretBox, recovery_code_digest
from session_service.domain.flows.second_step import SecondStepRequest
from session_service.domain.sessions.session_records import StartRequest
from tests.helpers import enroll_totp, factor_change, login_as, register_and_login, totp_code


def _mfa_token(domain: Domain, username: str = "ada") -> str:
    with pytest.raises(MfaRequired) as required:
        login_as(domain, username)
    return required.value.mfa_token


def _with_code(domain: Domain, mfa_token: str, code: str) -> object:
    return domain.second_step.complete(SecondStepRequest(mfa_token, CLIENT, code=code))


def test_enrollment_gives_a_secret_its_uri_and_ten_recovery_codes_once_confirmed(
    domain: Domain,
) -> None:
    # Given a signed-in user asking to enroll
    issued = register_and_login(domain)
    user_id = issued.session.user_id
    setup = domain.second_factors.begin_totp(factor_change(issued))
    # Then the URI names the issuer in its label and as issuer=, and carries the secret
    uri = urlsplit(setup.otpauth_uri)
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert uri.path == f"/{TOTP_ISSUER.replace(' ', '%20')}:ada"
    query = parse_qs(uri.query)
    assert query["secret"] == [setup.secret]
    assert query["issuer"] == [TOTP_ISSUER]
    assert len(setup.secret) == 32  # 160 bits of base32
    # and nothing is on until a code confirms it
    assert domain.store.credentials["ada"].totp is None
    with pytest.raises(InvalidGrant):
        domain.second_factors.confirm_totp(
            factor_change(issued), issued.session.session_id, "000000"
        )
    codes = domain.second_factors.confirm_totp(
        factor_change(issued), issued.session.session_id, totp_code(setup.secret, domain.clock())
    )
    assert len(codes) == len(set(codes)) == 10
    factor = domain.store.credentials["ada"].totp
    assert factor is not None
    # The confirming session does not count the factor: the code proved a new secret, not
    # the user (every copy of the session's tokens would gain it); a step-up with it does
    assert domain.store.sessions[(user_id, issued.session.session_id)].amr == ("pwd",)
    # and enrolling again, or confirming again, is a conflict
    with pytest.raises(Conflict):
        domain.second_factors.begin_totp(factor_change(issued))


def test_the_table_holds_neither_the_secret_nor_the_recovery_codes(domain: Domain) -> None:
    issued = register_and_login(domain)
    secret, codes = enroll_totp(domain, issued)
    credential = domain.store.credentials["ada"]
    factor = credential.totp
    assert factor is not None
    stored = repr(credential)
    assert secret not in stored
    for code in codes:
        assert code not in stored
        assert code.replace("-", "") not in stored
    # The sealed secret opens with the key, for its own user only
    box = SecretBox(lambda: SECOND_FACTOR_KEYS)
    assert box.open(factor.sealed_secret, issued.session.user_id) == secret
    with pytest.raises(SealError):
        box.open(factor.sealed_secret, "00000000-0000-4000-8000-000000000000")
    # and the recovery codes are keyed digests
    digest = recovery_code_digest(SECOND_FACTOR_KEYS, codes[0].replace("-", ""))
    assert digest in factor.recovery_codes


def test_a_right_password_asks_for_the_code_and_starts_no_session(domain: Domain) -> None:
    issued = register_and_login(domain)
    enroll_totp(domain, issued)
    sessions_before = set(domain.store.sessions)
    _mfa_token(domain)
    assert set(domain.store.sessions) == sessions_before


def test_a_code_completes_the_login_with_otp_in_amr_and_a_fresh_auth_time(
    domain: Domain,
) -> None:
    # Given a user with TOTP, past the password step
    issued = register_and_login(domain)
    secret, _ = enroll_totp(domain, issued)
    token = _mfa_token(domain)
    # When the current code is sent
    done = domain.second_step.complete(
        SecondStepRequest(token, CLIENT, code=totp_code(secret, domain.clock()))
    )
    # Then the session and its access token say how, and when, the user proved it
    claims = jwt.decode(done.access_token, options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["auth_time"] == int(domain.clock())
    assert done.session.amr == ("pwd", "otp")
    authorized = domain.sessions.authorize(done.access_token)
    assert authorized.claims.amr == ("pwd", "otp")


def test_an_mfa_token_and_a_code_are_each_good_once(domain: Domain) -> None:
    issued = register_and_login(domain)
    secret, _ = enroll_totp(domain, issued)
    first = _mfa_token(domain)
    code = totp_code(secret, domain.clock())
    _with_code(domain, first, code)
    # The token is spent, even with the next step's code
    domain.clock.advance(30)
    with pytest.raises(InvalidGrant):
        _with_code(domain, first, totp_code(secret, domain.clock()))
    # and a code of a step already used is refused on a new token (RFC 6238 §5.2)
    second = _mfa_token(domain)
    with pytest.raises(InvalidGrant):
        _with_code(domain, second, code)
    # while the current step's code works
    _with_code(domain, second, totp_code(secret, domain.clock()))


def test_a_wrong_code_leaves_the_token_valid_for_three_tries_in_all(domain: Domain) -> None:
    issued = register_and_login(domain)
    secret, _ = enroll_totp(domain, issued)
    # Two wrong codes leave the token good for a third try
    token = _mfa_token(domain)
    for _ in range(2):
        with pytest.raises(InvalidGrant):
            _with_code(domain, token, "000000")
    _with_code(domain, token, totp_code(secret, domain.clock()))
    # Three wrong codes spend it: the right code is refused after them
    domain.clock.advance(30)
    token = _mfa_token(domain)
    for _ in range(3):
        with pytest.raises(InvalidGrant, match="incorrect"):
            _with_code(domain, token, "000000")
    with pytest.raises(InvalidGrant, match="mfa_token is invalid"):
        _with_code(domain, token, totp_code(secret, domain.clock()))


def test_wrong_codes_count_toward_the_login_throttle(domain: Domain) -> None:
    issued = register_and_login(domain)
    secret, _ = enroll_totp(domain, issued)
    # Five judged failures from one address for the username (over two mfa_tokens)
    for wrong in (3, 2):
        token = _mfa_token(domain)
        for _ in range(wrong):
            with pytest.raises(InvalidGrant):
                _with_code(domain, token, "000000")
    # and the sixth attempt is refused without being judged, a right code included
    with pytest.raises(RateLimited):
        _with_code(domain, token, totp_code(secret, domain.clock()))


def test_codes_of_the_neighbouring_steps_are_accepted_and_no_further(domain: Domain) -> None:
    issued = register_and_login(domain)
    secret, _ = enroll_totp(domain, issued)
    now = domain.clock()
    # Two steps behind, or ahead: refused
    for offset in (-60, 60):
        with pytest.raises(InvalidGrant):
            _with_code(domain, _mfa_token(domain), totp_code(secret, now + offset))
    # One step ahead: accepted (a fast phone)
    _with_code(domain, _mfa_token(domain), totp_code(secret, now + 30))


def test_a_recovery_code_works_once_in_any_case_and_spacing(domain: Domain) -> None:
    issued = register_and_login(domain)
    _, codes = enroll_totp(domain, issued)
    typed = " " + codes[3].upper().replace("-", " ") + " "
    _with_code(domain, _mfa_token(domain), typed)
    factor = domain.store.credentials["ada"].totp
    assert factor is not None
    assert len(factor.recovery_codes) == 9
    (used,) = [e for e in domain.store.account_events if e.event_type == "RecoveryCodeUsed"]
    assert (used.at, used.remaining_recovery_codes) == (int(domain.clock() * 1000), 9)
    with pytest.raises(InvalidGrant):
        _with_code(domain, _mfa_token(domain), codes[3])


def test_an_mfa_token_expires_after_300_seconds(domain: Domain) -> None:
    issued = register_and_login(domain)
    secret, _ = enroll_totp(domain, issued)
    token = _mfa_token(domain)
    domain.clock.advance(300)
    with pytest.raises(InvalidGrant):
        _with_code(domain, token, totp_code(secret, domain.clock()))


def test_a_password_change_voids_a_pending_mfa_token(domain: Domain) -> None:
    issued = register_and_login(domain)
    secret, _ = enroll_totp(domain, issued)
    token = _mfa_token(domain)
    stored = domain.store.credentials["ada"]
    domain.store.credentials["ada"] = type(stored)(
        **{**{f: getattr(stored, f) for f in stored.__slots__}, "password_version": 1}
    )
    with pytest.raises(InvalidGrant):
        _with_code(domain, token, totp_code(secret, domain.clock()))


def test_turning_totp_off_makes_the_password_enough_again(domain: Domain) -> None:
    issued = register_and_login(domain)
    enroll_totp(domain, issued)
    domain.second_factors.disable_totp(factor_change(issued, amr=("pwd", "otp")))
    credential = domain.store.credentials["ada"]
    assert credential.totp is None
    assert [e.event_type for e in domain.store.account_events] == ["MfaEnabled", "MfaDisabled"]
    assert login_as(domain).session.amr == ("pwd",)
    with pytest.raises(Conflict):
        domain.second_factors.disable_totp(factor_change(issued, amr=("pwd", "otp")))


def test_recovery_codes_carry_120_bits_and_totp_secrets_160() -> None:
    from session_service.domain.factors.one_time_codes import (  # noqa: PLC0415
        new_recovery_codes,
        new_totp,
        normalise_recovery_code,
    )

    codes = new_recovery_codes()
    for code in codes:
        normalised = normalise_recovery_code(code)
        assert normalised is not None
        assert len(normalised) == 24  # 24 characters of a 32-letter alphabet: 120 bits
    assert len({normalise_recovery_code(c) for c in codes}) == 10
    assert len(new_totp("ada", "x").secret) * 5 == 160


def test_the_confirming_codes_step_cannot_sign_in(domain: Domain) -> None:
    # The code that confirmed the enrollment is spent like any other (RFC 6238 §5.2)
    issued = register_and_login(domain)
    setup = domain.second_factors.begin_totp(factor_change(issued))
    code = totp_code(setup.secret, domain.clock())
    domain.accounts.confirm_totp(factor_change(issued), issued.session.session_id, code, CLIENT)
    with pytest.raises(InvalidGrant):
        _with_code(domain, _mfa_token(domain), code)


def test_a_wrong_confirming_code_counts_toward_the_throttle(domain: Domain) -> None:
    issued = register_and_login(domain)
    setup = domain.second_factors.begin_totp(factor_change(issued))
    session_id = issued.session.session_id
    for _ in range(5):
        with pytest.raises(InvalidGrant):
            domain.accounts.confirm_totp(factor_change(issued), session_id, "000000", CLIENT)
    with pytest.raises(RateLimited):
        domain.accounts.confirm_totp(
            factor_change(issued), session_id, totp_code(setup.secret, domain.clock()), CLIENT
        )


def test_a_password_only_session_cannot_start_once_totp_is_on(domain: Domain) -> None:
    # A login that read the credential before TOTP was turned on, landing after it
    issued = register_and_login(domain)
    before = domain.store.credentials["ada"]
    enroll_totp(domain, issued)
    with pytest.raises(InvalidGrant):
        domain.sessions.start(StartRequest(issued.session.user_id, CLIENT, credential=before))
