"""The table's items of federation's identity providers.

Items (pk / sk):
  IDPS / IDP#<provider id>  a registered upstream provider (one partition: the admin API
                            and the sign-in page list them with one Query); its client
                            secret only sealed (KMS, binary `sealed_secret`); no ttl
  IDPS / COUNT              how many providers are registered (`count`): a registration
                            adds one in the transaction that writes the provider, on the
                            condition that it is below the limit; a deletion takes one off
"""

from __future__ import annotations

from session_service.adapters.store_items import Item, Key, int_of, key, n, s, str_of
from session_service.domain.federation.records import IdentityProvider

PROVIDERS_PARTITION = "IDPS"
PROVIDER_PREFIX = "IDP#"


def provider_key(provider_id: str) -> Key:
    return key(PROVIDERS_PARTITION, f"{PROVIDER_PREFIX}{provider_id}")


def provider_count_key() -> Key:
    return key(PROVIDERS_PARTITION, "COUNT")


def provider_item(provider: IdentityProvider) -> Item:
    return {
        **provider_key(provider.provider_id),
        "kind": s("identity_provider"),
        "provider_id": s(provider.provider_id),
        "name": s(provider.name),
        "issuer": s(provider.issuer),
        "client_id": s(provider.client_id),
        "sealed_secret": {"B": provider.sealed_secret},
        # A list, not a string set: the order the administrator gave is kept.
        "scopes": {"L": [s(scope) for scope in provider.scopes]},
        "created_at": n(provider.created_at),
    }


def provider_from_item(item: Item) -> IdentityProvider:
    return IdentityProvider(
        provider_id=str_of(item, "provider_id"),
        name=str_of(item, "name"),
        issuer=str_of(item, "issuer"),
        client_id=str_of(item, "client_id"),
        sealed_secret=bytes(item["sealed_secret"]["B"]),
        scopes=tuple(str(value["S"]) for value in item["scopes"]["L"]),
        created_at=int_of(item, "created_at"),
    )
