"""The second step of a login: the mfa_token a right password got, with a TOTP code, a
recovery code or a passkey's assertion (contract v3). The proof holds places in the
login's scopes, the account's second-factor scopes and the mfa_token's three tries
(proof_throttling); the session it buys is written with the token, the code's step, the
recovery code or the passkey's ceremony spent, so of concurrent requests at most one
gets in."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from session_service.domain.concurrency import Pending
from session_service.domain.errors import InvalidGrant, InvalidRequest, RateLimited
from session_service.domain.factors.passkeys import (
    NOT_VERIFIED,
    Passkeys,
    PresentedPasskey,
    SignCountRegressed,
)
from session_service.domain.flows.password_flows import Accounts
from session_service.domain.models import ClientInfo, Credential, UserSessions
from session_service.domain.ports import MfaChallenge, SecondFactorUse, SessionStore
from session_service.domain.sessions.lifecycle import SessionService
from session_service.domain.sessions.session_records import IssuedTokens, StartRequest
from session_service.domain.throttling.login_throttle import throttled_name
from session_service.domain.throttling.proof_throttling import TOKEN_SPENT, ProofKind, ProofThrottle

if TYPE_CHECKING:
    # pyotp loads with the first code, not with this module.
    from session_service.domain.factors.totp import SecondFactors


@dataclasses.dataclass(frozen=True, slots=True)
class SecondStepRequest:
    """The mfa_token and a code, or a passkey's ceremony and assertion."""

    mfa_token: str
    client: ClientInfo
    code: str | None = None
    ceremony_id: str | None = None
    credential: dict[str, Any] | None = None
    # The session a browser's new login replaces (its previous refresh cookie).
    replaces: str | None = None
    # The hosted page's: as LoginRequest.central
    central: bool = False


class SecondStep:
    def __init__(
        self,
        accounts: Accounts,
        second_factors: SecondFactors,
        proofs: ProofThrottle,
        store: SessionStore,
        sessions: SessionService,
        passkeys: Callable[[], Passkeys],
    ) -> None:
        self._accounts = accounts
        self._second_factors = second_factors
        self._proofs = proofs
        self._store = store
        self._sessions = sessions
        self._passkeys = passkeys

    def complete(self, request: SecondStepRequest) -> IssuedTokens:
        """The mfa_token's challenge; then its account's credential with the address's
        place; the other places with the user's sessions; the session's transaction with
        the places given back."""
        challenge = self._second_factors.find_challenge(request.mfa_token)
        client = request.client
        loaded: Pending[UserSessions | None] | None = None
        try:
            with self._proofs.opening(client.ip, challenge.username_key) as opening:
                credential, kind, presented = self._proof_of(request, challenge)
                name = throttled_name(challenge.username_key, credential)
                try:
                    reservation, loaded = self._proofs.reserve_second_step(
                        challenge,
                        credential,
                        kind,
                        opening,
                        read=lambda: self._store.load_user(credential.user_id),
                    )
                except RateLimited as refused:
                    self._accounts.record_refusal(credential, client, refused, name)
                    raise

            def prove() -> tuple[tuple[str, ...], SecondFactorUse]:
                return self._prove(request, challenge, credential, presented)

            def start(proof: tuple[tuple[str, ...], SecondFactorUse]) -> IssuedTokens:
                amr, use = proof
                start = StartRequest(
                    credential.user_id,
                    request.client,
                    credential=credential,
                    amr=amr,
                    second_factor=dataclasses.replace(use, challenge_digest=challenge.digest),
                    central=request.central,
                    provider=challenge.provider,
                    loaded=loaded,
                )
                return self._accounts.renewal.start_or_renew(start, request.replaces)

            try:
                issued = self._proofs.judge_factor_then(
                    reservation, credential, client, prove, start
                )
            except SignCountRegressed:
                raise  # (recorded already, with its reason)
            except InvalidGrant:
                self._accounts.record_attempt(credential, client, throttled=False, name=name)
                raise
        finally:
            if loaded is not None:
                loaded.settle()
        return self._accounts.signed_in(issued, credential, request.replaces, challenge.device_id)

    def _proof_of(
        self, request: SecondStepRequest, challenge: MfaChallenge
    ) -> tuple[Credential, ProofKind, PresentedPasskey | None]:
        """The challenge's account, still as it was, and what the request proves it with."""
        credential = self._store.find_credential(challenge.username_key)
        if (
            credential is None
            or credential.user_id != challenge.user_id
            or credential.password_version != challenge.password_version
            or not credential.has_second_factor
            or credential.disabled
        ):
            raise InvalidGrant(TOKEN_SPENT)
        if request.code is not None:
            if credential.totp is None:
                raise InvalidRequest("The account has no TOTP: sign in with a passkey.")
            return credential, self._second_factors.kind_of(request.code), None
        if credential.passkeys == 0:
            raise InvalidRequest("The account has no passkey: send a code.")
        presented = self._passkeys().presented(request.ceremony_id or "", request.credential or {})
        return credential, "passkey", presented

    def _prove(
        self,
        request: SecondStepRequest,
        challenge: MfaChallenge,
        credential: Credential,
        presented: PresentedPasskey | None,
    ) -> tuple[tuple[str, ...], SecondFactorUse]:
        if presented is None:
            proven = self._second_factors.prove(credential, request.code, self._sessions.now())
            return (*challenge.first_amr, "otp"), proven.use
        if presented.passkey is None or presented.passkey.user_id != credential.user_id:
            raise InvalidGrant(NOT_VERIFIED)
        proof = self._passkeys().prove(presented, request.credential or {}, request.client)
        return challenge.first_amr + proof.amr, proof.use
