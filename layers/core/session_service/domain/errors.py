"""The one error family: each error knows its contract code, HTTP status and headers."""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """A failure the client is told about, in the contract's error shape."""

    code: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400
    default_description: ClassVar[str] = "The request is invalid."

    def __init__(self, description: str | None = None) -> None:
        self.description = description or self.default_description
        super().__init__(self.description)

    @property
    def headers(self) -> dict[str, str]:
        return {}

    @property
    def body(self) -> dict[str, Any]:
        """The contract's error shape (some errors add a field)."""
        return {"error": self.code, "error_description": self.description}


class InvalidRequest(ServiceError):
    code = "invalid_request"
    status = 400


class SecondFactorNeeded(InvalidRequest):
    """A reset of an account with a second factor that sent no proof of it: the body
    names what may be sent (contract v3)."""

    def __init__(self, factors: tuple[str, ...]) -> None:
        super().__init__(
            "The account has a second factor: send a code (TOTP or a recovery code), or a "
            "passkey's ceremony_id and credential, with the new password."
        )
        self.factors = factors

    @property
    def body(self) -> dict[str, Any]:
        return {**super().body, "factors": list(self.factors)}


class InvalidGrant(ServiceError):
    code = "invalid_grant"
    status = 401
    default_description = "The credentials or refresh token are invalid, expired or revoked."
    # Raised after the attempt's credential was proven (its throttle places given back):
    # the write it bought was refused (the proof spent meanwhile), not a wrong credential.
    after_proof: bool = False


class InvalidToken(ServiceError):
    code = "invalid_token"
    status = 401
    default_description = "The access token is missing, invalid, expired or revoked."

    @property
    def headers(self) -> dict[str, str]:
        # RFC 6750 §3: a protected resource names the scheme it wants.
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class MfaRequired(ServiceError):
    """The password was right and the user has a second factor: no session yet; the
    body carries the mfa_token that POST /auth/login/mfa exchanges with a code."""

    code = "mfa_required"
    status = 401
    default_description = (
        "A second factor is required: send a code, or a passkey's assertion, to "
        "POST /auth/login/mfa."
    )

    def __init__(self, mfa_token: str, factors: tuple[str, ...] = ("totp", "recovery_code")):
        super().__init__()
        self.mfa_token = mfa_token
        self.factors = factors

    @property
    def body(self) -> dict[str, Any]:
        # What may follow (contract v3): "totp", "passkey", "recovery_code".
        return {**super().body, "mfa_token": self.mfa_token, "factors": list(self.factors)}


class InsufficientUserAuthentication(ServiceError):
    """RFC 9470: the route needs a proof of the credential more recent than max_age."""

    code = "insufficient_user_authentication"
    status = 401
    default_description = "This needs a recent sign-in: re-authenticate with POST /auth/reauth."

    def __init__(self, max_age: int, description: str | None = None) -> None:
        super().__init__(description)
        self.max_age = max_age

    @property
    def headers(self) -> dict[str, str]:
        return {
            "WWW-Authenticate": (
                f'Bearer error="insufficient_user_authentication", max_age={self.max_age}'
            )
        }


class MfaEnrollmentRequired(ServiceError):
    """MFA_POLICY=required and the caller's session has no second factor: it may only
    enroll one (POST /auth/mfa/totp, then confirm), re-authenticate, or log out."""

    code = "mfa_enrollment_required"
    status = 403
    default_description = (
        "This account must use a second factor: enroll one with POST /auth/mfa/totp, or, "
        "if it has one, sign in again with its code (POST /auth/reauth with the code)."
    )


class Forbidden(ServiceError):
    code = "forbidden"
    status = 403
    default_description = "The request is not allowed from this origin."


class NotFound(ServiceError):
    code = "not_found"
    status = 404
    default_description = "No such resource."


class Conflict(ServiceError):
    code = "conflict"
    status = 409
    default_description = "The resource already exists."


class SessionLimitReached(ServiceError):
    code = "session_limit"
    status = 409
    default_description = "The account already has the maximum number of active sessions."


class PayloadTooLarge(ServiceError):
    code = "payload_too_large"
    status = 413
    default_description = "The request body is larger than 16 KiB."


class _RetryableError(ServiceError):
    def __init__(self, retry_after: int, description: str | None = None) -> None:
        super().__init__(description)
        self.retry_after = max(1, retry_after)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RateLimited(_RetryableError):
    code = "rate_limited"
    status = 429
    default_description = "Too many failed attempts; try again later."

    def __init__(
        self, retry_after: int, description: str | None = None, scope: str | None = None
    ) -> None:
        super().__init__(retry_after, description)
        # The throttle scope that was full (never shown): some callers answer otherwise,
        # an mfa_token out of tries is spent.
        self.scope = scope


class Unavailable(_RetryableError):
    code = "unavailable"
    status = 503
    default_description = "The service is temporarily unavailable; try again shortly."

    def __init__(self, retry_after: int = 1, description: str | None = None) -> None:
        super().__init__(retry_after, description)
