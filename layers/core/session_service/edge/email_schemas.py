"""Request and response bodies of the e-mail routes (contract v3, "E-mail")."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from session_service.edge.fields import Username
from session_service.edge.passkey_schemas import AuthenticationResponseJson, CeremonyId
from session_service.edge.schemas import CredentialsRequest, OneTimeCode, Password

# Checked as an address by the domain (a clear 400); here only bounded.
EmailValue = Annotated[str, Field(min_length=3, max_length=320, examples=["ada@example.com"])]
EmailCode = Annotated[str, Field(min_length=1, max_length=16, examples=["123456"])]
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


class ForgotRequest(_Body):
    username: Username | None = None
    email: EmailValue | None = None


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
