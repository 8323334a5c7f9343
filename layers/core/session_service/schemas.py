"""Request and response bodies of the HTTP API (pydantic: validation and OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from session_service.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH


def _encodable(value: str) -> str:
    # JSON may carry lone surrogates ("\ud800"); they cannot be hashed as UTF-8.
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Username = Annotated[
    str,
    Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$", examples=["ada@example.com"]),
]
Password = Annotated[
    str,
    Field(
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        examples=["correct horse battery"],
    ),
    AfterValidator(_encodable),
]
RefreshTokenValue = Annotated[str, Field(min_length=1, max_length=512)]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True)


class CredentialsRequest(_Body):
    username: Username
    password: Password


class RefreshRequest(_Body):
    # Absent when the refresh token travels in the cookie.
    refresh_token: RefreshTokenValue | None = None


class PasswordChangeRequest(_Body):
    current_password: Password
    new_password: Password


class LogoutRequest(_Body):
    refresh_token: RefreshTokenValue | None = None


class RegisterResponse(_Body):
    user_id: str


class TokenResponse(_Body):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    # Absent in cookie mode (REFRESH_TOKEN_TRANSPORT=cookie): the token is in the cookie.
    refresh_token: str | None = Field(default=None, exclude_if=lambda value: value is None)
    refresh_expires_in: int
    session_id: str


class SessionResponse(_Body):
    session_id: str
    created_at: str
    last_used_at: str
    expires_at: str
    ip: str
    user_agent: str
    current: bool


class CurrentSessionResponse(SessionResponse):
    user_id: str


class SessionsResponse(_Body):
    sessions: list[SessionResponse]


class ErrorResponse(_Body):
    error: str
    error_description: str
