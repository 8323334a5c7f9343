"""The mailer's side: a recorded request becomes one message (the account found, the code
or token drawn, its digest stored, then sent), and an event of ours becomes a security
notice to the user's verified address. Nothing is sent to an address no account has
verified (a verification code goes to the address being verified). A request the mailer
cannot serve (no such account, no verified address, a disabled account, a request
replaced meanwhile) sends nothing, silently: the requester was answered long ago."""

from __future__ import annotations

import dataclasses
import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from session_service.domain.accounts.account_changes import account_event
from session_service.domain.activity.activity_log import user_agent_label
from session_service.domain.email.addresses import code_digest, new_code, new_token, token_digest
from session_service.domain.email.mail import MailRequest, MailSender, MailTemplate, OutgoingMail
from session_service.domain.email.records import AddressOwner, EmailStore, ResetToken
from session_service.domain.models import Credential, Millis, UserProfile, parse_rfc3339
from session_service.domain.ports import SessionStore, StaleWrite
from session_service.observability import logger

# Our events that mean a notice, and the template each gets.
NOTICES: dict[str, MailTemplate] = {
    "PasswordChanged": "password_changed",
    "NewDeviceSignIn": "new_device",
    "MfaEnabled": "factor_added",
    "PasskeyAdded": "factor_added",
    "MfaDisabled": "factor_removed",
    "PasskeyRemoved": "factor_removed",
    "FactorsReset": "factors_reset",
}
_FACTOR_NAMES = {
    "MfaEnabled": "an authenticator app (TOTP)",
    "MfaDisabled": "an authenticator app (TOTP)",
    "PasskeyAdded": "a passkey",
    "PasskeyRemoved": "a passkey",
}


@dataclass(frozen=True, slots=True)
class MailerPolicy:
    reset_ttl_seconds: int
    code_ttl_seconds: int
    # Where links point (EMAIL_LINK_URL, or the hosted page); the secret goes after '#'.
    link_url: str


class MailDispatch:
    def __init__(
        self,
        store: SessionStore,
        email_store: EmailStore,
        sender: MailSender,
        policy: MailerPolicy,
        code_key: Callable[[], bytes],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._email_store = email_store
        self._sender = sender
        self._policy = policy
        self._code_key = code_key
        self._clock = clock

    def _now(self) -> Millis:
        return int(self._clock() * 1000)

    def dispatch(self, request: MailRequest) -> None:
        if request.purpose == "verify_email":
            self._verification(request)
        elif request.purpose == "password_reset":
            self._reset_link(request)
        elif request.purpose == "email_changed":
            self._address_changed(request)
        else:
            self._sign_in_code(request)

    def _address_changed(self, request: MailRequest) -> None:
        """The previous address is told that the account's address changed (and to
        where): a thief who moved it cannot do so unseen."""
        profile = self._store.find_profile(request.user_id)
        if profile is None or not request.address:
            return
        self._send(
            request,
            request.address,
            "email_changed",
            username=profile.username,
            at=readable(request.requested_at),
            new_address=profile.email or "another address",
        )

    def _verification(self, request: MailRequest) -> None:
        pending = self._email_store.find_pending(request.user_id)
        profile = self._store.find_profile(request.user_id)
        if pending is None or pending.request_id != request.request_id or profile is None:
            logger.info("verification not sent: the request was replaced or the user is gone")
            return
        code = new_code()
        digest = code_digest(self._code_key(), "verify_email", request.request_id, code)
        expires_at = self._now() + self._policy.code_ttl_seconds * 1000
        if not self._email_store.set_verification_code(pending, digest, expires_at):
            logger.info("verification not sent: the request was replaced meanwhile")
            return
        minutes = str(self._policy.code_ttl_seconds // 60)
        # (no username: the address is nobody's yet, so nothing the requester chose)
        self._send(request, pending.address, "verify_email", code=code, minutes=minutes)

    def _reset_link(self, request: MailRequest) -> None:
        found = self._account(request)
        if found is None:
            return
        credential, profile, address = found
        if (profile.password_changed_at or 0) > request.requested_at:
            logger.info("reset link not sent: the password changed after it was asked for")
            return
        token = new_token()
        now = self._now()
        reset = ResetToken(
            digest=token_digest(token),
            user_id=credential.user_id,
            username_key=credential.username_key,
            password_version=credential.password_version,
            expires_at=now + self._policy.reset_ttl_seconds * 1000,
        )
        # Named by the request: a retry writes the same record, and publishes nothing twice.
        event = dataclasses.replace(
            account_event(credential.user_id, "PasswordResetRequested", now),
            record_id=f"reset.{request.request_id}",
        )
        try:
            self._email_store.issue_reset(reset, credential, event)
        except StaleWrite:
            logger.info("reset link not sent: the password changed meanwhile")
            return
        link = f"{self._policy.link_url}#token={token}"
        minutes = str(self._policy.reset_ttl_seconds // 60)
        self._send(
            request,
            address,
            "password_reset",
            link=link,
            username=profile.username,
            minutes=minutes,
        )

    def _sign_in_code(self, request: MailRequest) -> None:
        found = self._account(request)
        login = self._email_store.find_email_login(request.login_digest)
        if found is None or login is None or self._now() >= login.expires_at:
            return
        credential, _, address = found
        code = new_code()
        digest = code_digest(self._code_key(), "sign_in_code", login.digest, code)
        owner = AddressOwner(address, credential.user_id, credential.username_key)
        if not self._email_store.set_login_code(login, owner, digest):
            return
        minutes = str(self._policy.code_ttl_seconds // 60)
        self._send(request, address, "sign_in_code", code=code, minutes=minutes)

    def _account(self, request: MailRequest) -> tuple[Credential, UserProfile, str] | None:
        """The account a request names (by username or by verified address), if it has a
        verified address and is not disabled; what it was asked by is not logged."""
        key = request.username_key
        if request.address:
            owner = self._email_store.find_owner(request.address)
            key = owner.username_key if owner else ""
        credential = self._store.find_credential(key) if key else None
        profile = self._store.find_profile(credential.user_id) if credential else None
        if credential is None or profile is None or not profile.email or credential.disabled:
            logger.info("nothing sent: no account with a verified address was asked for")
            return None
        return credential, profile, profile.email

    def _send(self, request: MailRequest, to: str, template: MailTemplate, **values: str) -> None:
        self._sender.send(OutgoingMail(request.request_id, to, template, values))

    # -- notices --------------------------------------------------------------------------

    def notice(self, detail_type: str, detail: Mapping[str, Any], mail_id: str) -> None:
        """A security notice for one of our events (`mail_id`: the event's id)."""
        template = NOTICES.get(detail_type)
        user_id = detail.get("user_id")
        if template is None or not isinstance(user_id, str) or not user_id:
            logger.info("no notice for this event", detail_type=detail_type)
            return
        profile = self._store.find_profile(user_id)
        if profile is None or not profile.email:
            return
        if detail_type == "PasswordChanged" and detail.get("reason") == "reset":
            template = "password_reset_done"
        values = {"username": profile.username, "at": _when(detail, self._now())}
        if template == "new_device":
            # A browser and platform label: the header is whatever the client wrote; an
            # address only if it is one (whoever may publish on the bus writes the detail).
            values |= {
                "device": user_agent_label(str(detail.get("user_agent") or "")),
                "ip": _address(detail.get("ip")),
            }
        if template in ("factor_added", "factor_removed"):
            values["factor"] = _FACTOR_NAMES.get(detail_type, "a second factor")
        self._sender.send(OutgoingMail(mail_id, profile.email, template, values))


def _when(detail: Mapping[str, Any], now: Millis) -> str:
    """The event's own time (its `*_at` field, if it is one), else now, written out for
    a reader ("2026-11-29 00:30 UTC")."""
    for name, value in detail.items():
        if name.endswith("_at") and isinstance(value, str):
            try:
                return readable(parse_rfc3339(value))
            except ValueError:
                break
    return readable(now)


def readable(millis: Millis) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _address(value: object) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return "an unknown address"
