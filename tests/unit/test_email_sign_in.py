"""Sign-in by an e-mailed code (EmailSignIn) over the in-memory stores: starting costs the
same calls for unknown addresses, a right code buys a session (amr email) once, five
wrong tries spend the login, an account with a second factor still proves it, and wrong
codes count in the account's second-factor window, not in the password scopes."""

from __future__ import annotations

import pytest

from harness.domain import CLIENT
from harness.email_domain import EmailDomain, build_email_domain, mailed_code, verify_address
from session_service.domain.email.addresses import address_digest, token_digest
from session_service.domain.errors import InvalidGrant, MfaRequired, RateLimited
from session_service.domain.flows.second_step import SecondStepRequest
from tests.helpers import enroll_totp, login_as, outcome, totp_code

PASSWORD = "correct horse"
ADDRESS = "ada@example.test"


@pytest.fixture
def domain() -> EmailDomain:
    return build_email_domain()


def _user(domain: EmailDomain) -> str:
    user_id = domain.accounts.register("ada", PASSWORD, CLIENT.ip)
    verify_address(domain.email, user_id, ADDRESS)
    return user_id


def _started(domain: EmailDomain) -> tuple[str, str]:
    """A sign-in started for Ada's address: its login_id and the mailed code."""
    login_id = domain.email.sign_in.start(ADDRESS, CLIENT.ip)
    return login_id, mailed_code(domain.email, ADDRESS, "sign_in_code")


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _complete(domain: EmailDomain, login_id: str, code: str) -> str:
    return outcome(lambda: domain.email.sign_in.complete(login_id, code, CLIENT))


def test_starting_costs_the_same_calls_for_known_and_unknown_addresses(
    domain: EmailDomain,
) -> None:
    _user(domain)
    calls, login_ids = [], []
    for address in (ADDRESS, "nobody@example.test"):
        domain.store.calls.clear()
        login_ids.append(domain.email.sign_in.start(address, CLIENT.ip))
        calls.append(domain.store.calls[:])
    assert calls == [["reserve", "reserve", "start_email_login"]] * 2
    assert [len(login_id) for login_id in login_ids] == [43, 43]
    # The mailer codes the known address's login only
    assert [(m.to, m.template) for m in domain.email.deliver()] == [(ADDRESS, "sign_in_code")]
    unknown = domain.store.email_logins[token_digest(login_ids[1])]
    assert (unknown.user_id, unknown.code_digest) == ("", None)
    # A code for the unknown one is refused without a count
    assert _complete(domain, login_ids[1], "123456") == "InvalidGrant"
    assert unknown.tries == 0


def test_a_right_code_signs_in_once(domain: EmailDomain) -> None:
    user_id = _user(domain)
    login_id, code = _started(domain)
    issued = domain.email.sign_in.complete(login_id, code, CLIENT)
    assert (issued.session.user_id, issued.session.amr) == (user_id, ("email",))
    assert domain.store.email_logins == {}
    assert _complete(domain, login_id, code) == "InvalidGrant"


def test_five_wrong_tries_spend_the_login(domain: EmailDomain) -> None:
    _user(domain)
    login_id, code = _started(domain)
    assert [_complete(domain, login_id, _wrong(code)) for _ in range(5)] == ["InvalidGrant"] * 5
    assert domain.store.email_logins[token_digest(login_id)].tries == 5
    assert _complete(domain, login_id, code) == "InvalidGrant"
    assert domain.store.sessions == {}


def test_an_expired_code_is_refused(domain: EmailDomain) -> None:
    _user(domain)
    login_id, code = _started(domain)
    domain.clock.advance(600)  # EMAIL_CODE_TTL_SECONDS
    assert _complete(domain, login_id, code) == "InvalidGrant"


def test_malformed_login_ids_and_codes_are_refused(domain: EmailDomain) -> None:
    _user(domain)
    login_id, code = _started(domain)
    for bad_id, bad_code in [("short", code), (login_id, "12345"), (login_id, "abcdef")]:
        assert _complete(domain, bad_id, bad_code) == "InvalidGrant"
    assert domain.store.email_logins[token_digest(login_id)].tries == 0
    assert _complete(domain, login_id, code) == "ok"


def test_an_account_with_totp_proves_it_after_the_code(domain: EmailDomain) -> None:
    _user(domain)
    secret, _ = enroll_totp(domain, login_as(domain))
    login_id, code = _started(domain)
    with pytest.raises(MfaRequired) as required:
        domain.email.sign_in.complete(login_id, code, CLIENT)
    assert required.value.factors == ("totp", "recovery_code")
    # The code is spent by the first step
    assert token_digest(login_id) not in domain.store.email_logins
    request = SecondStepRequest(
        required.value.mfa_token, CLIENT, code=totp_code(secret, domain.clock())
    )
    issued = domain.second_step.complete(request)
    assert issued.session.amr == ("email", "otp")


def test_wrong_codes_count_in_a_window_of_the_address_never_the_accounts_factors(
    domain: EmailDomain,
) -> None:
    user_id = _user(domain)
    for _ in range(2):
        login_id, code = _started(domain)
        for _ in range(5):
            assert _complete(domain, login_id, _wrong(code)) == "InvalidGrant"
    mailbox = address_digest(ADDRESS)
    assert domain.store.held(f"email-code#{mailbox}") == 10
    # The eleventh, even with the right code, is refused for the window
    login_id, code = _started(domain)
    with pytest.raises(RateLimited) as refused:
        domain.email.sign_in.complete(login_id, code, CLIENT)
    assert refused.value.status == 429
    # Not in the password scopes, nor in the account's second-factor window or TOTP's
    # run: guessing codes needs no password, and must not lock the owner's factors out
    counted = {key.split("#")[0] for (key, _), held in domain.store.attempts.items() if held}
    assert counted == {"email-code", "email-code-ip", "mail-ip", "mail-to", "register"}
    assert domain.store.held(f"factor#{user_id}") == 0
    assert [e for e in domain.store.account_events if e.event_type == "SecondFactorFailing"] == []
    # A password still signs in
    assert login_as(domain).session.user_id == user_id


def test_an_unknown_address_is_tried_counted_and_refused_alike(domain: EmailDomain) -> None:
    _user(domain)
    answers: list[str] = []
    for _ in range(3):
        login_id = domain.email.sign_in.start("nobody@example.test", CLIENT.ip)
        domain.email.deliver()
        answers += [_complete(domain, login_id, f"{n:06d}") for n in range(5)][: 11 - len(answers)]
    # as for a known address: ten judged wrong, then the window refuses
    assert answers == ["InvalidGrant"] * 10 + ["RateLimited"]
    assert domain.store.held(f"email-code#{address_digest('nobody@example.test')}") == 10


def test_a_right_code_gives_its_place_back(domain: EmailDomain) -> None:
    _user(domain)
    login_id, code = _started(domain)
    assert _complete(domain, login_id, _wrong(code)) == "InvalidGrant"
    with pytest.raises(InvalidGrant):
        domain.email.sign_in.complete("x" * 43, code, CLIENT)
    assert _complete(domain, login_id, code) == "ok"
    assert domain.store.held(f"email-code#{address_digest(ADDRESS)}") == 1
