"""Passkey bodies: WebAuthn Level 3's JSON shapes, what a credential's `toJSON()` gives
(binary as base64url), checked for shape and size here; what they prove is checked by
py_webauthn (domain.webauthn_ceremonies). Members this service does not read, such as
`clientExtensionResults`, pass through as the browser sent them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from session_service.edge.fields import DeviceTokenValue, Username

# A base64url string (RFC 4648 §5), padding tolerated; bounded by what WebAuthn allows.
_B64URL = r"^[A-Za-z0-9_-]+={0,2}$"
CredentialId = Annotated[str, Field(min_length=1, max_length=1400, pattern=_B64URL)]
ClientDataJson = Annotated[str, Field(min_length=1, max_length=4096, pattern=_B64URL)]
BinaryField = Annotated[str, Field(min_length=1, max_length=8192, pattern=_B64URL)]
CeremonyId = Annotated[str, Field(min_length=1, max_length=128)]
PasskeyName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$", examples=["Laptop"])
]
Transport = Annotated[str, Field(max_length=16)]


class _Json(BaseModel):
    # The browser's members by their own names (clientDataJSON, rawId...).
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="allow")


class AttestationResponseJson(_Json):
    client_data_json: ClientDataJson = Field(alias="clientDataJSON")
    attestation_object: BinaryField = Field(alias="attestationObject")
    transports: list[Transport] | None = Field(default=None, max_length=8)


class AssertionResponseJson(_Json):
    client_data_json: ClientDataJson = Field(alias="clientDataJSON")
    authenticator_data: BinaryField = Field(alias="authenticatorData")
    signature: BinaryField
    # The user id this service gave the passkey; null for a non-discoverable one.
    user_handle: Annotated[str, Field(max_length=128, pattern=_B64URL)] | None = Field(
        default=None, alias="userHandle"
    )


class RegistrationResponseJson(_Json):
    """RegistrationResponseJSON: what `credential.toJSON()` gives after `create()`."""

    id: CredentialId
    raw_id: CredentialId = Field(alias="rawId")
    type: Literal["public-key"]
    response: AttestationResponseJson


class AuthenticationResponseJson(_Json):
    """AuthenticationResponseJSON: what `credential.toJSON()` gives after `get()`."""

    id: CredentialId
    raw_id: CredentialId = Field(alias="rawId")
    type: Literal["public-key"]
    response: AssertionResponseJson


def browser_json(credential: _Json) -> dict[str, Any]:
    """The credential as the browser sent it (its own member names), for py_webauthn."""
    return credential.model_dump(by_alias=True, exclude_none=True)


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True)


class PasskeyRegistrationRequest(_Body):
    credential: RegistrationResponseJson
    # Shown in the passkey list; by default "Passkey of <date>".
    name: PasskeyName | None = None


class PasskeyRenameRequest(_Body):
    name: PasskeyName


class PasskeySignInOptionsRequest(_Body):
    # Absent: any discoverable passkey may answer (the browser offers the user's own).
    username: Username | None = None


class PasskeySignInRequest(_Body):
    ceremony_id: CeremonyId
    credential: AuthenticationResponseJson
    # From an earlier token response on this device: its failures count on their own.
    device_token: DeviceTokenValue | None = None


class CreationOptionsResponse(_Body):
    # PublicKeyCredentialCreationOptionsJSON, for PublicKeyCredential.parseCreationOptionsFromJSON.
    options: dict[str, Any]


class RequestOptionsResponse(_Body):
    # PublicKeyCredentialRequestOptionsJSON, for PublicKeyCredential.parseRequestOptionsFromJSON.
    options: dict[str, Any]
    # Post it back with the assertion.
    ceremony_id: str


class PasskeyCreatedResponse(_Body):
    passkey_id: str


class PasskeyView(_Body):
    passkey_id: str
    name: str
    created_at: str
    last_used_at: str | None


class PasskeysResponse(_Body):
    passkeys: list[PasskeyView]
