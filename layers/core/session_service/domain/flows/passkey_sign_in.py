"""Signing in with a passkey: the assertion holds a place in the login throttle like a
password (a failed one is a judged failure), and the session it buys is written with its
ceremony spent and its sign count moved on, so that of concurrent uses of one ceremony at
most one gets in. (Stepping up with one is step_up; one after a password, second_step.)"""

from __future__ import annotations

import dataclasses
from typing import Any

from session_service.domain.concurrency import Pending
from session_service.domain.errors import InvalidGrant, RateLimited
from session_service.domain.factors.passkeys import (
    NOT_VERIFIED,
    PasskeyProof,
    Passkeys,
    PresentedPasskey,
    SignCountRegressed,
)
from session_service.domain.flows.password_flows import Accounts, decoy_user_id
from session_service.domain.models import ClientInfo, Credential, UserSessions
from session_service.domain.ports import SessionStore
from session_service.domain.sessions.devices import DeviceTokens
from session_service.domain.sessions.lifecycle import SessionService
from session_service.domain.sessions.session_records import IssuedTokens, StartRequest
from session_service.domain.throttling.login_throttle import LoginThrottle, throttled_name
from session_service.domain.throttling.proof_throttling import ProofThrottle

# The throttle's name for assertions of no known passkey: no username can be this ('#' is
# not a username character), so they are counted per address and together.
UNKNOWN_PASSKEY = "#passkey"


@dataclasses.dataclass(frozen=True, slots=True)
class PasskeyLoginRequest:
    ceremony_id: str
    credential: dict[str, Any]
    client: ClientInfo
    device_token: str | None = None
    replaces: str | None = None
    # The hosted page's: as LoginRequest.central
    central: bool = False


class PasskeySignIn:
    def __init__(
        self,
        accounts: Accounts,
        passkeys: Passkeys,
        store: SessionStore,
        sessions: SessionService,
        throttle: LoginThrottle,
        devices: DeviceTokens,
        proofs: ProofThrottle,
    ) -> None:
        self._proofs = proofs
        self._accounts = accounts
        self._passkeys = passkeys
        self._store = store
        self._sessions = sessions
        self._throttle = throttle
        self._devices = devices

    def login(self, request: PasskeyLoginRequest) -> IssuedTokens:
        """The token response, amr ["hwk", "user"] (["swk", "user"] for a synced passkey):
        a passkey is a second factor in itself, for MFA_POLICY=required and step-up."""
        named = self._passkeys.presented(request.ceremony_id, request.credential)
        owner_key = named.passkey.username_key if named.passkey else UNKNOWN_PASSKEY
        loaded: Pending[UserSessions | None] | None = None
        try:
            with self._throttle.opening(request.client.ip, owner_key) as opening:
                credential = self._owner(named)
                device = self._devices.recognise(request.device_token, credential)
                name = throttled_name(credential.username_key, credential) if credential else None
                owner = credential.user_id if credential else decoy_user_id(request.ceremony_id)
                try:
                    reservation, loaded = opening.reserve_with(
                        lambda: self._store.load_user(owner),
                        name or UNKNOWN_PASSKEY,
                        known_device=device is not None,
                    )
                except RateLimited as refused:
                    self._accounts.record_refusal(
                        credential, request.client, refused, name or UNKNOWN_PASSKEY
                    )
                    raise

            def prove() -> PasskeyProof:
                # A disabled account answers like an unknown passkey (and counts like one).
                if credential is None or credential.disabled:
                    raise InvalidGrant(NOT_VERIFIED)
                return self._passkeys.prove(named, request.credential, request.client)

            def start(proof: PasskeyProof) -> IssuedTokens:
                assert credential is not None  # (proven)
                owner = credential
                start = StartRequest(
                    owner.user_id,
                    request.client,
                    credential=owner,
                    amr=proof.amr,
                    second_factor=proof.use,
                    central=request.central,
                    loaded=loaded,
                )
                # A passkey used lifts the TOTP lock of a run of wrong codes.
                return self._throttle.parallel.alongside(
                    lambda: self._proofs.passkey_used(owner),
                    lambda: self._accounts.renewal.start_or_renew(start, request.replaces),
                )

            try:
                issued = self._throttle.judge_then(reservation, prove, start)
            except SignCountRegressed:
                raise  # (recorded already, with its reason)
            except InvalidGrant:
                self._accounts.record_attempt(
                    credential, request.client, throttled=False, name=name or UNKNOWN_PASSKEY
                )
                raise
        finally:
            if loaded is not None:
                loaded.settle()
        assert credential is not None  # (prove refused every other case)
        device_id = device.device_id if device else None
        return self._accounts.signed_in(issued, credential, request.replaces, device_id)

    def _owner(self, named: PresentedPasskey) -> Credential | None:
        """The credential of the passkey's owner (its username, throttle and status)."""
        if named.passkey is None:
            return None
        credential = self._store.find_credential(named.passkey.username_key)
        if credential is None or credential.user_id != named.passkey.user_id:
            return None
        return credential
