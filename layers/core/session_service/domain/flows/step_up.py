"""Step-up (RFC 9470): a signed-in user proving a credential again for their session,
with the password (and a code when the account has TOTP) or with one of their passkeys.

A step-up counts in the username's scopes like a login, its ceiling across all
addresses included (no session is a known device for it: a stolen session must not be a
password oracle), and in a scope of its session, counted over the session's life: the
wrong proof that reaches STEP_UP_FAILURES_PER_SESSION ends the session (reauth_failed).
A code counts in the account's second-factor scopes as well (proof_throttling)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from session_service.domain.accounts.usernames import check_password, username_key
from session_service.domain.errors import InvalidGrant, InvalidRequest, InvalidToken, Unavailable
from session_service.domain.factors.passkeys import NOT_VERIFIED, Passkeys
from session_service.domain.models import (
    PASSWORD_AMR,
    PASSWORD_AND_OTP_AMR,
    ClientInfo,
    Credential,
    Reservation,
    StepUpProof,
)
from session_service.domain.ports import (
    CredentialChanged,
    Reauthentication,
    SecondFactorSpent,
    SessionStore,
    StaleWrite,
)
from session_service.domain.sessions.lifecycle import (
    CREDENTIALS_CHANGED,
    MAX_GRACE_SIBLINGS,
    SessionService,
)
from session_service.domain.sessions.session_records import IssuedTokens, ReauthRequest
from session_service.domain.sessions.tokens import RefreshTokens
from session_service.domain.throttling.login_throttle import throttled_name
from session_service.domain.throttling.proof_throttling import ProofThrottle

# Step-ups a session keeps (the newest): an older one's tokens fall back to its start.
MAX_STEP_UPS = 4

if TYPE_CHECKING:
    # argon2 and pyotp load with what the composition root builds, not with this module.
    from session_service.domain.accounts.passwords import Passwords
    from session_service.domain.factors.totp import SecondFactors


@dataclasses.dataclass(frozen=True, slots=True)
class ReauthCall:
    """A signed-in user proving the password (and a code) again for their session."""

    user_id: str
    username: str
    session_id: str
    password: str
    code: str | None
    client: ClientInfo


@dataclasses.dataclass(frozen=True, slots=True)
class PasskeyReauthCall:
    """A signed-in user proving one of their passkeys for their session."""

    user_id: str
    username: str
    session_id: str
    ceremony_id: str
    credential: dict[str, Any]
    client: ClientInfo


class StepUp:
    def __init__(
        self,
        store: SessionStore,
        sessions: SessionService,
        passwords: Passwords,
        proofs: ProofThrottle,
        second_factors: SecondFactors,
        passkeys: Callable[[], Passkeys],
        refresh_tokens: RefreshTokens,
    ) -> None:
        self._refresh_tokens = refresh_tokens
        self._store = store
        self._sessions = sessions
        self._passwords = passwords
        self._proofs = proofs
        self._second_factors = second_factors
        self._passkeys = passkeys

    def with_password(self, call: ReauthCall) -> IssuedTokens:
        """The password, and a code when the account has TOTP on (the code holds places in
        the account's second-factor scopes once the password was right)."""
        check_password(call.password)
        credential = self._credential(call.user_id, call.username)
        if credential.totp is not None and not call.code:
            raise InvalidRequest("code is required: the account has TOTP on.")
        reservation = self._reserve(call.session_id, credential, call.client)

        def attempt() -> IssuedTokens:
            if not self._passwords.verify(credential.password_hash, call.password):
                raise InvalidGrant("The password is incorrect.")
            if credential.totp is None or call.code is None:
                return self._reauthenticate(
                    ReauthRequest(credential, call.session_id, PASSWORD_AMR)
                )
            code = call.code
            factor = self._proofs.reserve_factor(credential, self._second_factors.kind_of(code))

            def prove() -> IssuedTokens:
                proven = self._second_factors.prove(credential, code, self._sessions.now())
                request = ReauthRequest(
                    credential, call.session_id, PASSWORD_AND_OTP_AMR, proven.use
                )
                return self._reauthenticate(request)

            return self._proofs.judge_factor(factor, credential, call.client, prove)

        return self._proofs.judge_from_session(reservation, call.user_id, call.session_id, attempt)

    def with_passkey(self, call: PasskeyReauthCall) -> IssuedTokens:
        """One of the caller's own passkeys: the same session, a fresh auth_time, amr of
        the passkey; a passkey used lifts the TOTP lock."""
        passkeys = self._passkeys()
        named = passkeys.presented(call.ceremony_id, call.credential)
        credential = self._credential(call.user_id, call.username)
        reservation = self._reserve(call.session_id, credential, call.client)

        def attempt() -> IssuedTokens:
            if named.passkey is None or named.passkey.user_id != call.user_id:
                raise InvalidGrant(NOT_VERIFIED)
            proof = passkeys.prove(named, call.credential, call.client)
            request = ReauthRequest(credential, call.session_id, proof.amr, proof.use)
            return self._reauthenticate(request)

        issued = self._proofs.judge_from_session(
            reservation, call.user_id, call.session_id, attempt
        )
        self._proofs.passkey_used(credential)
        return issued

    def _reauthenticate(self, request: ReauthRequest) -> IssuedTokens:
        """A fresh auth_time (and amr) for the client that proved it, in a live session:
        a new refresh token joins the session's current ones (another tab's stays good,
        RFC 9470), naming the step-up that only its own tokens carry: a copy of another
        of the session's tokens keeps the sign-in it had."""
        user_id = request.credential.user_id
        for _ in range(2):
            session, profile = self._store.authorization_lookup(user_id, request.session_id)
            now = self._sessions.now()
            not_before = profile.not_before if profile else None
            if session is None or not session.is_live(now, not_before):
                raise InvalidToken("The session has ended.")
            proof = StepUpProof(secrets.token_urlsafe(16), now, request.amr)
            sibling = self._refresh_tokens.issue(
                user_id,
                session.session_id,
                session.generation,
                session.absolute_expires_at,
                proof.proof_id,
            )
            kept = (session.step_ups or ())[-(MAX_STEP_UPS - 1) :]
            change = Reauthentication(
                credential=request.credential,
                session_id=session.session_id,
                new_digest=sibling.digest,
                generation=session.generation,
                now=now,
                step_up=proof,
                replaced_step_ups=session.step_ups is None,
                dropped_step_ups=tuple(s.proof_id for s in session.step_ups or () if s not in kept),
                idle_expires_at=self._sessions.policy.idle_expiry(now),
                absolute_expires_at=session.absolute_expires_at,
                not_before=not_before,
                max_digests=2 * MAX_GRACE_SIBLINGS,
                second_factor=request.second_factor,
            )
            try:
                self._store.reauthenticate(change)
            except CredentialChanged:
                raise InvalidGrant(CREDENTIALS_CHANGED) from None
            except SecondFactorSpent:
                raise InvalidGrant("The code or the passkey sign-in has been used.") from None
            except StaleWrite:
                continue  # refreshed or ended meanwhile: read the session once more
            updated = replace(
                session,
                refresh_digests=session.refresh_digests | {sibling.digest},
                last_used_at=now,
                idle_expires_at=change.idle_expires_at,
                step_ups=(*kept, proof),
            )
            return self._sessions.issue(updated, sibling, now)
        # Refreshed twice meanwhile: contention, not a wrong credential (no throttle place).
        raise Unavailable(retry_after=1)

    def _credential(self, user_id: str, username: str) -> Credential:
        credential = self._store.find_credential(username_key(username))
        if credential is None or credential.user_id != user_id:
            raise InvalidGrant("The account no longer exists.")
        return credential

    def _reserve(self, session_id: str, credential: Credential, client: ClientInfo) -> Reservation:
        name = throttled_name(credential.username_key, credential)
        return self._proofs.reserve_from_session(session_id, name, client.ip, known_device=False)
