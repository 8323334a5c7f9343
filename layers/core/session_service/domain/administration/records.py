"""What an administrator's actions write (the admin API's, domain/administration): the
records of a change and the store they go to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from session_service.domain.models import AccountEvent, Credential, EndedSessions


@dataclass(frozen=True, slots=True)
class AccountStatusChange:
    """An administrator disabling or enabling an account: the profile (which the
    authorizer reads) and the credential (which login reads) change together, with the
    sessions a disable ends and the record the event comes from."""

    credential: Credential
    disabled: bool
    # The profile's version as read: a login racing this reads again and sees the change.
    expected_version: int
    event: AccountEvent
    ended: EndedSessions | None = None


@dataclass(frozen=True, slots=True)
class FactorsResetChange:
    """An administrator removing every second factor of a user who lost them: TOTP, its
    recovery codes and the passkeys read (their count must still be what was read), with
    every session ended and the record the FactorsReset event comes from."""

    credential: Credential
    passkey_ids: tuple[str, ...]
    expected_version: int
    event: AccountEvent
    ended: EndedSessions | None = None


class AdministrationStore(Protocol):
    """What an administrator's actions write."""

    def set_disabled(self, change: AccountStatusChange) -> None: ...

    def reset_factors(self, change: FactorsResetChange) -> None:
        """StaleWrite when a factor or a session changed meanwhile (read again)."""
        ...

    def lift_login_lock(self, credential: Credential) -> None: ...
