"""Account recovery: "forgot password" asks for a reset link, the link's token sets a new
password. Asking costs the same whether or not the account exists (the request only
records what to send; the mailer finds the account, draws the token and mails it to a
verified address). A reset never walks past a second factor: an account with TOTP or a
passkey proves it too, and a wrong proof counts in the account's second-factor window and
leaves the link good. The reset ends every session (reason password_reset) in the
transaction that sets the password and spends the token: of concurrent resets with one
link, one lands."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from session_service.domain.accounts.usernames import check_password, username_key
from session_service.domain.email.addresses import is_token, normalize_address, token_digest
from session_service.domain.email.mail import MailRequest
from session_service.domain.email.policy import EmailPolicy, MailThrottle
from session_service.domain.email.records import EmailStore
from session_service.domain.errors import InvalidGrant, InvalidRequest, SecondFactorNeeded
from session_service.domain.flows.password_flows import Accounts
from session_service.domain.models import ClientInfo, Credential
from session_service.domain.ports import SecondFactorUse, SecretSpend, SessionStore
from session_service.domain.sessions.lifecycle import SessionService
from session_service.domain.sessions.session_records import IssuedTokens, StartRequest
from session_service.domain.throttling.proof_throttling import ProofKind, ProofThrottle

if TYPE_CHECKING:
    from session_service.domain.factors.passkeys import Passkeys
    from session_service.domain.factors.totp import SecondFactors

INVALID_LINK = "The reset link is invalid or has expired; ask for a new one."
# How a reset proves the user: possession of the mailbox (RFC 8176 has no better word).
EMAIL_AMR = ("email",)


@dataclasses.dataclass(frozen=True, slots=True)
class ResetRequest:
    reset_token: str
    new_password: str
    client: ClientInfo
    code: str | None = None
    ceremony_id: str | None = None
    credential: dict[str, Any] | None = None
    # The session a browser's reset replaces (its previous refresh cookie).
    replaces: str | None = None


class PasswordRecovery:
    def __init__(
        self,
        store: SessionStore,
        email_store: EmailStore,
        policy: EmailPolicy,
        mail_throttle: MailThrottle,
        sessions: SessionService,
        hash_password: Callable[[str], str],
        second_factors: Callable[[], SecondFactors],
        passkeys: Callable[[], Passkeys],
        proofs: ProofThrottle,
        accounts: Accounts,
    ) -> None:
        self._accounts = accounts
        self._store = store
        self._email_store = email_store
        self._policy = policy
        self._mail_throttle = mail_throttle
        self._sessions = sessions
        self._hash_password = hash_password
        self._second_factors = second_factors
        self._passkeys = passkeys
        self._proofs = proofs

    def forgot(self, username: object, email: object, ip: str) -> None:
        """Ask for a reset link by username or address (202 always). Beyond the mailing
        limits nothing is recorded, and the answer is the same."""
        self._policy.require_enabled()
        if (username is None) == (email is None):
            raise InvalidRequest('Send "username" or "email", one of them.')
        now = self._sessions.now()
        mail = MailRequest(str(uuid.uuid4()), "password_reset", now)
        if email is not None:
            address = normalize_address(email)
            mail, recipient = dataclasses.replace(mail, address=address), address
        else:
            if not isinstance(username, str) or not 1 <= len(username) <= 128:
                raise InvalidRequest("username must be a string of 1 to 128 characters.")
            key = username_key(username)
            mail, recipient = dataclasses.replace(mail, username_key=key), f"user:{key}"
        self._mail_throttle.record(recipient, ip, lambda: self._email_store.request_mail(mail))

    def reset(self, request: ResetRequest) -> IssuedTokens:
        self._policy.require_enabled()
        check_password(request.new_password, "new_password")
        if not isinstance(request.reset_token, str) or not is_token(request.reset_token):
            raise InvalidGrant(INVALID_LINK)
        digest = token_digest(request.reset_token)
        token = self._email_store.find_reset(digest)
        if token is None or self._sessions.now() >= token.expires_at:
            raise InvalidGrant(INVALID_LINK)
        credential = self._store.find_credential(token.username_key)
        if (
            credential is None
            or credential.user_id != token.user_id
            or credential.password_version != token.password_version
            or credential.reset_digest != digest
            or credential.disabled
        ):
            raise InvalidGrant(INVALID_LINK)
        if not credential.has_second_factor:
            new_hash = self._hash_password(request.new_password)
            issued = self._start(request, credential, new_hash, digest, EMAIL_AMR, None)
            return self._signed_in(issued, credential, request)
        kind = self._proof_kind(request, credential)
        # A proof of the second factor, held like one after a password: in the login
        # scopes (the username's and the address's) and the account's own.
        reservation = self._proofs.reserve_reset_factor(credential, request.client.ip, kind)

        def attempt() -> IssuedTokens:
            amr, use = self._prove(request, credential, kind)
            # argon2 only once the factor is proved: a link alone buys no hashing.
            new_hash = self._hash_password(request.new_password)
            return self._start(request, credential, new_hash, digest, amr, use)

        issued = self._proofs.judge_factor(reservation, credential, request.client, attempt)
        return self._signed_in(issued, credential, request)

    def _signed_in(
        self, issued: IssuedTokens, credential: Credential, request: ResetRequest
    ) -> IssuedTokens:
        # As a login: a device token, and a browser's previous session replaced.
        changed = dataclasses.replace(credential, password_version=credential.password_version + 1)
        return self._accounts.signed_in(issued, changed, request.replaces, None)

    def _proof_kind(self, request: ResetRequest, credential: Credential) -> ProofKind:
        if request.code is not None and credential.totp is not None:
            return self._second_factors().kind_of(request.code)
        if request.ceremony_id is not None and credential.passkeys > 0:
            return "passkey"
        raise SecondFactorNeeded(credential.factors)

    def _prove(
        self, request: ResetRequest, credential: Credential, kind: ProofKind
    ) -> tuple[tuple[str, ...], SecondFactorUse]:
        if kind != "passkey":
            proven = self._second_factors().prove(credential, request.code, self._sessions.now())
            return (*EMAIL_AMR, "otp"), proven.use
        passkeys = self._passkeys()
        presented = passkeys.presented(request.ceremony_id or "", request.credential or {})
        if presented.passkey is None or presented.passkey.user_id != credential.user_id:
            raise InvalidGrant("The passkey could not be verified.")
        proof = passkeys.prove(presented, request.credential or {}, request.client)
        return EMAIL_AMR + proof.amr, proof.use

    def _start(
        self,
        request: ResetRequest,
        credential: Credential,
        new_hash: str,
        digest: str,
        amr: tuple[str, ...],
        use: SecondFactorUse | None,
    ) -> IssuedTokens:
        start = StartRequest(
            credential.user_id,
            request.client,
            credential=credential,
            new_password_hash=new_hash,
            amr=amr,
            second_factor=use,
            spends=SecretSpend(reset_digest=digest),
            reason="password_reset",
        )
        return self._sessions.start(start)
