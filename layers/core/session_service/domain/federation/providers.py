"""The registry of upstream identity providers (contract v3, "Sign-in with other identity
providers"): registered, listed, read and deleted through the admin API. A provider's id
is the administrator's choice and appears in the service's URLs
(/auth/federation/{provider_id}/start), so it is short and URL-safe; its issuer is exactly
what the provider's discovery document states (`iss` of its ID tokens is compared with
it); its client secret is sealed (SecretSealer, with the provider's id as the context)
before it is stored, and is never shown again.

Invalid input is 400 invalid_request naming the field; a taken id, or a registration
beyond MAX_PROVIDERS, 409 conflict; an unknown provider 404 not_found."""

from __future__ import annotations

import builtins
import random
import re
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from session_service.domain.errors import Conflict, InvalidRequest, NotFound, Unavailable
from session_service.domain.federation.records import (
    MAX_PROVIDERS,
    IdentityProvider,
    ProvidersFull,
    ProviderStore,
    SecretSealer,
)
from session_service.domain.models import MAX_NAME_LENGTH, Millis, display_name
from session_service.domain.ports import AlreadyExists, WriteConflict

__all__ = [
    "DEFAULT_SCOPES",
    "MAX_CLIENT_ID_LENGTH",
    "MAX_CLIENT_SECRET_LENGTH",
    "MAX_ISSUER_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_PROVIDERS",
    "MAX_SCOPES",
    "MAX_SCOPE_LENGTH",
    "PROVIDER_ID_PATTERN",
    "ProviderRegistry",
    "is_provider_id",
]

PROVIDER_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
_PROVIDER_ID = re.compile(PROVIDER_ID_PATTERN.removesuffix("$") + r"\Z")
DEFAULT_SCOPES = ("openid", "email", "profile")
MAX_SCOPES = 20
MAX_SCOPE_LENGTH = 200
MAX_ISSUER_LENGTH = 512
MAX_CLIENT_ID_LENGTH = 255
MAX_CLIENT_SECRET_LENGTH = 512
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
# Writes DynamoDB cancels because another registration or deletion was in flight on the
# providers' counter (TransactionConflict) are tried again, with jitter, then 503.
WRITE_ATTEMPTS = 8
BACKOFF_SECONDS = 0.02

# RFC 6749 Appendix A: VSCHAR (a client id or secret) and NQCHAR (a scope token).
_VSCHAR = re.compile(r"[\x20-\x7e]+\Z")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+\Z")


def is_provider_id(value: str) -> bool:
    """Whether a provider id someone sends can be one (anything else names no provider,
    and is never sent to the store)."""
    return _PROVIDER_ID.match(value) is not None


class ProviderRegistry:
    """The admin API's identity providers. `allow_loopback_http` admits an issuer at
    http://127.0.0.1:PORT or http://localhost:PORT (the local run's provider); elsewhere
    an issuer is https only."""

    def __init__(
        self,
        store: ProviderStore,
        sealer: SecretSealer,
        clock: Callable[[], float] = time.time,
        *,
        allow_loopback_http: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._clock = clock
        self._allow_loopback_http = allow_loopback_http
        self._sleep = sleep
        # Client secrets unsealed in this container, by provider and sealed form.
        self._unsealed: dict[tuple[str, bytes], str] = {}

    def _now(self) -> Millis:
        return int(self._clock() * 1000)

    def register(
        self,
        provider_id: str,
        issuer: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] | None,
        name: str,
    ) -> IdentityProvider:
        """A new provider, its secret sealed. `scopes` None: DEFAULT_SCOPES."""
        if not isinstance(provider_id, str) or not is_provider_id(provider_id):
            raise InvalidRequest(
                "provider_id: must be 1 to 32 characters of a-z, 0-9, _ and -, starting with "
                "a letter or digit."
            )
        # Each field checked (in the order of the contract's body) before anything is sealed
        checked_issuer = self._issuer(issuer)
        checked_client_id = _client_id(client_id)
        secret = _client_secret(client_secret)
        checked_scopes = _scopes(DEFAULT_SCOPES if scopes is None else scopes)
        checked_name = display_name(name)
        provider = IdentityProvider(
            provider_id=provider_id,
            name=checked_name,
            issuer=checked_issuer,
            client_id=checked_client_id,
            sealed_secret=self._sealer.seal(secret, provider_id),
            scopes=checked_scopes,
            created_at=self._now(),
        )
        for attempt in range(WRITE_ATTEMPTS):
            try:
                self._store.put_provider(provider, MAX_PROVIDERS)
            except AlreadyExists:
                raise Conflict(
                    f"provider_id: {provider_id} is registered already (delete it first to "
                    "register it anew)."
                ) from None
            except ProvidersFull:
                raise Conflict(
                    f"At most {MAX_PROVIDERS} identity providers can be registered: delete "
                    "one first."
                ) from None
            except WriteConflict:
                self._pause(attempt)
                continue
            return provider
        raise Unavailable(retry_after=1)

    def list(self) -> builtins.list[IdentityProvider]:
        """Every provider, by id."""
        return sorted(self._store.list_providers(), key=lambda provider: provider.provider_id)

    def find(self, provider_id: str) -> IdentityProvider | None:
        """The provider, or None (an id that cannot be one names none)."""
        if not is_provider_id(provider_id):
            return None
        return self._store.find_provider(provider_id)

    def get(self, provider_id: str) -> IdentityProvider:
        provider = self.find(provider_id)
        if provider is None:
            raise NotFound("No such identity provider.")
        return provider

    def delete(self, provider_id: str) -> None:
        """The provider is gone at once: its sign-ins start no more."""
        if not is_provider_id(provider_id):
            raise NotFound("No such identity provider.")
        for attempt in range(WRITE_ATTEMPTS):
            try:
                deleted = self._store.delete_provider(provider_id)
            except WriteConflict:
                self._pause(attempt)
                continue
            if not deleted:
                raise NotFound("No such identity provider.")
            return
        raise Unavailable(retry_after=1)

    def client_secret(self, provider: IdentityProvider) -> str:
        """The provider's client secret, unsealed (for its token endpoint only): once per
        container and sealed form (a provider registered again has a new one), not a KMS
        call per sign-in."""
        key = (provider.provider_id, provider.sealed_secret)
        secret = self._unsealed.get(key)
        if secret is None:
            secret = self._sealer.unseal(provider.sealed_secret, provider.provider_id)
            if len(self._unsealed) >= MAX_PROVIDERS:
                self._unsealed.clear()
            self._unsealed[key] = secret
        return secret

    def _pause(self, attempt: int) -> None:
        ceiling = BACKOFF_SECONDS * 2 ** min(attempt, 5)
        self._sleep(random.uniform(0, ceiling))  # noqa: S311 - jitter, not a secret

    def _issuer(self, value: object) -> str:
        """An absolute https URL without query or fragment, kept exactly as given (the
        provider's ID tokens carry it as `iss`, compared character for character)."""
        if not isinstance(value, str):
            raise InvalidRequest("issuer: must be a string.")
        if not value or len(value) > MAX_ISSUER_LENGTH:
            raise InvalidRequest(f"issuer: must be 1 to {MAX_ISSUER_LENGTH} characters.")
        if not _VSCHAR.match(value) or " " in value:
            raise InvalidRequest("issuer: must be a URL without spaces or control characters.")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - a port that is not a number raises here
        except ValueError:
            raise InvalidRequest("issuer: is not a valid URL.") from None
        loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
        if parts.scheme != "https" and not (loopback and self._allow_loopback_http):
            allowed = (
                "https (or http on 127.0.0.1 or localhost with a port)"
                if self._allow_loopback_http
                else "https"
            )
            raise InvalidRequest(
                f"issuer: must be an absolute {allowed} URL, exactly as the provider's "
                "discovery document states it (as https://accounts.google.com)."
            )
        if not parts.hostname:
            raise InvalidRequest("issuer: has no host.")
        if loopback and parts.scheme == "http" and parts.port is None:
            raise InvalidRequest("issuer: an http issuer on loopback needs its port.")
        if "@" in parts.netloc:
            raise InvalidRequest("issuer: has user information (user@) before its host.")
        if parts.query or value.endswith("?"):
            raise InvalidRequest("issuer: has a query (?), which an issuer must not have.")
        if parts.fragment or "#" in value:
            raise InvalidRequest("issuer: has a fragment (#), which an issuer must not have.")
        return value


def _client_id(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidRequest("client_id: must be a string.")
    if not value or len(value) > MAX_CLIENT_ID_LENGTH:
        raise InvalidRequest(f"client_id: must be 1 to {MAX_CLIENT_ID_LENGTH} characters.")
    if not _VSCHAR.match(value) or value != value.strip():
        raise InvalidRequest(
            "client_id: must be printable ASCII, without spaces at its start or end."
        )
    return value


def _client_secret(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidRequest("client_secret: must be a string.")
    if not value or len(value) > MAX_CLIENT_SECRET_LENGTH:
        raise InvalidRequest(f"client_secret: must be 1 to {MAX_CLIENT_SECRET_LENGTH} characters.")
    if not _VSCHAR.match(value) or value != value.strip():
        raise InvalidRequest(
            "client_secret: must be printable ASCII, without spaces at its start or end."
        )
    return value


def _scopes(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidRequest("scopes: must be a list of scopes.")
    if len(value) > MAX_SCOPES:
        raise InvalidRequest(f"scopes: at most {MAX_SCOPES} scopes.")
    for index, scope in enumerate(value):
        if not isinstance(scope, str):
            raise InvalidRequest(f"scopes[{index}]: must be a string.")
        if not _SCOPE_TOKEN.match(scope) or len(scope) > MAX_SCOPE_LENGTH:
            raise InvalidRequest(
                f"scopes[{index}]: must be one scope token (1 to {MAX_SCOPE_LENGTH} printable "
                "characters, no space, quote or backslash)."
            )
    if "openid" not in value:
        raise InvalidRequest("scopes: must include openid (the provider's ID token needs it).")
    # The same scope twice means it once.
    return tuple(dict.fromkeys(value))
