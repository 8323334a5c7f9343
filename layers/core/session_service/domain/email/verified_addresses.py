"""A user's address: asking to make one theirs (a code is mailed to it), proving it with
the code, and what GET /auth/account shows. An address is verified for one account at a
time; changing it needs a recent sign-in (and, for an account with a second factor, one
that proved it): the address is how the account is recovered."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable

from session_service.domain.accounts.account_changes import (
    FactorChange,
    account_event,
    require_factor_proof,
)
from session_service.domain.accounts.usernames import username_key
from session_service.domain.email.addresses import codes_match, is_code, normalize_address
from session_service.domain.email.mail import MailRequest
from session_service.domain.email.policy import EmailPolicy, MailThrottle
from session_service.domain.email.records import (
    MAX_CODE_TRIES,
    AccountView,
    AddressOwner,
    EmailStore,
    PendingAddress,
)
from session_service.domain.errors import (
    Conflict,
    InvalidGrant,
    InvalidRequest,
    NotFound,
    Unavailable,
)
from session_service.domain.models import Credential, Millis, UserProfile
from session_service.domain.ports import AlreadyExists, SessionStore, StaleWrite

VERIFY_PURPOSE = "verify_email"
WRONG_CODE = "The code is incorrect or has expired; ask for a new one."


class VerifiedAddresses:
    def __init__(
        self,
        store: EmailStore,
        sessions: SessionStore,
        policy: EmailPolicy,
        mail_throttle: MailThrottle,
        code_key: Callable[[], bytes],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._policy = policy
        self._mail_throttle = mail_throttle
        self._code_key = code_key
        self._clock = clock

    def _now(self) -> Millis:
        return int(self._clock() * 1000)

    def _pending(self, user_id: str, address: str) -> tuple[PendingAddress, MailRequest]:
        now = self._now()
        request_id = str(uuid.uuid4())
        pending = PendingAddress(user_id, address, request_id, now)
        mail = MailRequest(request_id, "verify_email", now, user_id=user_id, address=address)
        return pending, mail

    def account_creator(
        self, raw_address: object, ip: str
    ) -> Callable[[Credential, UserProfile], None]:
        """How a registration with an address creates the account (checked before any
        password work): with the address to verify, whose code is mailed unless the
        address's or the client's mailing window is full (it can be asked for again)."""
        self._policy.require_enabled()
        address = normalize_address(raw_address)

        def create(credential: Credential, profile: UserProfile) -> None:
            pending, mail = self._pending(credential.user_id, address)
            if not self._mail_throttle.record(
                address,
                ip,
                lambda: self._store.register_with_address(credential, profile, pending, mail),
            ):
                self._sessions.create_user(credential, profile)

        return create

    def request_verification(self, change: FactorChange, raw_address: object, ip: str) -> None:
        """Mail a code to the address (POST /auth/email): 429 beyond the mailing limits."""
        self._policy.require_enabled()
        address = normalize_address(raw_address)
        credential = self._credential(change)
        require_factor_proof(credential, change)
        pending, mail = self._pending(change.user_id, address)
        self._mail_throttle.record(
            address, ip, lambda: self._store.request_verification(pending, mail), refuse=True
        )

    def verify(self, change: FactorChange, code: object) -> str:
        """The pending address becomes the account's with its code: the address."""
        self._policy.require_enabled()
        if not isinstance(code, str) or not is_code(code):
            raise InvalidRequest("code must be the 6 digits from the e-mail.")
        pending = self._store.find_pending(change.user_id)
        if (
            pending is None
            or pending.code_digest is None
            or pending.expires_at is None
            or self._now() >= pending.expires_at
            or pending.tries >= MAX_CODE_TRIES
        ):
            raise InvalidGrant(WRONG_CODE)
        return self._mail_throttle.verification_try(
            change.user_id, self._now(), lambda: self._try(change, pending, code)
        )

    def _try(self, change: FactorChange, pending: PendingAddress, code: str) -> str:
        # The try is counted before the code is judged: of a burst of guesses, no more
        # than MAX_CODE_TRIES are judged.
        try:
            attempt = self._store.count_verification_try(pending)
        except StaleWrite:
            raise InvalidGrant(WRONG_CODE) from None
        try:
            return self._judge(change, pending, code)
        except Unavailable:
            # AWS failed before the try was judged: it counts no more (best effort).
            with contextlib.suppress(Unavailable):
                self._store.give_back_verification_try(pending, attempt)
            raise

    def _judge(self, change: FactorChange, pending: PendingAddress, code: str) -> str:
        if pending.code_digest is None or not codes_match(
            pending.code_digest, self._code_key(), VERIFY_PURPOSE, pending.request_id, code
        ):
            raise InvalidGrant(WRONG_CODE)
        event = account_event(change.user_id, "EmailVerified", self._now())
        profile = self._sessions.find_profile(change.user_id)
        if profile is None:
            raise InvalidGrant("The account no longer exists.")
        owner = AddressOwner(pending.address, change.user_id, username_key(change.username))
        notice = None
        if profile.email and profile.email != pending.address:
            # The previous address is told: a thief who moves it does not do so unseen.
            notice = MailRequest(
                str(uuid.uuid4()),
                "email_changed",
                self._now(),
                user_id=change.user_id,
                address=profile.email,
            )
        try:
            self._store.verify_address(pending, owner, profile.email, event, notice)
        except AlreadyExists:
            raise Conflict("Another account has verified this address.") from None
        except StaleWrite:
            # Spent meanwhile: by this very request, if its answer was lost and retried.
            again = self._sessions.find_profile(change.user_id)
            if again is None or again.email != pending.address:
                raise InvalidGrant(WRONG_CODE) from None
        return pending.address

    def account(self, user_id: str, username: str) -> AccountView:
        view = self._store.account_view(user_id, username_key(username))
        if view is None:
            raise NotFound("The account no longer exists.")
        return view

    def _credential(self, change: FactorChange) -> Credential:
        credential = self._sessions.find_credential(username_key(change.username))
        if credential is None or credential.user_id != change.user_id:
            raise InvalidGrant("The account no longer exists.")
        return credential
