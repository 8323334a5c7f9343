"""The mailer's side (MailDispatch) with a sender that records what it is given: a
request becomes one message to the right address, with its secret drawn as it is sent
and only its digest stored; an address no account verified gets no code or link; an
event of ours becomes the notice its template says, to a verified address only."""

from __future__ import annotations

from typing import Any

import pytest

from harness.domain import CLIENT
from harness.email_domain import (
    CODE_KEY,
    LINK_URL,
    EmailDomain,
    build_email_domain,
    owner_change,
    verify_address,
)
from session_service.domain.email.addresses import code_digest, token_digest
from session_service.domain.email.mail import MailTemplate, OutgoingMail

PASSWORD = "correct horse"
ADDRESS = "ada@example.test"
AT = "2027-01-14T12:00:00Z"
NOW = "2027-01-15T08:00:00Z"  # (the domain's clock)
# How a notice writes them, for a reader
AT_READ, NOW_READ = "2027-01-14 12:00 UTC", "2027-01-15 08:00 UTC"


@pytest.fixture
def domain() -> EmailDomain:
    return build_email_domain()


def _ada(domain: EmailDomain, verified: bool = True) -> str:
    user_id = domain.accounts.register("ada", PASSWORD, CLIENT.ip)
    if verified:
        verify_address(domain.email, user_id, ADDRESS)
        domain.email.sender.sent.clear()
    return user_id


def test_a_verification_code_goes_to_the_pending_address_and_its_digest_verifies(
    domain: EmailDomain,
) -> None:
    user_id = _ada(domain, verified=False)
    domain.email.addresses.request_verification(owner_change(user_id), ADDRESS, CLIENT.ip)
    (request_id,) = domain.store.mail_requests
    now = int(domain.clock() * 1000)
    (sent,) = domain.email.deliver()
    code = sent.values["code"]
    assert sent == OutgoingMail(
        request_id, ADDRESS, "verify_email", {"code": code, "minutes": "10"}
    )
    assert len(code) == 6
    assert code.isdigit()
    pending = domain.store.email_pending[user_id]
    assert pending.code_digest == code_digest(CODE_KEY, "verify_email", request_id, code)
    assert (pending.expires_at, pending.tries) == (now + 600_000, 0)


def test_a_request_replaced_before_the_mailer_ran_gets_no_code(domain: EmailDomain) -> None:
    user_id = _ada(domain, verified=False)
    ask = domain.email.addresses.request_verification
    ask(owner_change(user_id), "ada@old.test", CLIENT.ip)
    ask(owner_change(user_id), ADDRESS, CLIENT.ip)
    assert [(m.to, m.template) for m in domain.email.deliver()] == [(ADDRESS, "verify_email")]


def test_a_reset_link_carries_its_token_in_the_fragment(domain: EmailDomain) -> None:
    user_id = _ada(domain)
    domain.email.recovery.forgot(None, " ADA@example.test", CLIENT.ip)
    (request_id,) = [
        r for r, m in domain.store.mail_requests.items() if m.purpose != "verify_email"
    ]
    now = int(domain.clock() * 1000)
    (sent,) = domain.email.deliver()
    link = sent.values["link"]
    assert sent == OutgoingMail(
        request_id, ADDRESS, "password_reset", {"link": link, "username": "ada", "minutes": "15"}
    )
    assert link.startswith(f"{LINK_URL}#token=")
    assert "?" not in link
    digest = token_digest(link.removeprefix(f"{LINK_URL}#token="))
    assert domain.store.credentials["ada"].reset_digest == digest
    token = domain.store.resets[digest]
    assert (token.user_id, token.username_key, token.password_version, token.expires_at) == (
        user_id,
        "ada",
        0,
        now + 900_000,
    )
    assert [e.event_type for e in domain.store.account_events][-1] == "PasswordResetRequested"


@pytest.mark.parametrize("account", ["unknown", "unverified", "disabled"])
def test_no_reset_link_goes_to_an_address_no_account_verified(
    domain: EmailDomain, account: str
) -> None:
    if account != "unknown":
        user_id = _ada(domain, verified=account == "disabled")
        domain.email.addresses.request_verification(owner_change(user_id), ADDRESS, CLIENT.ip)
        domain.email.deliver()
        domain.email.sender.sent.clear()
        if account == "disabled":
            domain.administration.disable(user_id)
    domain.email.recovery.forgot("ada", None, CLIENT.ip)
    domain.email.recovery.forgot(None, ADDRESS, CLIENT.ip)
    assert domain.email.deliver() == []
    assert domain.store.resets == {}


def test_a_sign_in_code_goes_to_the_verified_address(domain: EmailDomain) -> None:
    user_id = _ada(domain)
    login_id = domain.email.sign_in.start(ADDRESS, CLIENT.ip)
    stranger = domain.email.sign_in.start("nobody@example.test", CLIENT.ip)
    (sent,) = domain.email.deliver()
    code = sent.values["code"]
    assert (sent.to, sent.template, sent.values) == (
        ADDRESS,
        "sign_in_code",
        {"code": code, "minutes": "10"},
    )
    login = domain.store.email_logins[token_digest(login_id)]
    assert (login.user_id, login.username_key) == (user_id, "ada")
    assert login.code_digest == code_digest(CODE_KEY, "sign_in_code", login.digest, code)
    assert domain.store.email_logins[token_digest(stranger)].code_digest is None


# -- notices --------------------------------------------------------------------------------


NOTICES: list[tuple[str, dict[str, Any], MailTemplate, dict[str, str]]] = [
    ("PasswordChanged", {"changed_at": AT, "reason": "changed"}, "password_changed", {}),
    ("PasswordChanged", {"changed_at": AT, "reason": "reset"}, "password_reset_done", {}),
    # (as activity_log.py publishes it: no time of its own, the notice says now)
    (
        "NewDeviceSignIn",
        {"event_id": "e:device", "session_id": "s", "user_agent": "Firefox", "ip": "192.0.2.9"},
        "new_device",
        {"at": NOW_READ, "device": "Firefox", "ip": "192.0.2.9"},
    ),
    ("MfaEnabled", {"enabled_at": AT}, "factor_added", {"factor": "an authenticator app (TOTP)"}),
    ("PasskeyAdded", {"added_at": AT}, "factor_added", {"factor": "a passkey"}),
    (
        "MfaDisabled",
        {"disabled_at": AT},
        "factor_removed",
        {"factor": "an authenticator app (TOTP)"},
    ),
    ("PasskeyRemoved", {"removed_at": AT}, "factor_removed", {"factor": "a passkey"}),
    ("FactorsReset", {"reset_at": AT}, "factors_reset", {}),
]


@pytest.mark.parametrize(("detail_type", "detail", "template", "values"), NOTICES)
def test_each_event_of_ours_becomes_its_notice(
    domain: EmailDomain,
    detail_type: str,
    detail: dict[str, Any],
    template: MailTemplate,
    values: dict[str, str],
) -> None:
    user_id = _ada(domain)
    domain.email.dispatch.notice(detail_type, {"user_id": user_id, **detail}, "event-1")
    expected = {"username": "ada", "at": AT_READ, **values}
    assert domain.email.sender.sent == [OutgoingMail("event-1", ADDRESS, template, expected)]


def test_a_new_device_notice_without_its_device_says_so(domain: EmailDomain) -> None:
    user_id = _ada(domain)
    domain.email.dispatch.notice("NewDeviceSignIn", {"user_id": user_id}, "event-1")
    (sent,) = domain.email.sender.sent
    assert sent.values == {
        "username": "ada",
        "at": NOW_READ,
        # (a label, never the header's own text: here there was none)
        "device": "Other",
        "ip": "an unknown address",
    }


def test_no_notice_without_a_verified_address_or_for_other_events(domain: EmailDomain) -> None:
    user_id = _ada(domain, verified=False)
    dispatch = domain.email.dispatch
    dispatch.notice("PasswordChanged", {"user_id": user_id, "changed_at": AT}, "event-1")
    verify_address(domain.email, user_id, ADDRESS)
    domain.email.sender.sent.clear()
    dispatch.notice("SessionRevoked", {"user_id": user_id}, "event-2")
    dispatch.notice("PasswordChanged", {"changed_at": AT}, "event-3")
    dispatch.notice("PasswordChanged", {"user_id": "nobody", "changed_at": AT}, "event-4")
    assert domain.email.sender.sent == []
