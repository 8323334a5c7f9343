"""The one error family: each error knows its contract code, HTTP status and headers."""

from __future__ import annotations

from typing import ClassVar


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


class InvalidRequest(ServiceError):
    code = "invalid_request"
    status = 400


class InvalidGrant(ServiceError):
    code = "invalid_grant"
    status = 401
    default_description = "The credentials or refresh token are invalid, expired or revoked."


class InvalidToken(ServiceError):
    code = "invalid_token"
    status = 401
    default_description = "The access token is missing, invalid, expired or revoked."

    @property
    def headers(self) -> dict[str, str]:
        # RFC 6750 §3: a protected resource names the scheme it wants.
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


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


class Unavailable(_RetryableError):
    code = "unavailable"
    status = 503
    default_description = "The service is temporarily unavailable; try again shortly."

    def __init__(self, retry_after: int = 1, description: str | None = None) -> None:
        super().__init__(retry_after, description)
