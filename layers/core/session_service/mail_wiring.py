"""Builds the e-mail capability from the settings (as wiring.py builds the rest): the
flows the API serves, and the mailer's dispatch. Once per container, on first use."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from session_service import wiring
from session_service.adapters.store import dynamo_store
from session_service.config import get_settings
from session_service.domain.keys.keyring import KeyRingError

if TYPE_CHECKING:
    from session_service.adapters.email_store import DynamoEmailStore
    from session_service.domain.email.dispatch import MailDispatch
    from session_service.domain.email.policy import EmailPolicy, MailThrottle
    from session_service.domain.flows.email_flows import EmailFlows
    from session_service.domain.keys.keyring import SecretFetcher

# The secret of the e-mailed codes' key (EmailCodeKeySecret): the API function's and the
# mailer's only. Not the second-factor key, which seals the TOTP secrets.
CODE_KEY_SECRET_VARIABLE = "EMAIL_CODE_KEY_SECRET_ID"


def code_key() -> bytes:
    """The key of the e-mailed codes' digests, derived (HKDF-SHA256) from the e-mail code
    key secret: read at most once per SIGNING_KEY_CACHE_SECONDS, derived once per value."""
    value = _code_key_secret()(False)
    text = value.get("key")
    if not isinstance(text, str) or len(text) < 32:
        raise KeyRingError("the e-mail code key secret holds no key of 32+ characters")
    return _derived_code_key(text)


@functools.cache
def _code_key_secret() -> SecretFetcher:
    from session_service.adapters.secrets import secrets_manager_fetcher  # noqa: PLC0415

    secret_id = os.environ.get(CODE_KEY_SECRET_VARIABLE, "")
    if not secret_id:
        raise KeyRingError(f"{CODE_KEY_SECRET_VARIABLE} names no secret (is e-mail on?)")
    return secrets_manager_fetcher(
        secret_id, get_settings().signing_key_cache_seconds, what="the e-mail code key secret"
    )


@functools.cache
def _derived_code_key(secret_text: str) -> bytes:
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: PLC0415

    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"email-code-digest")
    return hkdf.derive(secret_text.encode())


@functools.cache
def email_store() -> DynamoEmailStore:
    from session_service.adapters.email_store import dynamo_email_store  # noqa: PLC0415

    return dynamo_email_store(get_settings().table_name)


@functools.cache
def email_policy() -> EmailPolicy:
    from session_service.domain.email.policy import EmailPolicy  # noqa: PLC0415

    email = get_settings().email
    return EmailPolicy(
        enabled=email.enabled,
        sign_in=email.sign_in,
        reset_ttl_seconds=email.password_reset_ttl_seconds,
        code_ttl_seconds=email.code_ttl_seconds,
        per_address=email.per_address,
        per_ip=email.per_ip,
    )


@functools.cache
def mail_throttle() -> MailThrottle:
    from session_service.domain.email.policy import MailThrottle  # noqa: PLC0415

    return MailThrottle(wiring.login_throttle(), email_policy())


@functools.cache
def email_flows() -> EmailFlows:
    from session_service.domain.email.verified_addresses import VerifiedAddresses  # noqa: PLC0415
    from session_service.domain.flows.email_flows import EmailFlows  # noqa: PLC0415
    from session_service.domain.flows.email_sign_in import EmailSignIn  # noqa: PLC0415
    from session_service.domain.flows.recovery import PasswordRecovery  # noqa: PLC0415

    store = dynamo_store(get_settings().table_name)
    sessions = wiring.session_service()
    return EmailFlows(
        addresses=VerifiedAddresses(
            email_store(), store, email_policy(), mail_throttle(), code_key
        ),
        recovery=PasswordRecovery(
            store,
            email_store(),
            email_policy(),
            mail_throttle(),
            sessions,
            hash_password=wiring.passwords().hash,
            second_factors=wiring.second_factors,
            passkeys=wiring.passkeys,
            proofs=wiring.proof_throttle(),
            accounts=wiring.accounts(),
        ),
        sign_in=EmailSignIn(
            store,
            email_store(),
            email_policy(),
            mail_throttle(),
            sessions,
            second_factors=wiring.second_factors,
            proofs=wiring.proof_throttle(),
            code_key=code_key,
            accounts=wiring.accounts(),
        ),
    )


def link_url() -> str:
    """EMAIL_LINK_URL, or the service's hosted page."""
    settings = get_settings()
    return settings.email.link_url or f"{wiring.token_issuer().rstrip('/')}/signin"


@functools.cache
def mail_dispatch() -> MailDispatch:
    from session_service.adapters.ses_mail import ses_mail_sender  # noqa: PLC0415
    from session_service.domain.email.dispatch import MailDispatch, MailerPolicy  # noqa: PLC0415

    settings = get_settings()
    return MailDispatch(
        store=dynamo_store(settings.table_name),
        email_store=email_store(),
        sender=ses_mail_sender(settings),
        policy=MailerPolicy(
            reset_ttl_seconds=settings.email.password_reset_ttl_seconds,
            code_ttl_seconds=settings.email.code_ttl_seconds,
            link_url=link_url(),
        ),
        code_key=code_key,
    )
