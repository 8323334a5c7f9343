"""The e-mail capability's records, and what it needs from storage (EmailStore)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from session_service.domain.email.mail import MailRequest
from session_service.domain.models import AccountEvent, Credential, Millis, UserProfile

# Wrong tries a verification code or a sign-in code survives.
MAX_CODE_TRIES = 5


@dataclass(frozen=True, slots=True)
class PendingAddress:
    """An address a user asked to make theirs, until its code is entered. One per user: a
    newer request replaces it (and its code). The code is drawn by the mailer, which
    sets `code_digest` only if the request it answers is still the pending one."""

    user_id: str
    address: str
    request_id: str
    requested_at: Millis
    code_digest: str | None = None
    expires_at: Millis | None = None
    tries: int = 0


@dataclass(frozen=True, slots=True)
class AddressOwner:
    """Whose verified address it is (unique among verified addresses)."""

    address: str
    user_id: str
    username_key: str


@dataclass(frozen=True, slots=True)
class ResetToken:
    """A password reset link's token, by its digest: good while the credential still
    names it (a newer one replaces it) and the password has not changed since."""

    digest: str
    user_id: str
    username_key: str
    password_version: int
    expires_at: Millis


@dataclass(frozen=True, slots=True)
class EmailLogin:
    """A sign-in by an e-mailed code, found by the digest of its login_id. Written by the
    start whether or not the address is an account's; the mailer fills in the account
    and the code's digest when it sends one."""

    digest: str
    address: str
    created_at: Millis
    expires_at: Millis
    user_id: str = ""
    username_key: str = ""
    code_digest: str | None = None
    tries: int = 0


@dataclass(frozen=True, slots=True)
class AccountView:
    """What GET /auth/account shows, read together."""

    profile: UserProfile
    credential: Credential | None
    pending: PendingAddress | None


class EmailStore(Protocol):
    # -- the request's side --------------------------------------------------------------
    def register_with_address(
        self,
        credential: Credential,
        profile: UserProfile,
        pending: PendingAddress,
        mail: MailRequest,
    ) -> None:
        """A new account (AlreadyExists when the username is taken) with its address to
        verify and the request for its code, in one write."""
        ...

    def request_verification(self, pending: PendingAddress, mail: MailRequest) -> None: ...

    def find_pending(self, user_id: str) -> PendingAddress | None: ...

    def count_verification_try(self, pending: PendingAddress) -> str:
        """Count a try of the pending code before it is judged, so that a burst of guesses
        gets MAX_CODE_TRIES judged (StaleWrite when none is left, or it was replaced): the
        try's id, to give it back with."""
        ...

    def give_back_verification_try(self, pending: PendingAddress, attempt: str) -> None:
        """The try was never judged (AWS failed first): it counts no more. Only the try of
        this id, once, and only while it is counted."""
        ...

    def verify_address(
        self,
        pending: PendingAddress,
        owner: AddressOwner,
        previous: str | None,
        event: AccountEvent,
        notice: MailRequest | None = None,
    ) -> None:
        """The pending address becomes the user's verified one (replacing `previous`,
        whose reset link is void, and which `notice` tells of the change),
        spending its code: AlreadyExists when another account holds it verified,
        StaleWrite when the code was spent or replaced meanwhile."""
        ...

    def find_owner(self, address: str) -> AddressOwner | None: ...

    def request_mail(self, mail: MailRequest) -> None: ...

    def start_email_login(self, login: EmailLogin, mail: MailRequest) -> None: ...

    def find_email_login(self, digest: str) -> EmailLogin | None: ...

    def count_code_try(self, login: EmailLogin) -> str:
        """Count a try of the login's code before it is judged (StaleWrite when none is
        left, or it is spent): the try's id, to give it back with."""
        ...

    def give_back_code_try(self, login: EmailLogin, attempt: str) -> None:
        """As give_back_verification_try, for the login's code."""
        ...

    def spend_email_login(self, login: EmailLogin) -> None:
        """Spend the login's code (StaleWrite when spent meanwhile): a sign-in that goes
        on to a second factor. One without writes it with its session instead."""
        ...

    def find_reset(self, digest: str) -> ResetToken | None: ...

    def account_view(self, user_id: str, username_key: str) -> AccountView | None: ...

    # -- the mailer's side ---------------------------------------------------------------
    def set_verification_code(
        self, pending: PendingAddress, code_digest: str, expires_at: Millis
    ) -> bool:
        """False when the request was replaced meanwhile (no code is sent for it)."""
        ...

    def issue_reset(self, token: ResetToken, credential: Credential, event: AccountEvent) -> None:
        """The token, named by the credential (voiding any older one), with the record of
        the request (PasswordResetRequested: written once, a retry of the request finding
        it there); StaleWrite when the password changed."""
        ...

    def set_login_code(self, login: EmailLogin, owner: AddressOwner, code_digest: str) -> bool:
        """False when the login is gone (spent, or expired and deleted)."""
        ...
