"""Request and response bodies of the admin API's OAuth clients (contract v3, "Single
sign-on"). The bounds are the domain's (domain/sso/clients.py), which checks each URI."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from session_service.domain.sso.clients import MAX_NAME_LENGTH, MAX_URI_LENGTH, MAX_URIS

ClientName = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME_LENGTH, examples=["Billing dashboard"])
]
ClientUri = Annotated[
    str,
    Field(min_length=1, max_length=MAX_URI_LENGTH, examples=["https://app.example.com/callback"]),
]
ClientTypeValue = Literal["confidential", "public"]
RedirectUris = Annotated[list[ClientUri], Field(min_length=1, max_length=MAX_URIS)]
PostLogoutRedirectUris = Annotated[list[ClientUri], Field(max_length=MAX_URIS)]


class _Body(BaseModel):
    # A field the API does not know is refused, not ignored: a mistyped name in a PATCH
    # would otherwise change nothing and answer 200.
    model_config = ConfigDict(frozen=True, extra="forbid")


class ClientRegistration(_Body):
    name: ClientName
    redirect_uris: RedirectUris
    post_logout_redirect_uris: PostLogoutRedirectUris = []
    backchannel_logout_uri: ClientUri | None = None
    type: ClientTypeValue


class ClientChange(_Body):
    """What is sent changes; what is not stays. `backchannel_logout_uri: null` removes it;
    `type` may be sent only unchanged."""

    name: ClientName | None = None
    redirect_uris: RedirectUris | None = None
    post_logout_redirect_uris: PostLogoutRedirectUris | None = None
    backchannel_logout_uri: ClientUri | None = None
    type: ClientTypeValue | None = None


class ClientView(BaseModel):
    """A client as the admin API shows it: never its secret's digest."""

    model_config = ConfigDict(frozen=True)
    client_id: str
    name: str
    type: ClientTypeValue
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    backchannel_logout_uri: str | None
    created_at: str
    updated_at: str


class RegisteredClientResponse(ClientView):
    # A confidential client's secret, shown this once (a public client has none).
    client_secret: str | None = Field(default=None, exclude_if=lambda value: value is None)


class ClientsResponse(BaseModel):
    clients: list[ClientView]


class ClientSecretResponse(BaseModel):
    client_id: str
    # Shown this once; the previous secret no longer verifies.
    client_secret: str
