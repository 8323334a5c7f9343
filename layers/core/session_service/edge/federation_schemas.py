"""Request and response bodies of the federation routes (contract v3, "Sign-in with
other identity providers")."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from session_service.domain.federation.return_urls import MAX_RETURN_LENGTH

Opaque = Annotated[str, Field(min_length=1, max_length=256)]
ReturnTo = Annotated[
    str,
    Field(
        min_length=1, max_length=MAX_RETURN_LENGTH, examples=["https://app.example.com/signed-in"]
    ),
]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True)


class HandoffRequest(_Body):
    handoff: Opaque


class LinkRequest(_Body):
    return_to: ReturnTo


class LinkResponse(_Body):
    # A URL of the service: opened in the browser, it starts the provider's sign-in once.
    authorization_url: str


class IdentityView(_Body):
    identity_id: str
    provider_id: str
    subject: str
    email: str | None = Field(default=None, exclude_if=lambda value: value is None)
    linked_at: str


class IdentitiesResponse(_Body):
    identities: list[IdentityView]
