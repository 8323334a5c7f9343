"""Builds federation from the settings (as wiring.py builds the rest): the identity
providers' store, the sealer of their client secrets, and their registry. Once per
container, on first use; wiring.reset() forgets them."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from session_service.config import ConfigurationError, get_settings

if TYPE_CHECKING:
    from session_service.adapters.kms import KmsSealer
    from session_service.adapters.provider_store import DynamoProviderStore
    from session_service.domain.federation.providers import ProviderRegistry


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
