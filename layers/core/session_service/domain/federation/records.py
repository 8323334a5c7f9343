"""What federation keeps and the ports it works through: the registered upstream
providers, the upstream relying party (discovery, the code exchange, the ID token's
checks), and the secret sealer that keeps providers' client secrets at rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from session_service.domain.errors import ServiceError
from session_service.domain.models import Millis
from session_service.domain.ports import StoreError

# The providers a deployment may register: a handful in practice (the sign-in page shows a
# button for each), and few enough that listing them is one bounded read.
MAX_PROVIDERS = 20


@dataclass(frozen=True, slots=True)
class IdentityProvider:
    """An upstream OpenID Connect provider the service signs users in through."""

    provider_id: str
    name: str
    issuer: str
    client_id: str
    # The client secret, sealed (SecretSealer, with the provider's id as its context).
    sealed_secret: bytes
    scopes: tuple[str, ...]
    created_at: Millis


class ProvidersFull(StoreError):
    """A registration beyond the store's limit of providers."""


class ProviderStore(Protocol):
    def put_provider(self, provider: IdentityProvider, limit: int = MAX_PROVIDERS) -> None:
        """Raises AlreadyExists when the id is taken, ProvidersFull when `limit` providers
        are registered already: both decided in the write itself, so that of racing
        registrations one takes an id, and no more than `limit` land."""

    def find_provider(self, provider_id: str) -> IdentityProvider | None: ...

    def list_providers(self) -> list[IdentityProvider]:
        """Every provider (a bounded few: MAX_PROVIDERS), by id."""
        ...

    def delete_provider(self, provider_id: str) -> bool:
        """False when there was none."""
        ...


class SecretSealer(Protocol):
    """Seals a secret at rest (KMS on AWS): `context` binds the sealed bytes to what they
    belong to, so a sealed secret moved to another provider does not open."""

    def seal(self, plaintext: str, context: str) -> bytes: ...

    def unseal(self, sealed: bytes, context: str) -> str: ...


@dataclass(frozen=True, slots=True)
class UpstreamIdentity:
    """Who the provider says signed in: its ID token's claims, every check passed."""

    subject: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """What the browser is sent to the provider with."""

    redirect_uri: str
    state: str
    nonce: str
    code_challenge: str


@dataclass(frozen=True, slots=True)
class CodeExchange:
    """The callback's code, traded at the provider's token endpoint."""

    code: str
    redirect_uri: str
    code_verifier: str
    nonce: str


class UpstreamRefused(ServiceError):
    """The provider's answer or ID token failed a check (or the provider said no): no
    account and no session; the browser is sent back with the error in the fragment."""

    code = "invalid_grant"
    status = 401
    default_description = "The identity provider's sign-in could not be verified."


class UpstreamOidc(Protocol):
    """The service as a relying party of upstream providers. Discovery and JWKS are
    fetched within time budgets and cached; a provider that does not answer in time is
    Unavailable (503), never a held Lambda."""

    def authorization_url(self, provider: IdentityProvider, request: AuthorizationRequest) -> str:
        """The provider's authorization endpoint (from its discovery) with response_type
        code, the client id, the scopes, state, nonce and the S256 challenge."""
        ...

    def sign_in(
        self, provider: IdentityProvider, client_secret: str, exchange: CodeExchange
    ) -> UpstreamIdentity:
        """Trade the code (with the verifier) for tokens and check the ID token: its
        signature by a key of the issuer's JWKS, iss, aud, azp, exp, iat, nonce. Raises
        UpstreamRefused for any failed check or error answer, Unavailable when the
        provider does not answer within the budget."""
        ...
