"""Request and response bodies of the e-mail routes (contract v3, "E-mail")."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from session_service.domain.email.addresses import ADDRESS_PATTERN, MAX_ADDRESS_LENGTH
from session_service.edge.fields import Username
from session_service.edge.passkey_schemas import AuthenticationResponseJson, CeremonyId
from session_service.edge.schemas import CredentialsRequest, OneTimeCode, Password

# An address as the domain takes it (addresses.normalize_address): the same pattern.
EmailValue = Annotated[
    str,
    Field(
        min_length=6,
        max_length=MAX_ADDRESS_LENGTH,
        pattern=ADDRESS_PATTERN,
        examples=["ada@example.com"],
    ),
]
EmailCode = Annotated[str, Field(pattern=r"^[0-9]{6}$", examples=["123456"])]
Opaque = Annotated[str, Field(min_length=1, max_length=256)]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True)


class RegisterRequest(CredentialsRequest):
    # Optional: a verification code is mailed to it.
    email: EmailValue | None = None


class EmailRequest(_Body):
    email: EmailValue


class EmailCodeRequest(_Body):
    code: EmailCode


class ForgotByUsername(_Body):
    model_config = ConfigDict(frozen=True, extra="forbid")
    username: Username


class ForgotByEmail(_Body):
    model_config = ConfigDict(frozen=True, extra="forbid")
    email: EmailValue


# One or the other, never both.
ForgotRequest = ForgotByUsername | ForgotByEmail


class ResetRequestBody(_Body):
    reset_token: Opaque
    new_password: Password
    code: OneTimeCode | None = None
    ceremony_id: CeremonyId | None = None
    credential: AuthenticationResponseJson | None = None


class EmailLoginStart(_Body):
    email: EmailValue


class EmailLoginRequest(_Body):
    login_id: Opaque
    code: EmailCode


class LoginIdResponse(_Body):
    login_id: str


class AccountResponse(_Body):
    user_id: str
    username: str
    email: str | None
    email_verified: bool
    mfa: bool
    passkeys: int
    identities: int
    created_at: str


def account_body(**fields: Any) -> dict[str, Any]:
    return AccountResponse(**fields).model_dump()
