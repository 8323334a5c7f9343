"""E-mail's store (EmailStore) over each backend (in memory, moto, DynamoDB Local): pending
and verified addresses (a newer request replaces the older and its code, five wrong tries
spend it, a verified address is one account's), and sign-ins by an e-mailed code, spent
once with their own code, by a session's start. Reset tokens and the bursts:
test_email_spending_contract.py."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable

import pytest

from harness.domain import CLIENT, Services
from harness.email_domain import email_store_over, mail_requests
from session_service.domain.accounts.account_changes import account_event
from session_service.domain.email.mail import MailRequest
from session_service.domain.email.records import (
    AddressOwner,
    EmailLogin,
    EmailStore,
    PendingAddress,
)
from session_service.domain.models import Credential, UserProfile
from session_service.domain.ports import AlreadyExists, SecretSpend, SessionStore, StaleWrite
from session_service.domain.sessions.session_records import StartRequest
from tests.helpers import outcome
from tests.integration.backends import BACKENDS, account_events

pytestmark = pytest.mark.parametrize("backend", ["memory", *BACKENDS], indirect=True)

PASSWORD = "correct horse"
ADDRESS = "ada@example.test"
MINUTE = 60_000


@pytest.fixture
def services(services_with: Callable[..., Services]) -> Services:
    return services_with()


@pytest.fixture
def email_store(store: SessionStore) -> EmailStore:
    return email_store_over(store)


def _user(services: Services, username: str = "ada") -> str:
    return services.accounts.register(username, PASSWORD, CLIENT.ip)


def _credential(store: SessionStore, username: str = "ada") -> Credential:
    credential = store.find_credential(username)
    assert credential is not None
    return credential


def _pending(services: Services, user_id: str, address: str = ADDRESS) -> PendingAddress:
    return PendingAddress(user_id, address, str(uuid.uuid4()), services.sessions.now())


def _request(services: Services, pending: PendingAddress) -> MailRequest:
    now = services.sessions.now()
    return MailRequest(pending.request_id, "verify_email", now, user_id=pending.user_id)


def _coded(
    services: Services, email_store: EmailStore, user_id: str, address: str = ADDRESS
) -> PendingAddress:
    """A pending address of the user, with its code's digest set by the mailer."""
    pending = _pending(services, user_id, address)
    email_store.request_verification(pending, _request(services, pending))
    expires_at = services.sessions.now() + 10 * MINUTE
    assert email_store.set_verification_code(pending, f"digest-{pending.request_id}", expires_at)
    found = email_store.find_pending(user_id)
    assert found is not None
    return found


def _verify(
    services: Services,
    store: SessionStore,
    email_store: EmailStore,
    pending: PendingAddress,
    username: str = "ada",
) -> None:
    """The mailer's code entered: the pending address becomes the user's."""
    owner = AddressOwner(pending.address, pending.user_id, username)
    profile = store.find_profile(pending.user_id)
    assert profile is not None
    event = account_event(pending.user_id, "EmailVerified", services.sessions.now())
    email_store.verify_address(pending, owner, profile.email, event)


# -- addresses -------------------------------------------------------------------------------


def test_a_registration_with_an_address_writes_the_account_its_address_and_the_request(
    services: Services, store: SessionStore, email_store: EmailStore
) -> None:
    user_id = str(uuid.uuid4())
    credential = Credential("ada", "Ada", user_id, "hash")
    profile = UserProfile(user_id, "Ada", services.sessions.now())
    pending = _pending(services, user_id)
    mail = _request(services, pending)
    email_store.register_with_address(credential, profile, pending, mail)
    assert store.find_credential("ada") == credential
    assert store.find_profile(user_id) == profile
    assert email_store.find_pending(user_id) == pending
    assert mail_requests(email_store) == [mail]
    # The username taken: nothing of the second registration is written
    other = str(uuid.uuid4())
    again = _pending(services, other)
    with pytest.raises(AlreadyExists):
        email_store.register_with_address(
            Credential("ada", "ADA", other, "hash"),
            UserProfile(other, "ADA", services.sessions.now()),
            again,
            _request(services, again),
        )
    assert (store.find_profile(other), email_store.find_pending(other)) == (None, None)
    assert mail_requests(email_store) == [mail]


def test_a_newer_verification_request_replaces_the_older_and_its_code(
    services: Services, email_store: EmailStore
) -> None:
    user_id = _user(services)
    older = _coded(services, email_store, user_id)
    newer = _pending(services, user_id, "ada@other.test")
    email_store.request_verification(newer, _request(services, newer))
    assert email_store.find_pending(user_id) == newer
    # The mailer answering the older request finds it replaced: no code for it
    expires_at = services.sessions.now() + 10 * MINUTE
    assert email_store.set_verification_code(older, "late", expires_at) is False
    assert email_store.find_pending(user_id) == newer
    assert email_store.set_verification_code(newer, "fresh", expires_at) is True
    found = email_store.find_pending(user_id)
    assert found is not None
    assert (found.code_digest, found.expires_at, found.tries) == ("fresh", expires_at, 0)
    with pytest.raises(StaleWrite):
        email_store.count_verification_try(older)
    with pytest.raises(StaleWrite):
        email_store.verify_address(
            older,
            AddressOwner(older.address, user_id, "ada"),
            None,
            account_event(user_id, "EmailVerified", services.sessions.now()),
        )


def test_verification_tries_count_up_to_five_and_the_fifth_may_spend_the_code(
    services: Services, store: SessionStore, email_store: EmailStore
) -> None:
    user_id = _user(services)
    pending = _coded(services, email_store, user_id)
    for _ in range(5):
        email_store.count_verification_try(pending)
    with pytest.raises(StaleWrite):
        email_store.count_verification_try(pending)
    found = email_store.find_pending(user_id)
    assert found is not None
    assert found.tries == 5
    # a try is counted before its code is judged: the fifth may be the right one
    _verify(services, store, email_store, pending)
    assert email_store.find_owner(ADDRESS) is not None
    with pytest.raises(StaleWrite):
        email_store.count_verification_try(_pending(services, str(uuid.uuid4())))


def test_a_verified_address_is_one_accounts_and_a_new_one_releases_the_old(
    services: Services, store: SessionStore, email_store: EmailStore
) -> None:
    ada, bob = _user(services, "ada"), _user(services, "bob")
    pending = _coded(services, email_store, ada)
    _verify(services, store, email_store, pending)
    assert email_store.find_owner(ADDRESS) == AddressOwner(ADDRESS, ada, "ada")
    assert email_store.find_pending(ada) is None
    assert store.find_profile(ada).email == ADDRESS  # type: ignore[union-attr]
    assert [e.event_type for e in account_events(store) if e.user_id == ada] == ["EmailVerified"]
    # Its code is spent
    with pytest.raises(StaleWrite):
        _verify(services, store, email_store, pending)
    # Another account cannot verify it; its pending request stays
    bobs = _coded(services, email_store, bob)
    with pytest.raises(AlreadyExists):
        _verify(services, store, email_store, bobs, "bob")
    assert email_store.find_pending(bob) == bobs
    assert store.find_profile(bob).email is None  # type: ignore[union-attr]
    # Ada moves to another address: the first is released, and Bob may verify it
    _verify(services, store, email_store, _coded(services, email_store, ada, "ada@new.test"))
    assert email_store.find_owner(ADDRESS) is None
    assert email_store.find_owner("ada@new.test") == AddressOwner("ada@new.test", ada, "ada")
    assert store.find_profile(ada).email == "ada@new.test"  # type: ignore[union-attr]
    _verify(services, store, email_store, bobs, "bob")
    assert email_store.find_owner(ADDRESS) == AddressOwner(ADDRESS, bob, "bob")
    assert email_store.find_owner("nobody@example.test") is None


def test_the_account_view_reads_profile_credential_and_pending_together(
    services: Services, store: SessionStore, email_store: EmailStore
) -> None:
    user_id = _user(services)
    pending = _coded(services, email_store, user_id)
    view = email_store.account_view(user_id, "ada")
    assert view is not None
    assert (view.profile, view.credential, view.pending) == (
        store.find_profile(user_id),
        _credential(store),
        pending,
    )
    assert email_store.account_view(str(uuid.uuid4()), "nobody") is None


# -- sign-in by an e-mailed code -------------------------------------------------------------


def _login(
    services: Services, email_store: EmailStore, user_id: str, code: str = "code"
) -> EmailLogin:
    now = services.sessions.now()
    login = EmailLogin(f"login-{uuid.uuid4()}", ADDRESS, now, now + 10 * MINUTE)
    mail = MailRequest(
        str(uuid.uuid4()), "sign_in_code", now, address=ADDRESS, login_digest=login.digest
    )
    email_store.start_email_login(login, mail)
    assert email_store.find_email_login(login.digest) == login
    assert email_store.set_login_code(login, AddressOwner(ADDRESS, user_id, "ada"), code)
    found = email_store.find_email_login(login.digest)
    assert found is not None
    return found


def test_a_login_gets_its_account_and_code_then_five_tries(
    services: Services, email_store: EmailStore
) -> None:
    user_id = _user(services)
    login = _login(services, email_store, user_id)
    assert (login.user_id, login.username_key, login.code_digest, login.tries) == (
        user_id,
        "ada",
        "code",
        0,
    )
    for _ in range(5):
        email_store.count_code_try(login)
    # a try is counted before its code is judged: there is no sixth
    with pytest.raises(StaleWrite):
        email_store.count_code_try(login)
    assert email_store.find_email_login(login.digest).tries == 5  # type: ignore[union-attr]
    # the fifth may have been the right code: it is still spent by it, once
    email_store.spend_email_login(login)
    assert email_store.find_email_login(login.digest) is None


def test_a_login_is_spent_once_with_its_own_code(
    services: Services, email_store: EmailStore
) -> None:
    user_id = _user(services)
    login = _login(services, email_store, user_id)
    with pytest.raises(StaleWrite):
        email_store.spend_email_login(dataclasses.replace(login, code_digest="other"))
    email_store.spend_email_login(login)
    assert email_store.find_email_login(login.digest) is None
    with pytest.raises(StaleWrite):
        email_store.spend_email_login(login)
    with pytest.raises(StaleWrite):
        email_store.count_code_try(login)
    assert email_store.set_login_code(login, AddressOwner(ADDRESS, user_id, "ada"), "x") is False


def test_a_session_start_spends_the_login_it_names(
    services: Services, store: SessionStore, email_store: EmailStore
) -> None:
    user_id = _user(services)
    login = _login(services, email_store, user_id)

    def start(code_digest: str) -> str:
        spends = SecretSpend(login_digest=login.digest, code_digest=code_digest)
        request = StartRequest(
            user_id, CLIENT, credential=_credential(store), amr=("email",), spends=spends
        )
        return outcome(lambda: services.sessions.start(request))

    assert start("other") == "InvalidGrant"
    assert email_store.find_email_login(login.digest) == login
    assert start("code") == "ok"
    assert email_store.find_email_login(login.digest) is None
    assert start("code") == "InvalidGrant"
    state = store.load_user(user_id)
    assert state is not None
    assert [s.amr for s in state.sessions] == [("email",)]
