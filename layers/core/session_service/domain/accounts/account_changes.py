"""Changes of an account's factors, as the domain records and guards them: the record of
a change (the account event the stream turns into an event), and the rule that only a
session that proved a second factor may change the second factors of an account that has
one. Light on purpose: the API loads it at cold start (pyotp and py_webauthn it does not)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from session_service.domain.errors import InsufficientUserAuthentication
from session_service.domain.models import (
    SECOND_FACTOR_METHODS,
    AccountEvent,
    AccountEventType,
    ClientInfo,
    Credential,
    Millis,
)


@dataclass(frozen=True, slots=True)
class FactorChange:
    """Who asks to change their second factors, and how their session proved them."""

    user_id: str
    username: str
    amr: tuple[str, ...]
    # REAUTH_MAX_AGE_SECONDS, for the step-up that a missing proof asks for.
    max_age: int

    @property
    def proves_a_factor(self) -> bool:
        """Whether the session proved a second factor. If not, what it adds must be the
        account's first factor when the write lands (the store checks it again)."""
        return bool(SECOND_FACTOR_METHODS & set(self.amr))


def require_factor_proof(credential: Credential, change: FactorChange) -> None:
    """Adding or removing a second factor of an account that has one needs a session that
    proved one (its amr): else whoever knows the password alone could add a passkey or an
    authenticator app of their own, and walk past the factor the user set up. 401
    insufficient_user_authentication: a step-up with the code or a passkey gives one."""
    if change.proves_a_factor:
        return
    if credential.totp is not None or credential.passkeys > 0:
        raise factor_proof_needed(change)


def factor_proof_needed(change: FactorChange) -> InsufficientUserAuthentication:
    return InsufficientUserAuthentication(
        change.max_age,
        "Changing the account's second factors needs a sign-in with one of them: "
        "POST /auth/reauth with the code, or with a passkey.",
    )


def account_event(
    user_id: str,
    event_type: AccountEventType,
    now: Millis,
    remaining_recovery_codes: int | None = None,
    passkey_id: str | None = None,
    client: ClientInfo | None = None,
) -> AccountEvent:
    return AccountEvent(
        str(uuid.uuid4()),
        user_id,
        event_type,
        now,
        remaining_recovery_codes,
        passkey_id=passkey_id,
        ip=client.ip if client else "",
        user_agent=client.user_agent[:512] if client else "",
    )
