"""Sign-in by an e-mailed code (EMAIL_SIGN_IN=on). Starting answers a login_id whether or
not the address is an account's, at the same cost (the start records the login and asks
the mailer, which finds the account and mails a code only to a verified address). A
code is six digits, good for EMAIL_CODE_TTL_SECONDS and five wrong tries; wrong codes
count in the account's second-factor window, not in the password scopes. The session it
buys is written with the login spent: of concurrent sign-ins with one code, one lands.
An account with a second factor still proves it: the code buys an mfa_token."""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from session_service.domain.email.addresses import (
    address_digest,
    codes_match,
    is_code,
    is_token,
    mailbox_of,
    normalize_address,
    token_digest,
)
from session_service.domain.email.mail import MailRequest
from session_service.domain.email.policy import EmailPolicy, MailThrottle
from session_service.domain.email.records import MAX_CODE_TRIES, EmailLogin, EmailStore
from session_service.domain.errors import InvalidGrant, MfaRequired, Unavailable
from session_service.domain.flows.password_flows import Accounts
from session_service.domain.models import ClientInfo, Credential
from session_service.domain.ports import SecretSpend, SessionStore, StaleWrite
from session_service.domain.sessions.lifecycle import SessionService
from session_service.domain.sessions.session_records import IssuedTokens, StartRequest
from session_service.domain.throttling.proof_throttling import ProofThrottle

if TYPE_CHECKING:
    from session_service.domain.factors.totp import SecondFactors

SIGN_IN_PURPOSE = "sign_in_code"
EMAIL_AMR = ("email",)
WRONG_CODE = "The code is incorrect or has expired; ask for a new one."


class EmailSignIn:
    def __init__(
        self,
        store: SessionStore,
        email_store: EmailStore,
        policy: EmailPolicy,
        mail_throttle: MailThrottle,
        sessions: SessionService,
        second_factors: Callable[[], SecondFactors],
        proofs: ProofThrottle,
        code_key: Callable[[], bytes],
        accounts: Accounts,
    ) -> None:
        self._accounts = accounts
        self._store = store
        self._email_store = email_store
        self._policy = policy
        self._mail_throttle = mail_throttle
        self._sessions = sessions
        self._second_factors = second_factors
        self._proofs = proofs
        self._code_key = code_key

    def start(self, raw_address: object, ip: str) -> str:
        """The login_id the code will go with (202 always)."""
        self._policy.require_sign_in()
        address = normalize_address(raw_address)
        login_id = secrets.token_urlsafe(32)
        now = self._sessions.now()
        login = EmailLogin(
            digest=token_digest(login_id),
            address=address,
            created_at=now,
            expires_at=now + self._policy.code_ttl_seconds * 1000,
        )
        mail = MailRequest(
            str(uuid.uuid4()), "sign_in_code", now, address=address, login_digest=login.digest
        )
        # Beyond the mailing limits: the same answer, nothing recorded or sent.
        self._mail_throttle.record(
            address, ip, lambda: self._email_store.start_email_login(login, mail)
        )
        return login_id

    def complete(
        self, login_id: object, code: object, client: ClientInfo, replaces: str | None = None
    ) -> IssuedTokens:
        """A session for the code (or an mfa_token, for an account with a second factor).
        A login started for an unknown address is tried, counted and throttled exactly as
        a known one (its code is none anyone has): the answers tell nobody which
        addresses have accounts."""
        self._policy.require_sign_in()
        if not isinstance(login_id, str) or not is_token(login_id):
            raise InvalidGrant(WRONG_CODE)
        if not isinstance(code, str) or not is_code(code):
            raise InvalidGrant(WRONG_CODE)
        login = self._email_store.find_email_login(token_digest(login_id))
        if (
            login is None
            or login.tries >= MAX_CODE_TRIES
            or self._sessions.now() >= login.expires_at
        ):
            raise InvalidGrant(WRONG_CODE)
        # (read for an unknown address too, by a key no account has: the same calls)
        credential = self._store.find_credential(login.username_key or "~none")
        mailbox = address_digest(mailbox_of(login.address))
        reservation = self._proofs.reserve_email_code(mailbox, client.ip)

        def attempt() -> IssuedTokens:
            return self._prove_and_start(login, credential, code, client)

        issued = self._proofs.judge_email_code(reservation, attempt)
        if credential is None:  # (never: a session was started for it)
            raise InvalidGrant(WRONG_CODE)
        # As a login: a device token, and a browser's previous session replaced.
        return self._accounts.signed_in(issued, credential, replaces, None)

    def _prove_and_start(
        self, login: EmailLogin, credential: Credential | None, code: str, client: ClientInfo
    ) -> IssuedTokens:
        # The try is counted before the code is judged: of a burst of guesses on one
        # login, no more than MAX_CODE_TRIES are judged.
        try:
            attempt = self._email_store.count_code_try(login)
        except StaleWrite:
            raise InvalidGrant(WRONG_CODE) from None
        try:
            return self._judge(login, credential, code, client)
        except Unavailable:
            # AWS failed before the try was judged: it counts no more (best effort).
            with contextlib.suppress(Unavailable):
                self._email_store.give_back_code_try(login, attempt)
            raise

    def _judge(
        self, login: EmailLogin, credential: Credential | None, code: str, client: ClientInfo
    ) -> IssuedTokens:
        expected = login.code_digest or ""
        if not expected or not codes_match(
            expected, self._code_key(), SIGN_IN_PURPOSE, login.digest, code
        ):
            raise InvalidGrant(WRONG_CODE)
        if credential is None or credential.user_id != login.user_id or credential.disabled:
            raise InvalidGrant(WRONG_CODE)
        if credential.has_second_factor:
            # The challenge first: a code is never spent without the mfa_token it buys
            # (AWS failing between the two leaves a challenge no one was given, unusable).
            token = self._second_factors().open_challenge(credential, None, EMAIL_AMR)
            try:
                self._email_store.spend_email_login(login)
            except StaleWrite:
                raise InvalidGrant(WRONG_CODE) from None
            raise MfaRequired(token, credential.factors)
        start = StartRequest(
            credential.user_id,
            client,
            credential=credential,
            amr=EMAIL_AMR,
            spends=SecretSpend(login_digest=login.digest, code_digest=expected),
        )
        return self._sessions.start(start)
