"""Request and response bodies of the HTTP API (pydantic: validation and OpenAPI)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag

from session_service.domain.accounts.usernames import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from session_service.edge.fields import DeviceTokenValue, Username
from session_service.edge.passkey_schemas import AuthenticationResponseJson, CeremonyId

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse


def _encodable(value: str) -> str:
    # JSON may carry lone surrogates ("\ud800"); they cannot be hashed as UTF-8.
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


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
MfaTokenValue = Annotated[str, Field(min_length=1, max_length=128)]
# A TOTP code (6 digits) or a recovery code (abcdef-ghijkl-mnopqr-stuvwx; case, spaces
# and hyphens as the user likes).
OneTimeCode = Annotated[
    str,
    Field(min_length=6, max_length=48, pattern=r"^[0-9A-Za-z \-]+$", examples=["123456"]),
]


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True)


class CredentialsRequest(_Body):
    username: Username
    password: Password


class LoginBody(CredentialsRequest):
    # From an earlier token response on this device: its failures count on their own.
    device_token: DeviceTokenValue | None = None


class RefreshRequest(_Body):
    # Absent when the refresh token travels in the cookie.
    refresh_token: RefreshTokenValue | None = None


class PasswordChangeRequest(_Body):
    current_password: Password
    new_password: Password


class LogoutRequest(_Body):
    refresh_token: RefreshTokenValue | None = None


class MfaCodeLogin(_Body):
    """The mfa_token with a code: a TOTP code or a recovery code."""

    # One proof or the other, never both: the schema says so (no other member).
    model_config = ConfigDict(frozen=True, extra="forbid")
    mfa_token: MfaTokenValue
    code: OneTimeCode


class MfaPasskeyLogin(_Body):
    """The mfa_token with a passkey's assertion of a ceremony from POST
    /auth/passkeys/authentication/options."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mfa_token: MfaTokenValue
    ceremony_id: CeremonyId
    credential: AuthenticationResponseJson


def _proof_of(body: Any) -> str:
    """Which second step a body is: a code when it has one, else a passkey (so that its
    errors are the one shape's, never both's)."""
    return "MfaCodeLogin" if isinstance(body, dict) and "code" in body else "MfaPasskeyLogin"


# The second step of a login: a code, or a passkey.
MfaLoginRequest = Annotated[
    Annotated[MfaCodeLogin, Tag("MfaCodeLogin")]
    | Annotated[MfaPasskeyLogin, Tag("MfaPasskeyLogin")],
    Discriminator(_proof_of),
]


class ReauthBody(_Body):
    """The password (with a code when the account has TOTP on), or a passkey: the
    assertion of a ceremony from POST /auth/passkeys/authentication/options (which is
    used when both are given)."""

    password: Password | None = None
    code: OneTimeCode | None = None
    ceremony_id: CeremonyId | None = None
    credential: AuthenticationResponseJson | None = None


class TotpCodeRequest(_Body):
    code: OneTimeCode


class TotpSetupResponse(_Body):
    # Base32, for typing into an authenticator app by hand.
    secret: str
    # otpauth://totp/ISSUER:USERNAME?secret=...&issuer=ISSUER, for a QR code.
    otpauth_uri: str


class RecoveryCodesResponse(_Body):
    # Shown once: each works once instead of a TOTP code.
    recovery_codes: list[str]


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
    # After a proof of the password, outside cookie mode: present it at the next login.
    device_token: str | None = Field(default=None, exclude_if=lambda value: value is None)


class SessionResponse(_Body):
    session_id: str
    created_at: str
    last_used_at: str
    expires_at: str
    ip: str
    user_agent: str
    current: bool
    # When the user last proved a credential in the session, and how (RFC 8176).
    auth_time: str
    amr: list[str]


class CurrentSessionResponse(SessionResponse):
    user_id: str


class SessionsResponse(_Body):
    sessions: list[SessionResponse]


class AdminUserResponse(_Body):
    user_id: str
    username: str
    created_at: str
    disabled: bool
    mfa: bool
    passkeys: int
    # The verified address, if any.
    email: str | None = None


class AdminSessionsResponse(_Body):
    sessions: list[SessionResponse]


class ActivityView(_Body):
    type: str
    at: str
    ip: str
    user_agent: str
    session_id: str | None = Field(default=None, exclude_if=lambda value: value is None)
    reason: str | None = Field(default=None, exclude_if=lambda value: value is None)
    # A federated sign-in's provider, or the linked or unlinked identity's.
    provider: str | None = Field(default=None, exclude_if=lambda value: value is None)


class ActivityResponse(_Body):
    events: list[ActivityView]
    # Absent on the last page; pass it back as `cursor` for the next one.
    next_cursor: str | None = None


class JsonWebKey(BaseModel):
    # The key's own members (n and e, or crv, x and y) come along as they are.
    model_config = ConfigDict(extra="allow")
    kty: str
    kid: str
    alg: str
    use: Literal["sig"]


class Jwks(_Body):
    keys: list[JsonWebKey]


class OpenIdConfiguration(_Body):
    issuer: str
    jwks_uri: str
    id_token_signing_alg_values_supported: list[str]
    response_types_supported: list[str]
    subject_types_supported: list[str]
    # The OpenID Connect provider of the team's apps (docs/sso.md)
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    introspection_endpoint: str
    revocation_endpoint: str
    end_session_endpoint: str
    response_modes_supported: list[str]
    grant_types_supported: list[str]
    code_challenge_methods_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    introspection_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    scopes_supported: list[str]
    claims_supported: list[str]
    prompt_values_supported: list[str]
    backchannel_logout_supported: bool
    backchannel_logout_session_supported: bool
    authorization_response_iss_parameter_supported: bool


class ErrorResponse(_Body):
    error: str
    error_description: str
    # With mfa_required only: what POST /auth/login/mfa exchanges with a proof, and the
    # proofs the account may give ("totp", "passkey", "recovery_code").
    mfa_token: str | None = Field(default=None, exclude_if=lambda value: value is None)
    factors: list[Literal["totp", "passkey", "recovery_code"]] | None = Field(
        default=None, exclude_if=lambda value: value is None
    )


_ERROR_MEANINGS = {
    400: "invalid_request: malformed JSON, a missing or invalid field",
    401: (
        "invalid_grant (credentials, code, refresh token), invalid_token (access token), "
        "mfa_required (with mfa_token and factors: the account has a second factor) or "
        "insufficient_user_authentication (the route needs a recent sign-in: POST "
        "/auth/reauth; WWW-Authenticate names max_age)"
    ),
    403: (
        "forbidden (a cookie request without an allowed Origin and X-Requested-With) or "
        "mfa_enrollment_required (MFA_POLICY=required: enroll a second factor first)"
    ),
    404: "not_found",
    409: "conflict (username taken, enrollment state) or session_limit (policy reject)",
    413: "payload_too_large: a body over 16 KiB",
    429: "rate_limited: too many failed logins; see Retry-After",
    503: "unavailable: AWS throttled or failed; see Retry-After",
}


def responses(
    success: type[BaseModel] | None, *statuses: int, status: int = 200, description: str = "OK"
) -> dict[int, OpenAPIResponse]:
    """A route's OpenAPI responses: its success (a body model, or none for 204) and the
    given error statuses, all in the contract's shape; every route may also answer 413
    and 503."""
    answer: OpenAPIResponse = {"description": description}
    if success is not None:
        answer["content"] = {"application/json": {"model": success}}
    return {status: answer, **error_responses(*statuses)}


def error_responses(*statuses: int) -> dict[int, OpenAPIResponse]:
    return {
        status: {
            "description": _ERROR_MEANINGS[status],
            "content": {"application/json": {"model": ErrorResponse}},
        }
        for status in sorted({*statuses, 413, 503})
    }
