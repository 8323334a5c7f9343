"""Request and response bodies of the admin API's identity providers (contract v3,
"Sign-in with other identity providers"). The bounds are the domain's
(domain/federation/providers.py), which checks each field's form."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from session_service.domain.federation.providers import (
    MAX_CLIENT_ID_LENGTH,
    MAX_CLIENT_SECRET_LENGTH,
    MAX_ISSUER_LENGTH,
    MAX_NAME_LENGTH,
    MAX_SCOPE_LENGTH,
    MAX_SCOPES,
)

ProviderId = Annotated[str, Field(min_length=1, max_length=32, examples=["google"])]
Issuer = Annotated[
    str,
    Field(min_length=1, max_length=MAX_ISSUER_LENGTH, examples=["https://accounts.google.com"]),
]
ClientId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_CLIENT_ID_LENGTH,
        examples=["1234567890-abc.apps.googleusercontent.com"],
    ),
]
ClientSecret = Annotated[str, Field(min_length=1, max_length=MAX_CLIENT_SECRET_LENGTH)]
Scope = Annotated[str, Field(min_length=1, max_length=MAX_SCOPE_LENGTH)]
Scopes = Annotated[
    list[Scope], Field(min_length=1, max_length=MAX_SCOPES, examples=[["openid", "email"]])
]
ProviderName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, examples=["Google"])]


class ProviderRegistration(BaseModel):
    # A field the API does not know is refused, not ignored.
    model_config = ConfigDict(frozen=True, extra="forbid")
    provider_id: ProviderId
    issuer: Issuer
    client_id: ClientId
    # Sealed at once; never shown again, not even in the answer to this request.
    client_secret: ClientSecret
    # openid, email and profile when not sent; openid is required.
    scopes: Scopes | None = None
    name: ProviderName


class ProviderView(BaseModel):
    """A provider as the admin API shows it: never its secret, sealed or not."""

    model_config = ConfigDict(frozen=True)
    provider_id: str
    issuer: str
    client_id: str
    scopes: list[str]
    name: str
    created_at: str


class ProvidersResponse(BaseModel):
    identity_providers: list[ProviderView]
