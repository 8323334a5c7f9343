"""Passkeys: registering one (options, then the verified attestation), listing and
removing them, and proving one in a sign-in (options, then the verified assertion). What
a proof spends, its ceremony and the sign count, is written with the session it buys;
signing in with the proof is passkey_sign_in."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from session_service.domain.accounts.account_changes import (
    FactorChange,
    account_event,
    factor_proof_needed,
    require_factor_proof,
)
from session_service.domain.accounts.usernames import username_key
from session_service.domain.errors import (
    Conflict,
    InvalidGrant,
    InvalidRequest,
    NotFound,
    Unavailable,
)
from session_service.domain.factors.webauthn_ceremonies import (
    CEREMONY_SECONDS,
    PasskeyRejected,
    WebAuthn,
    passkey_id_of,
    presented,
    sign_count_regressed,
)
from session_service.domain.models import (
    ClientInfo,
    Credential,
    Millis,
    Passkey,
    b64url,
    is_issued_id,
    rfc3339,
)
from session_service.domain.ports import (
    AlreadyExists,
    PasskeyAddition,
    PasskeyCountRefused,
    PasskeyStore,
    PasskeyUse,
    RegistrationCeremony,
    SecondFactorUse,
    SessionStore,
    SignInCeremony,
    StaleWrite,
    WriteConflict,
)
from session_service.observability import logger

# Passkeys a user may hold: the options list them all (excluded or allowed credentials).
MAX_PASSKEYS = 20
MAX_CEREMONY_ID_LENGTH = 128
WRITE_ATTEMPTS = 4
NOT_VERIFIED = "The passkey could not be verified."
LAST_FACTOR = "MFA_POLICY=required: the last second factor cannot be removed."
# The user of an unknown username's ceremony: no user id is this (ids are UUIDs).
NO_USER = "-"


class SignCountRegressed(InvalidGrant):
    """A refused assertion already recorded, with its reason, as the user's activity."""


@dataclass(frozen=True, slots=True)
class PasskeyProof:
    """A verified assertion: how it signs the user in (amr), and what it spends."""

    passkey: Passkey
    amr: tuple[str, ...]
    use: SecondFactorUse


@dataclass(frozen=True, slots=True)
class PresentedPasskey:
    """A sign-in's ceremony and the passkey its assertion names (None: no such passkey,
    or not of the user the ceremony was asked for)."""

    ceremony: SignInCeremony
    passkey: Passkey | None


class Passkeys:
    def __init__(
        self,
        store: SessionStore,
        passkey_store: PasskeyStore,
        web: WebAuthn,
        decoy_key: Callable[[], bytes],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sleep = sleep
        self._decoy_key = decoy_key
        self._accounts = store
        self._store = passkey_store
        self._web = web
        self._clock = clock

    def _now(self) -> Millis:
        return int(self._clock() * 1000)

    # -- registration ---------------------------------------------------------------------

    def registration_options(self, change: FactorChange) -> dict[str, Any]:
        """Creation options for the user, their passkeys excluded; the challenge waits
        CEREMONY_SECONDS for its attestation (asking again replaces it). An account with
        a second factor adds one only from a session that proved one."""
        user_id = change.user_id
        credential = self._owned_credential(user_id, change.username)
        require_factor_proof(credential, change)
        if credential.passkeys >= MAX_PASSKEYS:
            raise Conflict(f"A user may hold {MAX_PASSKEYS} passkeys; remove one first.")
        existing = self._store.passkeys(user_id)
        challenge = secrets.token_bytes(32)
        expires_at = self._now() + CEREMONY_SECONDS * 1000
        self._store.put_registration(RegistrationCeremony(user_id, challenge, expires_at))
        return self._web.creation_options(user_id, change.username, challenge, existing)

    def register(
        self, change: FactorChange, credential: dict[str, Any], name: str | None
    ) -> Passkey:
        """Verify the attestation against the user's pending challenge and store the
        passkey, spending the challenge in the same write (of two posts, one lands). Options
        asked while the account had no factor are not used by a session without one once
        the account has one (TOTP or a passkey added meanwhile)."""
        user_id, username = change.user_id, change.username
        require_factor_proof(self._owned_credential(user_id, username), change)
        ceremony = self._store.find_registration(user_id)
        now = self._now()
        if ceremony is None or now >= ceremony.expires_at:
            raise Conflict(
                "No passkey registration is pending; ask for options with "
                "POST /auth/passkeys/registration/options."
            )
        try:
            verified = self._web.verify_registration(credential, ceremony.challenge)
        except PasskeyRejected as rejected:
            logger.info("passkey registration refused", reason=str(rejected))
            raise InvalidRequest("The passkey's registration could not be verified.") from None
        passkey_id = passkey_id_of(verified.credential_id)
        passkey = Passkey(
            user_id=user_id,
            username_key=username_key(username),
            passkey_id=passkey_id,
            credential_id=verified.credential_id,
            public_key=verified.public_key,
            sign_count=verified.sign_count,
            transports=verified.transports,
            name=name or f"Passkey of {rfc3339(now, 'seconds')[:10]}",
            created_at=now,
            synced=verified.synced,
        )
        event = account_event(user_id, "PasskeyAdded", now, passkey_id=passkey_id)
        try:
            first = not change.proves_a_factor
            addition = PasskeyAddition(passkey, ceremony.challenge, event, MAX_PASSKEYS, first)
            self._write(lambda: self._store.add_passkey(addition))
        except AlreadyExists:
            raise Conflict("This passkey is registered already.") from None
        except PasskeyCountRefused:
            if first:  # (a factor was added meanwhile: this session proved none)
                raise factor_proof_needed(change) from None
            raise Conflict(f"A user may hold {MAX_PASSKEYS} passkeys; remove one first.") from None
        except StaleWrite:
            raise Conflict(
                "The registration was used or replaced meanwhile; ask for options again."
            ) from None
        return passkey

    def list(self, user_id: str) -> list[Passkey]:
        return sorted(self._store.passkeys(user_id), key=lambda p: (p.created_at, p.passkey_id))

    def rename(self, user_id: str, passkey_id: str, name: str) -> Passkey:
        passkey = self._find(user_id, passkey_id)
        try:
            self._store.rename_passkey(passkey, name)
        except StaleWrite:
            raise NotFound("No such passkey.") from None
        return replace(passkey, name=name)

    def _find(self, user_id: str, passkey_id: str) -> Passkey:
        # (a passkey id is a 43-character digest: anything longer names none)
        passkey = self._store.find_passkey(user_id, passkey_id) if len(passkey_id) < 64 else None
        if passkey is None:
            raise NotFound("No such passkey.")
        return passkey

    def remove(self, change: FactorChange, passkey_id: str, keep_a_factor: bool) -> None:
        """Remove one of the user's passkeys, from a session that proved a second factor.
        With MFA_POLICY=required (`keep_a_factor`) the last second factor stays: a
        passkey, or TOTP (which that policy never lets go)."""
        passkey = self._find(change.user_id, passkey_id)
        credential = self._owned_credential(change.user_id, change.username)
        require_factor_proof(credential, change)
        keep = 1 if keep_a_factor and credential.totp is None else 0
        now = self._now()
        event = account_event(change.user_id, "PasskeyRemoved", now, passkey_id=passkey_id)
        try:
            self._write(lambda: self._store.remove_passkey(passkey, event, keep))
        except PasskeyCountRefused:
            raise Conflict(LAST_FACTOR) from None
        except StaleWrite:
            raise NotFound("No such passkey.") from None

    def _write(self, write: Callable[[], None]) -> None:
        """A write of the user's passkeys, whose transaction DynamoDB cancels when another
        is in flight on one of its items (TransactionConflict): tried again a moment later,
        then 503."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                write()
            except WriteConflict:
                self._sleep(0.01 * (attempt + 1))
            else:
                return
        raise Unavailable(retry_after=1)

    def _owned_credential(self, user_id: str, username: str) -> Credential:
        credential = self._accounts.find_credential(username_key(username))
        if credential is None or credential.user_id != user_id:
            raise InvalidGrant("The account no longer exists.")
        return credential

    # -- sign-in --------------------------------------------------------------------------

    def sign_in_options(self, username: str | None) -> tuple[str, dict[str, Any]]:
        """A ceremony_id and request options. With a username, its passkeys are allowed
        (an unknown username and one without passkeys look alike: one made-up passkey
        each, the same every time); without, any discoverable passkey of this relying
        party may answer."""
        user_id: str | None = None
        allowed: list[Passkey] = []
        if username is not None:
            credential = self._accounts.find_credential(username_key(username))
            # An unknown username's ceremony names no user: no assertion can complete it.
            # Its passkeys are looked for all the same, under that name, so that the
            # answer costs what a known user's does (its timing tells nothing).
            user_id = credential.user_id if credential else NO_USER
            allowed = self._store.passkeys(user_id) or [self._decoy(username)]
        ceremony_id = secrets.token_urlsafe(32)
        challenge = secrets.token_bytes(32)
        expires_at = self._now() + CEREMONY_SECONDS * 1000
        ceremony = SignInCeremony(_digest(ceremony_id), challenge, expires_at, user_id)
        self._store.put_sign_in(ceremony)
        return ceremony_id, self._web.request_options(challenge, allowed)

    def _decoy(self, username: str) -> Passkey:
        """WebAuthn §14.6.2: a username without passkeys, known or not, is answered with a
        credential that looks real and stays the same (keyed, so it cannot be computed),
        so that the options do not tell which usernames exist. (A user with passkeys has
        theirs listed, which may look different: that such a user exists, they tell.)"""
        # A key of its own, derived: a made-up id is never a MAC of anything else.
        key = hmac.new(self._decoy_key(), b"passkey-decoy", hashlib.sha256).digest()
        made_up = hmac.new(key, username_key(username).encode(), hashlib.sha256).digest()
        return Passkey(
            user_id=NO_USER,
            username_key="",
            passkey_id="",
            credential_id=made_up,
            public_key=b"",
            sign_count=0,
            transports=("internal", "hybrid"),
            name="",
            created_at=0,
        )

    def presented(self, ceremony_id: str, credential: dict[str, Any]) -> PresentedPasskey:
        """The live ceremony (else InvalidGrant) and the passkey the assertion names."""
        ceremony = None
        if ceremony_id and len(ceremony_id) <= MAX_CEREMONY_ID_LENGTH:
            ceremony = self._store.find_sign_in(_digest(ceremony_id))
        if ceremony is None or self._now() >= ceremony.expires_at:
            raise InvalidGrant("The ceremony_id is invalid or has expired.")
        try:
            named = presented(credential)
        except PasskeyRejected:
            # An id or user handle no passkey can have: an unknown passkey (it counts).
            return PresentedPasskey(ceremony, None)
        user_id = ceremony.user_id or named.user_handle
        if named.user_handle and ceremony.user_id and named.user_handle != ceremony.user_id:
            user_id = None
        if not user_id or not is_issued_id(user_id):
            return PresentedPasskey(ceremony, None)
        found = self._store.find_passkey(user_id, passkey_id_of(named.credential_id))
        return PresentedPasskey(ceremony, found)

    def prove(
        self, presented_passkey: PresentedPasskey, credential: dict[str, Any], client: ClientInfo
    ) -> PasskeyProof:
        """Verify the assertion; a sign count that went backwards is refused and recorded
        (activity and the PasskeySignCountRegressed event): a cloned authenticator."""
        passkey, ceremony = presented_passkey.passkey, presented_passkey.ceremony
        if passkey is None:
            raise InvalidGrant(NOT_VERIFIED)
        try:
            verified = self._web.verify_assertion(credential, ceremony.challenge, passkey)
        except PasskeyRejected as rejected:
            logger.info("passkey assertion refused", reason=str(rejected))
            raise InvalidGrant(NOT_VERIFIED) from None
        now = self._now()
        if sign_count_regressed(passkey.sign_count, verified.new_sign_count):
            if self._store.find_sign_in(ceremony.digest) is None:
                # This very assertion landed meanwhile (a request sent twice): not a clone.
                raise InvalidGrant("The passkey sign-in has been used.")
            self._record_regression(passkey, client, now)
            raise SignCountRegressed(NOT_VERIFIED)
        use = PasskeyUse(
            user_id=passkey.user_id,
            passkey_id=passkey.passkey_id,
            ceremony_digest=ceremony.digest,
            seen_sign_count=passkey.sign_count,
            new_sign_count=verified.new_sign_count,
            used_at=now,
        )
        method = "swk" if verified.synced else "hwk"
        return PasskeyProof(passkey, (method, "user"), SecondFactorUse(passkey=use))

    def _record_regression(self, passkey: Passkey, client: ClientInfo, now: Millis) -> None:
        logger.warning("passkey sign count went backwards", passkey_id=passkey.passkey_id)
        event = account_event(
            passkey.user_id,
            "PasskeySignCountRegressed",
            now,
            passkey_id=passkey.passkey_id,
            client=client,
        )
        try:
            self._store.record_account_event(event)
        except Unavailable:
            logger.warning("a refused passkey sign-in could not be recorded")


def _digest(ceremony_id: str) -> str:
    # 256 random bits: a plain hash is as good as a keyed one here.
    return b64url(hashlib.sha256(ceremony_id.encode()).digest())
