"""Step-up (RFC 9470): a signed-in user proving a credential again for their session,
with the password (and a code when the account has TOTP) or with one of their passkeys.

A step-up counts in the username's scopes like a login, its ceiling across all
addresses included (no session is a known device for it: a stolen session must not be a
password oracle), and in a scope of its session, counted over the session's life: the
wrong proof that reaches STEP_UP_FAILURES_PER_SESSION ends the session (reauth_failed).
A code counts in the account's second-factor scopes as well (proof_throttling)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from session_service.domain.accounts.usernames import check_password, username_key
from session_service.domain.concurrency import Pending
from session_service.domain.errors import InvalidGrant, InvalidRequest
from session_service.domain.factors.passkeys import (
    NOT_VERIFIED,
    PasskeyProof,
    Passkeys,
    PresentedPasskey,
)
from session_service.domain.models import (
    PASSWORD_AMR,
    PASSWORD_AND_OTP_AMR,
    ClientInfo,
    Credential,
    Reservation,
    Session,
    UserProfile,
)
from session_service.domain.ports import SecondFactorUse, SessionStore
from session_service.domain.sessions.lifecycle import SessionService
from session_service.domain.sessions.renewal import SessionRenewal
from session_service.domain.sessions.session_records import IssuedTokens, ReauthRequest
from session_service.domain.sessions.tokens import RefreshTokens
from session_service.domain.throttling.login_throttle import Opening, throttled_name
from session_service.domain.throttling.proof_throttling import ProofThrottle

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
        self._renewal = SessionRenewal(store, sessions, refresh_tokens)
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
        with self._proofs.opening(call.client.ip, username_key(call.username)) as opening:
            credential = self._credential(call.user_id, call.username)
            if credential.totp is not None and not call.code:
                raise InvalidRequest("code is required: the account has TOTP on.")
            reservation, looked_up = self._reserve(call, credential, opening)
        try:
            return self._password_step_up(call, credential, reservation, looked_up)
        finally:
            if looked_up is not None:
                looked_up.settle()

    def _password_step_up(
        self,
        call: ReauthCall,
        credential: Credential,
        reservation: Reservation,
        looked_up: Lookup | None,
    ) -> IssuedTokens:

        def prove() -> SecondFactorUse | None:
            if not self._passwords.verify(credential.password_hash, call.password):
                raise InvalidGrant("The password is incorrect.")
            if credential.totp is None or call.code is None:
                return None
            code = call.code
            factor = self._proofs.reserve_factor(credential, self._second_factors.kind_of(code))

            def prove_code() -> SecondFactorUse:
                return self._second_factors.prove(credential, code, self._sessions.now()).use

            return self._proofs.judge_factor(factor, credential, call.client, prove_code)

        def then(use: SecondFactorUse | None) -> IssuedTokens:
            amr = PASSWORD_AMR if use is None else PASSWORD_AND_OTP_AMR
            request = ReauthRequest(credential, call.session_id, amr, use, looked_up=looked_up)
            return self._reauthenticate(request)

        return self._proofs.judge_from_session(
            reservation, call.user_id, call.session_id, prove, then
        )

    def with_passkey(self, call: PasskeyReauthCall) -> IssuedTokens:
        """One of the caller's own passkeys: the same session, a fresh auth_time, amr of
        the passkey; a passkey used lifts the TOTP lock."""
        passkeys = self._passkeys()
        named = passkeys.presented(call.ceremony_id, call.credential)
        with self._proofs.opening(call.client.ip, username_key(call.username)) as opening:
            credential = self._credential(call.user_id, call.username)
            reservation, looked_up = self._reserve(call, credential, opening)
        try:
            return self._passkey_step_up(call, named, credential, reservation, looked_up)
        finally:
            if looked_up is not None:
                looked_up.settle()

    def _passkey_step_up(
        self,
        call: PasskeyReauthCall,
        named: PresentedPasskey,
        credential: Credential,
        reservation: Reservation,
        looked_up: Lookup | None,
    ) -> IssuedTokens:
        passkeys = self._passkeys()

        def prove() -> PasskeyProof:
            if named.passkey is None or named.passkey.user_id != call.user_id:
                raise InvalidGrant(NOT_VERIFIED)
            return passkeys.prove(named, call.credential, call.client)

        def then(proof: PasskeyProof) -> IssuedTokens:
            request = ReauthRequest(
                credential, call.session_id, proof.amr, proof.use, looked_up=looked_up
            )
            return self._proofs.alongside(
                lambda: self._proofs.passkey_used(credential),
                lambda: self._reauthenticate(request),
            )

        return self._proofs.judge_from_session(
            reservation, call.user_id, call.session_id, prove, then
        )

    def _reauthenticate(self, request: ReauthRequest) -> IssuedTokens:
        return self._renewal.reauthenticate(request)

    def _credential(self, user_id: str, username: str) -> Credential:
        credential = self._store.find_credential(username_key(username))
        if credential is None or credential.user_id != user_id:
            raise InvalidGrant("The account no longer exists.")
        return credential

    def _reserve(
        self, call: ReauthCall | PasskeyReauthCall, credential: Credential, opening: Opening
    ) -> tuple[Reservation, Lookup | None]:
        """The step-up's places, with the session and profile it renews read alongside."""
        name = throttled_name(credential.username_key, credential)
        user_id, session_id = call.user_id, call.session_id
        return self._proofs.reserve_from_session(
            session_id,
            name,
            opening,
            known_device=False,
            read=lambda: self._store.authorization_lookup(user_id, session_id),
        )


Lookup = Pending[tuple[Session | None, UserProfile | None]]
