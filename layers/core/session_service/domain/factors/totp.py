"""The second factor: TOTP enrollment (a pending secret, confirmed by a code, with ten
recovery codes), turning it off, and checking a code offered as proof (a TOTP code of
a step not used yet, or an unused recovery code), which the caller spends in the same
write as what it buys."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from session_service.domain.accounts.account_changes import (
    FactorChange,
    account_event,
    require_factor_proof,
)
from session_service.domain.accounts.usernames import username_key
from session_service.domain.errors import (
    Conflict,
    InvalidGrant,
    InvalidRequest,
    Unavailable,
)
from session_service.domain.factors.one_time_codes import (
    SecondFactorKeys,
    SecretBox,
    TotpSetup,
    is_totp_code,
    matching_step,
    new_recovery_codes,
    new_totp,
    normalise_recovery_code,
    recovery_code_digest,
)
from session_service.domain.models import (
    PASSWORD_AMR,
    Credential,
    Millis,
    PendingTotp,
    TotpFactor,
    b64url,
)
from session_service.domain.ports import (
    MfaChallenge,
    SecondFactorStore,
    SecondFactorUse,
    SessionStore,
    StoreError,
    TotpEnrollment,
    WriteConflict,
)
from session_service.domain.throttling.proof_throttling import ProofKind

# How long an enrollment may wait for its confirming code.
PENDING_TOTP_SECONDS = 600
# How long a login may wait for its second factor (the contract's at most 300 s).
MFA_TOKEN_SECONDS = 300
MAX_CODE_LENGTH = 48
MAX_MFA_TOKEN_LENGTH = 128


@dataclass(frozen=True, slots=True)
class ProvenFactor:
    """A code that checked out, and what spending it writes."""

    use: SecondFactorUse
    recovery_code: bool


class SecondFactors:
    def __init__(
        self,
        store: SessionStore,
        factor_store: SecondFactorStore,
        keys: Callable[[], SecondFactorKeys],
        issuer: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._factors = factor_store
        self._keys = keys
        self._box = SecretBox(keys)
        self._issuer = issuer
        self._clock = clock

    def _now(self) -> Millis:
        return int(self._clock() * 1000)

    def _credential(self, user_id: str, username_key: str) -> Credential:
        credential = self._store.find_credential(username_key)
        if credential is None or credential.user_id != user_id:
            raise InvalidGrant("The account no longer exists.")
        return credential

    # -- enrollment -----------------------------------------------------------------------

    def begin_totp(self, change: FactorChange) -> TotpSetup:
        """A fresh secret for the user's authenticator app, pending until confirmed. An
        account with a passkey adds TOTP only from a session that proved a factor."""
        user_id = change.user_id
        credential = self._credential(user_id, username_key(change.username))
        if credential.totp is not None:
            raise Conflict("TOTP is already on; turn it off before enrolling again.")
        require_factor_proof(credential, change)
        setup = new_totp(credential.username, self._issuer)
        pending = PendingTotp(
            sealed_secret=self._box.seal(setup.secret, user_id),
            expires_at=self._now() + PENDING_TOTP_SECONDS * 1000,
        )
        try:
            self._factors.begin_totp(credential, pending)
        except WriteConflict:
            raise Unavailable(retry_after=1) from None
        except StoreError:
            raise Conflict("The account changed meanwhile; enroll again.") from None
        return setup

    def confirm_totp(self, change: FactorChange, session_id: str, code: str) -> list[str]:
        """Turn TOTP on with a code of the pending secret; answer the recovery codes, the
        only time they are shown. The confirming code's step is spent like any other. An
        enrollment begun while the account had no factor is not finished by a session
        without one once the account has one (a passkey added meanwhile)."""
        user_id = change.user_id
        credential = self._credential(user_id, username_key(change.username))
        if credential.totp is not None:
            raise Conflict("TOTP is already on.")
        require_factor_proof(credential, change)
        pending = credential.pending_totp
        now = self._now()
        if pending is None or now >= pending.expires_at:
            raise Conflict("No TOTP enrollment is pending; start one with POST /auth/mfa/totp.")
        step = matching_step(self._box.open(pending.sealed_secret, user_id), code, now / 1000)
        if step is None:
            raise InvalidGrant("The code is incorrect.")
        codes = new_recovery_codes()
        keys = self._keys()
        factor = TotpFactor(
            sealed_secret=pending.sealed_secret,
            last_step=step,
            enabled_at=now,
            recovery_codes=frozenset(
                recovery_code_digest(keys, str(normalise_recovery_code(c))) for c in codes
            ),
        )
        try:
            event = account_event(user_id, "MfaEnabled", now)
            enrollment = TotpEnrollment(
                credential, session_id, factor, event, first_factor=not change.proves_a_factor
            )
            self._factors.enable_totp(enrollment)
        except WriteConflict:
            raise Unavailable(retry_after=1) from None
        except StoreError:
            raise Conflict("The enrollment changed meanwhile; enroll again.") from None
        return codes

    def disable_totp(self, change: FactorChange) -> None:
        """Turn TOTP off, from a session that proved a second factor (a session from
        before TOTP was turned on, or a password-only one, may not)."""
        user_id = change.user_id
        credential = self._credential(user_id, username_key(change.username))
        if credential.totp is None:
            raise Conflict("TOTP is not on.")
        require_factor_proof(credential, change)
        try:
            event = account_event(user_id, "MfaDisabled", self._now())
            self._factors.disable_totp(credential, event)
        except WriteConflict:
            raise Unavailable(retry_after=1) from None
        except StoreError:
            raise Conflict("The account changed meanwhile; try again.") from None

    # -- the login's challenge --------------------------------------------------------------

    def open_challenge(
        self,
        credential: Credential,
        device_id: str | None,
        first_amr: tuple[str, ...] = PASSWORD_AMR,
        provider: str | None = None,
    ) -> str:
        """The mfa_token of a login whose password was right: 256 random bits, stored
        only as a digest, single use, valid for MFA_TOKEN_SECONDS."""
        token = secrets.token_urlsafe(32)
        now = self._now()
        self._factors.put_challenge(
            MfaChallenge(
                digest=_token_digest(token),
                user_id=credential.user_id,
                username_key=credential.username_key,
                password_version=credential.password_version,
                device_id=device_id,
                created_at=now,
                expires_at=now + MFA_TOKEN_SECONDS * 1000,
                first_amr=first_amr,
                provider=provider,
            )
        )
        return token

    def find_challenge(self, mfa_token: str) -> MfaChallenge:
        if not mfa_token or len(mfa_token) > MAX_MFA_TOKEN_LENGTH:
            raise InvalidGrant("The mfa_token is invalid or has expired.")
        challenge = self._factors.find_challenge(_token_digest(mfa_token))
        if challenge is None or self._now() >= challenge.expires_at:
            raise InvalidGrant("The mfa_token is invalid or has expired.")
        return challenge

    # -- proof ----------------------------------------------------------------------------

    @staticmethod
    def kind_of(code: str) -> ProofKind:
        """A TOTP code (six digits) or anything else, proved as a recovery code."""
        return "totp" if is_totp_code(code) else "recovery_code"

    def prove(self, credential: Credential, code: str | None, now: Millis) -> ProvenFactor:
        """Check a code against the user's factor: a TOTP code of a step after the last one
        used, or an unused recovery code. Raises InvalidGrant for anything else."""
        factor = credential.totp
        if factor is None:
            raise InvalidRequest("The account has no second factor.")
        if not code or len(code) > MAX_CODE_LENGTH:
            raise InvalidGrant("A code from the authenticator app or a recovery code is needed.")
        if is_totp_code(code):
            secret = self._box.open(factor.sealed_secret, credential.user_id)
            step = matching_step(secret, code, now / 1000)
            if step is None or step <= factor.last_step:
                raise InvalidGrant("The code is incorrect or has been used.")
            return ProvenFactor(SecondFactorUse(totp_step=step), recovery_code=False)
        normalised = normalise_recovery_code(code)
        digest = recovery_code_digest(self._keys(), normalised) if normalised else None
        if digest is None or digest not in factor.recovery_codes:
            raise InvalidGrant("The code is incorrect or has been used.")
        event = account_event(
            credential.user_id,
            "RecoveryCodeUsed",
            now,
            remaining_recovery_codes=len(factor.recovery_codes) - 1,
        )
        return ProvenFactor(
            SecondFactorUse(recovery_digest=digest, event=event), recovery_code=True
        )


def _token_digest(token: str) -> str:
    # The token has 256 random bits: a plain hash is as good as a keyed one here.
    return b64url(hashlib.sha256(token.encode()).digest())
