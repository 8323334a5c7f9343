"""Builds the domain from the settings: once per container, on first use, lazily, so that
tests can start moto first and the authorizer never imports what it does not use."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from session_service.adapters import kms, ssm
from session_service.adapters import secrets as secret_store
from session_service.adapters.aws import aws_client
from session_service.adapters.dynamo import dynamodb_client, parallel_calls
from session_service.adapters.eventbridge import EventPublisher
from session_service.adapters.secrets import secrets_manager_fetcher
from session_service.adapters.sqs import dead_letter_sender
from session_service.adapters.ssm import parameter_fetcher, read_parameter
from session_service.adapters.store import dynamo_store
from session_service.config import Settings, get_settings
from session_service.domain.keys.key_documents import fetched
from session_service.domain.keys.keyring import (
    KeyRingError,
    KeyRingSource,
    KeySource,
    MacKeys,
    VerificationKeys,
)
from session_service.domain.keys.published_keys import PublishedKeySource
from session_service.domain.sessions.lifecycle import SessionService
from session_service.domain.sessions.session_ending import SessionEnding
from session_service.domain.sessions.session_records import SessionPolicy
from session_service.domain.sessions.tokens import AccessTokens, RefreshTokens

if TYPE_CHECKING:
    from session_service.adapters.activity_store import DynamoActivityStore
    from session_service.adapters.passkey_store import DynamoPasskeyStore
    from session_service.domain.accounts.passwords import Passwords
    from session_service.domain.activity.activity_log import ActivityRecorder
    from session_service.domain.administration.admin_actions import Administration
    from session_service.domain.factors.one_time_codes import SecondFactorKeys
    from session_service.domain.factors.passkeys import Passkeys
    from session_service.domain.factors.totp import SecondFactors
    from session_service.domain.flows.passkey_sign_in import PasskeySignIn
    from session_service.domain.flows.password_flows import Accounts
    from session_service.domain.flows.second_step import SecondStep
    from session_service.domain.flows.step_up import StepUp
    from session_service.domain.throttling.login_throttle import LoginThrottle
    from session_service.domain.throttling.proof_throttling import ProofThrottle


@functools.cache
def key_ring_source() -> KeyRingSource:
    """The private key ring (the functions that sign and MAC; not the authorizer)."""
    settings = get_settings()
    return KeyRingSource(
        secrets_manager_fetcher(settings.signing_key_secret_id, settings.signing_key_cache_seconds)
    )


@functools.cache
def published_key_source() -> PublishedKeySource:
    """The published public keys, as far as the document key signed them (its public part
    read from KMS once per container): all the authorizer verifies with."""
    settings = get_settings()
    fetch = parameter_fetcher(
        settings.verification_keys_parameter,
        settings.signing_key_cache_seconds,
        what="the published verification keys",
        decode=fetched,
    )
    key_id = settings.verification_keys_signing_key
    document_key = functools.cache(lambda: kms.document_key(kms.kms_client(), key_id))
    return PublishedKeySource(fetch, document_key)


@functools.cache
def mac_keys() -> MacKeys:
    return MacKeys(key_ring_source())


@functools.cache
def token_issuer() -> str:
    """The issuer, from the environment or, once per container, from SSM."""
    settings = get_settings()
    if settings.token_issuer:
        return settings.token_issuer
    return read_parameter(str(settings.token_issuer_parameter)).rstrip("/")


@functools.cache
def access_tokens() -> AccessTokens:
    settings = get_settings()
    return AccessTokens(
        keys=key_ring_source(),
        issuer=token_issuer,
        audience=settings.token_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
    )


@functools.cache
def authorizer_sessions() -> SessionService:
    """The sessions as the authorizer sees them: its tokens verified with the published
    keys, as it holds no private key (its role cannot read the key ring)."""
    settings = get_settings()
    verifying = AccessTokens(
        keys=None,
        issuer=token_issuer,
        audience=settings.token_audience,
        ttl_seconds=settings.access_token_ttl_seconds,
        verification_keys=cast(KeySource[VerificationKeys], published_key_source()),
    )
    return SessionService(
        store=dynamo_store(settings.table_name),
        access_tokens=verifying,
        refresh_tokens=RefreshTokens(mac_keys()),  # never used: it issues nothing
        policy=session_policy(settings),
    )


def session_policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy(
        access_token_ttl_seconds=settings.access_token_ttl_seconds,
        idle_timeout_seconds=settings.session_idle_timeout_seconds,
        absolute_timeout_seconds=settings.session_absolute_timeout_seconds,
        max_sessions_per_user=settings.max_sessions_per_user,
        limit_policy=settings.session_limit_policy,
        reuse_grace_seconds=settings.refresh_reuse_grace_seconds,
        max_refreshes=settings.session_max_refreshes,
        bind_to_ip=settings.bind_session_to_ip,
        central_idle_timeout_seconds=settings.sso_session_idle_timeout_seconds,
        central_absolute_timeout_seconds=settings.sso_session_absolute_timeout_seconds,
    )


@functools.cache
def session_service() -> SessionService:
    settings = get_settings()
    return SessionService(
        store=dynamo_store(settings.table_name),
        access_tokens=access_tokens(),
        refresh_tokens=RefreshTokens(mac_keys()),
        policy=session_policy(settings),
    )


@functools.cache
def session_ending() -> SessionEnding:
    return SessionEnding(
        store=dynamo_store(get_settings().table_name),
        sessions=session_service(),
        access_tokens=access_tokens(),
        refresh_tokens=RefreshTokens(mac_keys()),
    )


def secrets_client() -> Any:
    """Secrets Manager, for the key rotation that writes the signing-key ring."""
    return secret_store.secrets_client()


@functools.cache
def event_publisher() -> EventPublisher:
    settings = get_settings()
    return EventPublisher(aws_client("events"), settings.event_bus_name, settings.event_source)


@functools.cache
def dead_letter_queue() -> Callable[[dict[str, Any], str], None]:
    """Parks an event we cannot act on in the consumer's dead-letter queue."""
    return dead_letter_sender(aws_client("sqs"), get_settings().dead_letter_queue_url)


@functools.cache
def _derived_keys(secret_text: str) -> SecondFactorKeys:
    from session_service.domain.factors.one_time_codes import SecondFactorKeys  # noqa: PLC0415

    return SecondFactorKeys.derive(secret_text)


@functools.cache
def second_factors() -> SecondFactors:
    # pyotp is imported here, not at module level: the authorizer never needs it.
    from session_service.adapters.second_factor_store import (  # noqa: PLC0415
        DynamoSecondFactorStore,
    )
    from session_service.domain.factors.totp import SecondFactors  # noqa: PLC0415

    settings = get_settings()
    return SecondFactors(
        store=dynamo_store(settings.table_name),
        factor_store=DynamoSecondFactorStore(dynamodb_client(), settings.table_name),
        keys=second_factor_keys,
        issuer=settings.totp_issuer,
    )


@functools.cache
def _second_factor_secret() -> Callable[[bool], Mapping[str, Any]]:
    settings = get_settings()
    return secrets_manager_fetcher(
        settings.second_factor_key_secret_id,
        settings.signing_key_cache_seconds,
        what="the second-factor key secret",
    )


def second_factor_keys() -> SecondFactorKeys:
    """The keys of the second-factor secret (TOTP sealing, keyed digests of codes)."""
    value = _second_factor_secret()(False)
    if not isinstance(value.get("key"), str) or len(value["key"]) < 32:
        raise KeyRingError("the second-factor key secret holds no key of 32+ characters")
    return _derived_keys(value["key"])


@functools.cache
def login_throttle() -> LoginThrottle:
    from session_service.adapters.throttle_store import DynamoThrottleStore  # noqa: PLC0415
    from session_service.domain.throttling.login_throttle import LoginThrottle, ThrottlePolicy  # noqa: PLC0415

    settings = get_settings()
    policy = ThrottlePolicy(
        failures_per_username_and_ip=settings.login_failures_per_username,
        failures_per_username=settings.login_failures_per_username_all_ips,
        failures_per_ip=settings.login_failures_per_ip,
        window_seconds=settings.login_failure_window_seconds,
        second_factor_failures_per_window=settings.second_factor_failures_per_window,
        second_factor_failures_max=settings.second_factor_failures_max,
        step_up_failures_per_session=settings.step_up_failures_per_session,
        registrations_per_ip=settings.registrations_per_ip,
    )
    throttle_store = DynamoThrottleStore(dynamodb_client(), settings.table_name)
    return LoginThrottle(throttle_store, policy, lambda: int(time.time() * 1000), parallel_calls())


@functools.cache
def proof_throttle() -> ProofThrottle:
    from session_service.domain.throttling.proof_throttling import ProofThrottle  # noqa: PLC0415

    settings = get_settings()
    return ProofThrottle(
        throttle=login_throttle(),
        store=dynamo_store(settings.table_name),
        end_session=session_ending().end_after_failed_step_ups,
        session_lifetime_seconds=settings.session_absolute_timeout_seconds,
    )


@functools.cache
def passwords() -> Passwords:
    # argon2 is imported here, not at module level: the authorizer never needs it.
    from session_service.domain.accounts.passwords import Passwords  # noqa: PLC0415

    return Passwords()


@functools.cache
def accounts() -> Accounts:
    from session_service.domain.flows.password_flows import Accounts  # noqa: PLC0415
    from session_service.domain.sessions.devices import DeviceTokens  # noqa: PLC0415

    return Accounts(
        store=dynamo_store(get_settings().table_name),
        sessions=session_service(),
        ending=session_ending(),
        passwords=passwords(),
        throttle=login_throttle(),
        devices=DeviceTokens(mac_keys()),
        second_factors=second_factors(),
        proofs=proof_throttle(),
    )


@functools.cache
def second_step() -> SecondStep:
    from session_service.domain.flows.second_step import SecondStep  # noqa: PLC0415

    return SecondStep(
        accounts=accounts(),
        second_factors=second_factors(),
        proofs=proof_throttle(),
        store=dynamo_store(get_settings().table_name),
        sessions=session_service(),
        passkeys=passkeys,
    )


@functools.cache
def step_up() -> StepUp:
    from session_service.domain.flows.step_up import StepUp  # noqa: PLC0415

    return StepUp(
        store=dynamo_store(get_settings().table_name),
        sessions=session_service(),
        passwords=passwords(),
        proofs=proof_throttle(),
        second_factors=second_factors(),
        passkeys=passkeys,
        refresh_tokens=RefreshTokens(mac_keys()),
    )


@functools.cache
def passkey_store() -> DynamoPasskeyStore:
    from session_service.adapters.passkey_store import DynamoPasskeyStore  # noqa: PLC0415

    return DynamoPasskeyStore(dynamodb_client(), get_settings().table_name)


@functools.cache
def passkeys() -> Passkeys:
    # py_webauthn (cbor2, pyOpenSSL) loads with the passkey routes' first call only.
    from session_service.config import passkey_origins  # noqa: PLC0415
    from session_service.domain.errors import Conflict  # noqa: PLC0415
    from session_service.domain.factors.passkeys import Passkeys  # noqa: PLC0415
    from session_service.domain.factors.webauthn_ceremonies import RelyingParty, WebAuthn  # noqa: PLC0415

    settings = get_settings()
    origins = passkey_origins(settings)
    if not origins:
        raise Conflict("Passkeys are off: ALLOWED_ORIGINS names no origin to use them from.")
    party = RelyingParty(settings.webauthn_rp_id, settings.webauthn_rp_name, origins)
    store = dynamo_store(settings.table_name)
    return Passkeys(store, passkey_store(), WebAuthn(party), decoy_key=mac_keys().decoy_key)


@functools.cache
def passkey_sign_in() -> PasskeySignIn:
    from session_service.domain.flows.passkey_sign_in import PasskeySignIn  # noqa: PLC0415
    from session_service.domain.sessions.devices import DeviceTokens  # noqa: PLC0415

    return PasskeySignIn(
        accounts=accounts(),
        passkeys=passkeys(),
        store=dynamo_store(get_settings().table_name),
        sessions=session_service(),
        throttle=login_throttle(),
        devices=DeviceTokens(mac_keys()),
        proofs=proof_throttle(),
    )


@functools.cache
def activity_store() -> DynamoActivityStore:
    from session_service.adapters.activity_store import DynamoActivityStore  # noqa: PLC0415

    return DynamoActivityStore(dynamodb_client(), get_settings().table_name)


@functools.cache
def activity_recorder() -> ActivityRecorder:
    from session_service.domain.activity.activity_log import ActivityRecorder  # noqa: PLC0415

    settings = get_settings()
    return ActivityRecorder(
        activity_store(),
        settings.activity_retention_days,
        settings.login_failure_window_seconds,
    )


@functools.cache
def administration() -> Administration:
    from session_service.adapters.administration_store import (  # noqa: PLC0415
        DynamoAdministrationStore,
    )
    from session_service.adapters.email_store import dynamo_email_store  # noqa: PLC0415
    from session_service.domain.administration.admin_actions import Administration  # noqa: PLC0415

    settings = get_settings()
    return Administration(
        store=dynamo_store(settings.table_name),
        admin_store=DynamoAdministrationStore(dynamodb_client(), settings.table_name),
        sessions=session_service(),
        owner_of=dynamo_email_store(settings.table_name).find_owner,
        passkey_ids=lambda user_id: [p.passkey_id for p in passkey_store().passkeys(user_id)],
    )


def reset() -> None:
    """Forget every built object (tests change the environment between cases): every
    cached factory of this module, and the clients and settings it uses."""
    # mail_wiring, sso_wiring and federation_wiring compose e-mail, single sign-on and
    # federation on top of this module (which cannot import them back): their factories,
    # and the SES client, are forgotten too, if loaded.
    loaded = ("mail_wiring", "sso_wiring", "federation_wiring", "adapters.ses_mail")
    modules = [sys.modules.get(f"session_service.{name}") for name in loaded]
    composed = [globals(), *(vars(module) for module in modules if module)]
    for value in [value for names in composed for value in list(names.values())]:
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()
    for client in (secret_store.secrets_client, ssm.ssm_client, kms.kms_client):
        client.cache_clear()
