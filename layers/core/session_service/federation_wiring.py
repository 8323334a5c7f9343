"""Builds federation from the settings (as wiring.py builds the rest): the identity
providers' store, the sealer of their client secrets, and their registry. Once per
container, on first use; wiring.reset() forgets them."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from session_service.config import ConfigurationError, get_settings

if TYPE_CHECKING:
    from session_service.adapters.federation_store import DynamoFederationStore
    from session_service.adapters.kms import KmsSealer
    from session_service.adapters.provider_store import DynamoProviderStore
    from session_service.adapters.upstream_oidc import UpstreamRelyingParty
    from session_service.domain.federation.identities import Identities
    from session_service.domain.federation.providers import ProviderRegistry
    from session_service.domain.federation.sign_in import FederatedSignIn


@functools.cache
def provider_store() -> DynamoProviderStore:
    from session_service.adapters.provider_store import dynamo_provider_store  # noqa: PLC0415

    return dynamo_provider_store(get_settings().table_name)


@functools.cache
def secret_sealer() -> KmsSealer:
    """The identity providers' secret key (IDP_SECRET_KEY_ID): the admin function seals
    with it, the API function unseals."""
    from session_service.adapters.kms import KmsSealer, kms_client  # noqa: PLC0415

    key_id = get_settings().idp_secret_key_id
    if not key_id:
        raise ConfigurationError("IDP_SECRET_KEY_ID must be set to seal or unseal a secret")
    return KmsSealer(kms_client(), key_id)


@functools.cache
def provider_registry() -> ProviderRegistry:
    from session_service.domain.federation.providers import ProviderRegistry  # noqa: PLC0415

    return ProviderRegistry(
        provider_store(),
        secret_sealer(),
        allow_loopback_http=get_settings().federation_loopback,
    )


@functools.cache
def federation_store() -> DynamoFederationStore:
    from session_service.adapters.dynamo import dynamodb_client  # noqa: PLC0415
    from session_service.adapters.federation_store import DynamoFederationStore  # noqa: PLC0415

    return DynamoFederationStore(dynamodb_client(), get_settings().table_name)


@functools.cache
def upstream() -> UpstreamRelyingParty:
    from session_service.adapters.upstream_oidc import UpstreamRelyingParty  # noqa: PLC0415

    return UpstreamRelyingParty(allow_loopback_http=get_settings().federation_loopback)


@functools.cache
def identities() -> Identities:
    from session_service import wiring  # noqa: PLC0415
    from session_service.adapters.store import dynamo_store  # noqa: PLC0415
    from session_service.domain.federation.identities import Identities  # noqa: PLC0415

    settings = get_settings()
    return Identities(
        federation_store(),
        dynamo_store(settings.table_name),
        wiring.login_throttle,
        signup=settings.federation_signup,
        now=_now,
    )


@functools.cache
def federated_sign_in() -> FederatedSignIn:
    from session_service import wiring  # noqa: PLC0415
    from session_service.adapters.store import dynamo_store  # noqa: PLC0415
    from session_service.domain.federation.return_urls import ReturnUrls  # noqa: PLC0415
    from session_service.domain.federation.sign_in import FederatedSignIn  # noqa: PLC0415

    settings = get_settings()
    return FederatedSignIn(
        federation_store(),
        dynamo_store(settings.table_name),
        provider_registry,
        upstream(),
        identities(),
        wiring.accounts,
        wiring.second_factors,
        ReturnUrls(
            settings.allowed_origins, wiring.token_issuer, demo=settings.federation_loopback
        ),
        wiring.token_issuer,
        now=_now,
    )


def _now() -> int:
    return int(time.time() * 1000)


# The hosted sign-in page's buttons are read again at most this often (a Query each time).
BUTTONS_SECONDS = 60


@functools.cache
def _read_buttons() -> list[tuple[float, list[tuple[str, str]]]]:
    """The container's last read of them, and when (wiring.reset() forgets it)."""
    return []


def provider_buttons() -> list[tuple[str, str]]:
    """The registered providers, as (id, name), for the sign-in page's buttons; none when
    they cannot be read (the password form still works)."""
    from session_service.domain.errors import Unavailable  # noqa: PLC0415

    now = time.monotonic()
    _buttons = _read_buttons()
    if _buttons and now - _buttons[0][0] < BUTTONS_SECONDS:
        return _buttons[0][1]
    try:
        listed = [(p.provider_id, p.name) for p in provider_store().list_providers()]
    except Unavailable:
        return []
    _buttons[:] = [(now, listed)]
    return listed
