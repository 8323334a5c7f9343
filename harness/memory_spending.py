"""What a session's start spends in memory, with the DynamoDB store's conditions
(adapters/store.py, store_writes.py, passkey_items.py, email_items.py): the credential it
relies on (a new password replaces it; a reset must find its token still named), a second
factor's proof (the mfa_token, a TOTP step, a recovery code, a passkey's ceremony) and an
e-mailed secret (a sign-in code's login, a reset token). The in-memory store's part;
every check comes before any change, as DynamoDB applies a transaction whole."""

from __future__ import annotations

import dataclasses
import threading

from session_service.domain.email.records import MAX_CODE_TRIES, EmailLogin, ResetToken
from session_service.domain.federation.flow_records import Handoff
from session_service.domain.models import (
    SECOND_FACTOR_METHODS,
    AccountEvent,
    Credential,
    Millis,
    Passkey,
    UserProfile,
)
from session_service.domain.ports import (
    CredentialChanged,
    MfaChallenge,
    NewSession,
    PasskeyUse,
    SecondFactorSpent,
    SecondFactorUse,
    SecretSpend,
    SignInCeremony,
)


def start_items(start: NewSession) -> int:
    """The items of the transaction DynamoDB is sent for this start (store.py)."""
    items = 2 + len(start.pruned) + (start.credential is not None)
    if start.ended is not None:
        items += len(start.ended.session_ids) + 1
    proof = start.second_factor
    if proof is not None:
        items += proof.challenge_digest is not None
        items += proof.event is not None
        items += 2 if proof.passkey is not None else 0
    spends = start.spends
    if spends is not None:
        items += spends.login_digest is not None and spends.code_digest is not None
        items += spends.reset_digest is not None
        items += spends.handoff_digest is not None
    return items


def holds_code(current: str | None, expected: str | None) -> bool:
    """DynamoDB's `code_digest = :code` (with `:code` the expected digest, or "")."""
    return current is not None and current == (expected or "")


class InMemorySpending:
    _lock: threading.Lock
    credentials: dict[str, Credential]
    profiles: dict[str, UserProfile]
    challenges: dict[str, MfaChallenge]
    account_events: list[AccountEvent]
    passkeys: dict[tuple[str, str], Passkey]
    sign_ins: dict[str, SignInCeremony]
    email_logins: dict[str, EmailLogin]
    resets: dict[str, ResetToken]
    federation_handoffs: dict[str, Handoff]

    def _checked_credential(self, start: NewSession) -> Credential:
        """The credential as stored, if the start's condition on it holds."""
        assert start.credential is not None
        proof = start.second_factor
        refused = CredentialChanged if proof is None else SecondFactorSpent
        stored = self.credentials.get(start.credential.username_key)
        if stored is None or stored.password_version != start.credential.password_version:
            raise refused()
        password_alone = not SECOND_FACTOR_METHODS & set(start.session.amr)
        if proof is None and password_alone and stored.has_second_factor:
            raise CredentialChanged()  # a password alone no longer suffices
        # (the credential's own condition: a reset spends the token it still names)
        reset = start.spends.reset_digest if start.spends is not None else None
        changing = start.new_password_hash is not None
        if changing and reset is not None and stored.reset_digest != reset:
            raise refused()
        return stored

    def _check_secret(self, spends: SecretSpend | None) -> None:
        """An e-mailed code's login still holds that code, with tries left; a federated
        sign-in's handoff is still there."""
        if spends is not None and spends.handoff_digest is not None:
            if spends.handoff_digest not in self.federation_handoffs:
                raise SecondFactorSpent()
            return
        if spends is None or spends.login_digest is None or spends.code_digest is None:
            return
        login = self.email_logins.get(spends.login_digest)
        if (
            login is None
            or not holds_code(login.code_digest, spends.code_digest)
            or login.tries > MAX_CODE_TRIES
        ):
            raise SecondFactorSpent()

    def _changed_credential(self, stored: Credential, start: NewSession) -> Credential:
        """The credential after the start: what its proof spends, and the new password
        (which voids every reset token sent before it)."""
        if start.second_factor is not None:
            session = start.session
            stored = self._spend(stored, start.second_factor, session.user_id, session.created_at)
        if start.new_password_hash is None:
            return stored
        return dataclasses.replace(
            stored,
            password_hash=start.new_password_hash,
            password_version=stored.password_version + 1,
            reset_digest=None,
        )

    def _spend_secret(self, spends: SecretSpend | None) -> None:
        if spends is None:
            return
        if spends.login_digest is not None and spends.code_digest is not None:
            del self.email_logins[spends.login_digest]
        if spends.reset_digest is not None:
            self.resets.pop(spends.reset_digest, None)
        if spends.handoff_digest is not None:
            del self.federation_handoffs[spends.handoff_digest]

    def _spend(
        self, stored: Credential, proof: SecondFactorUse, user_id: str, now: Millis
    ) -> Credential:
        """What a second factor spends, or SecondFactorSpent (the store's conditions)."""
        if proof.challenge_digest is not None:
            challenge = self.challenges.get(proof.challenge_digest)
            if challenge is None or challenge.expires_at <= now or challenge.user_id != user_id:
                raise SecondFactorSpent()
        if proof.passkey is not None:
            self._spend_passkey(proof.passkey)
            if proof.challenge_digest is not None:
                del self.challenges[proof.challenge_digest]
            return stored
        factor = stored.totp
        if factor is None:
            raise SecondFactorSpent()
        if proof.totp_step is not None:
            if factor.last_step >= proof.totp_step:
                raise SecondFactorSpent()
            factor = dataclasses.replace(factor, last_step=proof.totp_step)
        if proof.recovery_digest is not None:
            if proof.recovery_digest not in factor.recovery_codes:
                raise SecondFactorSpent()
            factor = dataclasses.replace(
                factor, recovery_codes=factor.recovery_codes - {proof.recovery_digest}
            )
            if proof.event is not None:
                self.account_events.append(proof.event)
        if proof.challenge_digest is not None:
            del self.challenges[proof.challenge_digest]
        return dataclasses.replace(stored, totp=factor)

    def _spend_passkey(self, use: PasskeyUse) -> None:
        ceremony = self.sign_ins.get(use.ceremony_digest)
        passkey = self.passkeys.get((use.user_id, use.passkey_id))
        if (
            ceremony is None
            or ceremony.expires_at <= use.used_at
            or passkey is None
            or passkey.sign_count != use.seen_sign_count
        ):
            raise SecondFactorSpent()
        del self.sign_ins[use.ceremony_digest]
        self.passkeys[(use.user_id, use.passkey_id)] = dataclasses.replace(
            passkey, sign_count=use.new_sign_count, last_used_at=use.used_at
        )
