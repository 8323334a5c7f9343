"""E-mail's store in memory (EmailStore), over the in-memory store: its lock, its
credentials, profiles and account events, and the e-mail state it keeps (pending and
verified addresses, sign-ins by code and reset tokens, which a session's start spends,
and the mailer's requests). The DynamoDB store's conditions and errors, one for one
(adapters/email_store.py); each transaction counted as DynamoDB would be sent it."""

from __future__ import annotations

import dataclasses
import uuid

from harness.fakes import InMemoryStore
from harness.key_limits import check_keys
from harness.memory_spending import holds_code
from session_service.adapters.email_items import (
    email_login_key,
    owner_key,
    pending_key,
    reset_key,
)
from session_service.adapters.mail_items import mail_request_key
from session_service.adapters.store_items import login_key, profile_key
from session_service.domain.email.mail import MailRequest
from session_service.domain.email.records import (
    MAX_CODE_TRIES,
    AccountView,
    AddressOwner,
    EmailLogin,
    PendingAddress,
    ResetToken,
)
from session_service.domain.models import AccountEvent, Credential, Millis, UserProfile
from session_service.domain.ports import AlreadyExists, StaleWrite


class InMemoryEmailStore:
    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        # The ids of the tries counted, by the code's owner (a request id, a login digest)
        self._tries: dict[str, set[str]] = {}

    def _call(self, name: str) -> None:
        self.store.calls.append(name)

    # -- the request's side ------------------------------------------------------------

    def register_with_address(
        self,
        credential: Credential,
        profile: UserProfile,
        pending: PendingAddress,
        mail: MailRequest,
    ) -> None:
        store = self.store
        with store._lock:
            self._call("register_with_address")
            check_keys(
                login_key(credential.username_key),
                profile_key(profile.user_id),
                pending_key(pending.user_id),
                mail_request_key(mail.request_id),
            )
            store._transaction(4)
            if credential.username_key in store.credentials or profile.user_id in store.profiles:
                raise AlreadyExists()
            store.credentials[credential.username_key] = credential
            store.profiles[profile.user_id] = profile
            store.email_pending[pending.user_id] = pending
            store.mail_requests[mail.request_id] = mail

    def request_verification(self, pending: PendingAddress, mail: MailRequest) -> None:
        store = self.store
        with store._lock:
            self._call("request_verification")
            check_keys(pending_key(pending.user_id), mail_request_key(mail.request_id))
            store._transaction(2)
            # Replaces any pending address (and its code) of the user.
            store.email_pending[pending.user_id] = pending
            store.mail_requests[mail.request_id] = mail

    def find_pending(self, user_id: str) -> PendingAddress | None:
        with self.store._lock:
            self._call("find_pending")
            check_keys(pending_key(user_id))
            return self.store.email_pending.get(user_id)

    def count_verification_try(self, pending: PendingAddress) -> str:
        store = self.store
        with store._lock:
            self._call("count_verification_try")
            check_keys(pending_key(pending.user_id))
            current = store.email_pending.get(pending.user_id)
            if (
                current is None
                or current.request_id != pending.request_id
                or current.tries >= MAX_CODE_TRIES
            ):
                raise StaleWrite()
            store.email_pending[pending.user_id] = dataclasses.replace(
                current, tries=current.tries + 1
            )
            return self._tried(current.request_id)

    def give_back_verification_try(self, pending: PendingAddress, attempt: str) -> None:
        store = self.store
        with store._lock:
            self._call("give_back_verification_try")
            current = store.email_pending.get(pending.user_id)
            if current is not None and self._untried(current.request_id, attempt):
                store.email_pending[pending.user_id] = dataclasses.replace(
                    current, tries=current.tries - 1
                )

    def _tried(self, owner: str) -> str:
        """A try's id, held by the code's `owner` (its request, its login) until given
        back, as DynamoDB's item holds it in `tried`."""
        attempt = uuid.uuid4().hex
        self._tries.setdefault(owner, set()).add(attempt)
        return attempt

    def _untried(self, owner: str, attempt: str) -> bool:
        held = self._tries.get(owner, set())
        if attempt not in held:
            return False
        held.discard(attempt)
        return True

    def verify_address(
        self,
        pending: PendingAddress,
        owner: AddressOwner,
        previous: str | None,
        event: AccountEvent,
        notice: MailRequest | None = None,
    ) -> None:
        store = self.store
        releases = previous is not None and previous != owner.address
        with store._lock:
            self._call("verify_address")
            check_keys(owner_key(owner.address), pending_key(pending.user_id))
            # (a change also voids the credential's reset link and tells the old address)
            store._transaction(4 + 2 * releases + (notice is not None and releases))
            # In the transaction's order: its first failed condition is the error.
            held = store.email_owners.get(owner.address)
            if held is not None and held.user_id != owner.user_id:
                raise AlreadyExists()
            current = store.email_pending.get(pending.user_id)
            if (
                current is None
                or current.request_id != pending.request_id
                or not holds_code(current.code_digest, pending.code_digest)
                or current.tries > MAX_CODE_TRIES
            ):
                raise StaleWrite()
            profile = store.profiles.get(pending.user_id)
            if profile is None:
                raise StaleWrite()
            released = store.email_owners.get(previous) if previous and releases else None
            if released is not None and released.user_id != owner.user_id:
                raise StaleWrite()
            store.email_owners[owner.address] = owner
            del store.email_pending[pending.user_id]
            store.profiles[pending.user_id] = dataclasses.replace(profile, email=owner.address)
            store.account_events.append(event)
            if previous and releases:
                store.email_owners.pop(previous, None)
                stored = store.credentials.get(owner.username_key)
                if stored is not None:
                    store.credentials[owner.username_key] = dataclasses.replace(
                        stored, reset_digest=None
                    )
                if notice is not None:
                    store.mail_requests[notice.request_id] = notice

    def find_owner(self, address: str) -> AddressOwner | None:
        with self.store._lock:
            self._call("find_owner")
            check_keys(owner_key(address))
            return self.store.email_owners.get(address)

    def request_mail(self, mail: MailRequest) -> None:
        with self.store._lock:
            self._call("request_mail")
            check_keys(mail_request_key(mail.request_id))
            self.store.mail_requests[mail.request_id] = mail

    def start_email_login(self, login: EmailLogin, mail: MailRequest) -> None:
        store = self.store
        with store._lock:
            self._call("start_email_login")
            check_keys(email_login_key(login.digest), mail_request_key(mail.request_id))
            store._transaction(2)
            store.email_logins[login.digest] = login
            store.mail_requests[mail.request_id] = mail

    def find_email_login(self, digest: str) -> EmailLogin | None:
        with self.store._lock:
            self._call("find_email_login")
            check_keys(email_login_key(digest))
            return self.store.email_logins.get(digest)

    def count_code_try(self, login: EmailLogin) -> str:
        store = self.store
        with store._lock:
            self._call("count_code_try")
            check_keys(email_login_key(login.digest))
            current = store.email_logins.get(login.digest)
            if current is None or current.tries >= MAX_CODE_TRIES:
                raise StaleWrite()
            store.email_logins[login.digest] = dataclasses.replace(current, tries=current.tries + 1)
            return self._tried(login.digest)

    def give_back_code_try(self, login: EmailLogin, attempt: str) -> None:
        store = self.store
        with store._lock:
            self._call("give_back_code_try")
            current = store.email_logins.get(login.digest)
            if current is not None and self._untried(login.digest, attempt):
                store.email_logins[login.digest] = dataclasses.replace(
                    current, tries=current.tries - 1
                )

    def spend_email_login(self, login: EmailLogin) -> None:
        store = self.store
        with store._lock:
            self._call("spend_email_login")
            check_keys(email_login_key(login.digest))
            store._transaction(1)
            current = store.email_logins.get(login.digest)
            if (
                current is None
                or not holds_code(current.code_digest, login.code_digest)
                or current.tries > MAX_CODE_TRIES
            ):
                raise StaleWrite()
            del store.email_logins[login.digest]

    def find_reset(self, digest: str) -> ResetToken | None:
        with self.store._lock:
            self._call("find_reset")
            check_keys(reset_key(digest))
            return self.store.resets.get(digest)

    def account_view(self, user_id: str, username_key: str) -> AccountView | None:
        store = self.store
        with store._lock:
            self._call("account_view")
            check_keys(profile_key(user_id), login_key(username_key), pending_key(user_id))
            profile = store.profiles.get(user_id)
            if profile is None:
                return None
            return AccountView(
                profile=profile,
                credential=store.credentials.get(username_key),
                pending=store.email_pending.get(user_id),
            )

    # -- the mailer's side -------------------------------------------------------------

    def set_verification_code(
        self, pending: PendingAddress, code_digest: str, expires_at: Millis
    ) -> bool:
        store = self.store
        with store._lock:
            self._call("set_verification_code")
            check_keys(pending_key(pending.user_id))
            current = store.email_pending.get(pending.user_id)
            if current is None or current.request_id != pending.request_id:
                return False
            store.email_pending[pending.user_id] = dataclasses.replace(
                current, code_digest=code_digest, expires_at=expires_at, tries=0
            )
            return True

    def issue_reset(self, token: ResetToken, credential: Credential, event: AccountEvent) -> None:
        store = self.store
        with store._lock:
            self._call("issue_reset")
            check_keys(reset_key(token.digest), login_key(credential.username_key))
            store._transaction(3)
            stored = store.credentials.get(credential.username_key)
            if stored is None or stored.password_version != credential.password_version:
                raise StaleWrite()
            store.resets[token.digest] = token
            # The newest token is the one that counts: the others are void.
            store.credentials[stored.username_key] = dataclasses.replace(
                stored, reset_digest=token.digest
            )
            # The request's record once, however often its retry issues a token
            if all(known.record_id != event.record_id for known in store.account_events):
                store.account_events.append(event)

    def set_login_code(self, login: EmailLogin, owner: AddressOwner, code_digest: str) -> bool:
        store = self.store
        with store._lock:
            self._call("set_login_code")
            check_keys(email_login_key(login.digest))
            current = store.email_logins.get(login.digest)
            if current is None:
                return False
            store.email_logins[login.digest] = dataclasses.replace(
                current,
                user_id=owner.user_id,
                username_key=owner.username_key,
                code_digest=code_digest,
                tries=0,
            )
            return True
