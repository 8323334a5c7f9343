"""What a session's start spends of e-mail over each backend (in memory, moto, DynamoDB
Local): a reset token, good while the credential names it (a newer token or any password
change voids it), spent by the reset that sets the password; and, under bursts, one
reset link sent 8 times at once changes the password once, one e-mailed code sent 8
times at once buys one session. (Addresses and logins: test_email_contract.py.)"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient

from harness.domain import CLIENT, Services
from harness.email_domain import (
    EmailServices,
    build_email_services,
    email_store_over,
    mailed_code,
    mailed_token,
    verify_address,
)
from harness.fakes import InMemoryStore
from session_service.domain.accounts.account_changes import account_event
from session_service.domain.email.records import EmailStore, ResetToken
from session_service.domain.errors import InvalidGrant
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.flows.recovery import ResetRequest
from session_service.domain.models import Credential
from session_service.domain.ports import SecretSpend, SessionStore, StaleWrite
from session_service.domain.sessions.session_records import StartRequest
from tests.helpers import burst, enroll_totp, outcome
from tests.integration.backends import BACKENDS, ROOM_FOR_BURSTS, account_events

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

PASSWORD = "correct horse"
NEW_PASSWORD = "new battery staple"
ADDRESS = "ada@example.test"
BURST = 8
MINUTE = 60_000


@pytest.fixture
def services(services_with: Callable[..., Services]) -> Services:
    return services_with(throttle=ROOM_FOR_BURSTS)


@pytest.fixture
def email_store(store: SessionStore) -> EmailStore:
    return email_store_over(store)


@pytest.fixture
def email(services: Services, store: SessionStore, email_store: EmailStore) -> EmailServices:
    return build_email_services(services, store, email_store)


@pytest.fixture
def transaction_sizes(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of items of each transaction the store sends (or, in memory, would)."""
    if isinstance(store, InMemoryStore):
        return store.transaction_sizes
    sizes: list[int] = []
    original = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: Any) -> Any:
        if operation == "TransactWriteItems":
            sizes.append(len(params["TransactItems"]))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return sizes


def _user(services: Services, username: str = "ada") -> str:
    return services.accounts.register(username, PASSWORD, CLIENT.ip)


def _credential(store: SessionStore, username: str = "ada") -> Credential:
    credential = store.find_credential(username)
    assert credential is not None
    return credential


# -- reset tokens ----------------------------------------------------------------------------


def _token(services: Services, credential: Credential) -> ResetToken:
    return ResetToken(
        f"reset-{uuid.uuid4()}",
        credential.user_id,
        credential.username_key,
        credential.password_version,
        services.sessions.now() + 15 * MINUTE,
    )


def _issue(services: Services, store: SessionStore, email_store: EmailStore) -> ResetToken:
    credential = _credential(store)
    token = _token(services, credential)
    event = account_event(credential.user_id, "PasswordResetRequested", services.sessions.now())
    email_store.issue_reset(token, credential, event)
    return token


def _reset(services: Services, store: SessionStore, digest: str) -> str:
    credential = _credential(store)
    request = StartRequest(
        credential.user_id,
        CLIENT,
        credential=credential,
        new_password_hash=services.passwords.hash(NEW_PASSWORD),
        amr=("email",),
        spends=SecretSpend(reset_digest=digest),
        reason="password_reset",
    )
    return outcome(lambda: services.sessions.start(request))


def test_a_reset_token_is_named_by_the_credential_until_the_password_moves(
    services: Services, store: SessionStore, email_store: EmailStore
) -> None:
    user_id = _user(services)
    token = _issue(services, store, email_store)
    assert email_store.find_reset(token.digest) == token
    assert _credential(store).reset_digest == token.digest
    assert [e.event_type for e in account_events(store) if e.user_id == user_id] == [
        "PasswordResetRequested"
    ]
    # A password change meanwhile: the token is void, and a newer one is refused too
    stale = _credential(store)
    changed = StartRequest(
        user_id, CLIENT, credential=stale, new_password_hash=services.passwords.hash(NEW_PASSWORD)
    )
    services.sessions.start(changed)
    assert _credential(store).reset_digest is None
    assert store.find_profile(user_id).password_change_reason == "changed"  # type: ignore[union-attr]
    late = _token(services, stale)
    with pytest.raises(StaleWrite):
        email_store.issue_reset(late, stale, account_event(user_id, "PasswordResetRequested", 0))
    assert email_store.find_reset(late.digest) is None
    assert _credential(store).reset_digest is None


def test_a_reset_spends_the_newest_token_and_voids_the_older(
    services: Services, store: SessionStore, email_store: EmailStore
) -> None:
    user_id = _user(services)
    signed_in = services.accounts.login(LoginRequest("ada", PASSWORD, CLIENT))
    older = _issue(services, store, email_store)
    newer = _issue(services, store, email_store)
    assert _credential(store).reset_digest == newer.digest
    assert _reset(services, store, older.digest) == "InvalidGrant"
    assert _credential(store).password_version == 0
    assert _reset(services, store, newer.digest) == "ok"
    credential = _credential(store)
    assert (credential.password_version, credential.reset_digest) == (1, None)
    assert services.passwords.verify(credential.password_hash, NEW_PASSWORD)
    assert email_store.find_reset(newer.digest) is None
    assert store.find_profile(user_id).password_change_reason == "reset"  # type: ignore[union-attr]
    assert _reset(services, store, newer.digest) == "InvalidGrant"
    # and the session from before the reset is over
    assert outcome(lambda: services.sessions.refresh(signed_in.refresh_token, CLIENT)) == (
        "InvalidGrant"
    )


# -- bursts ----------------------------------------------------------------------------------


def test_one_reset_link_sent_at_once_changes_the_password_once(
    services: Services, store: SessionStore, email: EmailServices
) -> None:
    user_id = _user(services)
    verify_address(email, user_id, ADDRESS)
    email.recovery.forgot(None, ADDRESS, CLIENT.ip)
    token = mailed_token(email, ADDRESS)
    request = ResetRequest(token, NEW_PASSWORD, CLIENT)
    outcomes = burst(BURST, lambda _: outcome(lambda: email.recovery.reset(request)))
    assert outcomes == Counter({"ok": 1, "InvalidGrant": BURST - 1})
    credential = _credential(store)
    assert (credential.password_version, credential.reset_digest) == (1, None)
    state = store.load_user(user_id)
    assert state is not None
    assert len(state.sessions) == 1
    assert state.profile.password_change_reason == "reset"


def test_one_emailed_code_sent_at_once_buys_one_session(
    services: Services, store: SessionStore, email: EmailServices
) -> None:
    user_id = _user(services)
    verify_address(email, user_id, ADDRESS)
    login_id = email.sign_in.start(ADDRESS, CLIENT.ip)
    code = mailed_code(email, ADDRESS, "sign_in_code")
    outcomes = burst(
        BURST, lambda _: outcome(lambda: email.sign_in.complete(login_id, code, CLIENT))
    )
    assert outcomes == Counter({"ok": 1, "InvalidGrant": BURST - 1})
    state = store.load_user(user_id)
    assert state is not None
    assert [s.amr for s in state.sessions] == [("email",)]
    with pytest.raises(InvalidGrant):
        email.sign_in.complete(login_id, code, CLIENT)


def test_a_code_sign_in_and_a_reset_with_a_recovery_code_are_one_transaction_each(
    services: Services, email: EmailServices, transaction_sizes: list[int]
) -> None:
    user_id = _user(services)
    verify_address(email, user_id, ADDRESS)
    login_id = email.sign_in.start(ADDRESS, CLIENT.ip)
    code = mailed_code(email, ADDRESS, "sign_in_code")
    transaction_sizes.clear()
    issued = email.sign_in.complete(login_id, code, CLIENT)
    # the profile, the session, the credential's check and the login spent
    assert transaction_sizes == [4]
    _, recovery_codes = enroll_totp(services, issued)
    email.recovery.forgot("ada", None, CLIENT.ip)
    token = mailed_token(email, ADDRESS)
    transaction_sizes.clear()
    request = ResetRequest(token, NEW_PASSWORD, CLIENT, code=recovery_codes[0])
    assert email.recovery.reset(request).session.amr == ("email", "otp")
    # the throttle's places (the username's from this address, the account's run and
    # window, the username's ceiling); then the profile, the session, the one live session
    # ended and the record of it, the credential (its password, its recovery code), the
    # code's use recorded, the token
    assert transaction_sizes == [4, 7]
