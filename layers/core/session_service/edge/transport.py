"""How tokens travel between the service and its clients: the refresh token in the body,
in a cookie or both, the device token likewise, and the CSRF defence of requests a cookie
authenticates (SuperTokens keeps this apart from the session logic too)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from session_service.domain.errors import Forbidden
from session_service.edge.http import header, json_response

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.shared.cookies import Cookie

    from session_service.domain.sessions.session_records import IssuedTokens

# Cookie mode: the refresh token lives where scripts cannot read it. __Host- makes the
# browser insist on Secure, Path=/ and no Domain.
REFRESH_COOKIE = "__Host-refresh_token"
# Cookie mode's device token (devices): a known device, for the login throttle.
DEVICE_COOKIE = "__Host-device_token"
# A request authenticated by that cookie must carry this header: a page of another origin
# can only add it after a CORS preflight that our allow-list refuses.
CSRF_HEADER = "X-Requested-With"


@dataclass(frozen=True, slots=True)
class RefreshTransport:
    mode: str  # body, cookie or both
    allowed_origins: tuple[str, ...]

    @property
    def uses_cookie(self) -> bool:
        return self.mode in ("cookie", "both")

    @property
    def uses_body(self) -> bool:
        return self.mode in ("body", "both")


def request_cookie(event: Mapping[str, Any], name: str) -> str | None:
    for cookie in event.get("cookies") or ():
        key, _, value = str(cookie).partition("=")
        if key.strip() == name:
            return value.strip()
    return None


def presented_refresh_token(
    event: Mapping[str, Any], body_token: str | None, transport: RefreshTransport
) -> str | None:
    """The refresh token of this request: from the body where the body may carry it, else
    from the cookie, which is only believed from an allowed origin with the CSRF header."""
    if body_token and transport.uses_body:
        return body_token
    cookie = request_cookie(event, REFRESH_COOKIE) if transport.uses_cookie else None
    if not cookie:
        return None
    headers = event.get("headers")
    if header(headers, "origin") not in transport.allowed_origins:
        raise Forbidden("A cookie-authenticated request must come from an allowed origin.")
    if not header(headers, CSRF_HEADER):
        raise Forbidden(f"A cookie-authenticated request must carry the {CSRF_HEADER} header.")
    return cookie


def presented_device_token(
    event: Mapping[str, Any], body_token: str | None, transport: RefreshTransport
) -> str | None:
    """The device token of a login: from the body where the body carries tokens, else the
    device cookie. (It authenticates nothing; it only lets a device count on its own.)"""
    if body_token and transport.uses_body:
        return body_token
    return request_cookie(event, DEVICE_COOKIE) if transport.uses_cookie else None


def replaced_session(event: Mapping[str, Any], transport: RefreshTransport) -> str | None:
    """A browser that signs in again replaces its session (its refresh cookie's): the old
    one ends once the new one starts."""
    return request_cookie(event, REFRESH_COOKIE) if transport.uses_cookie else None


def check_browser_origin(event: Mapping[str, Any], transport: RefreshTransport) -> None:
    """Before setting the refresh cookie (login): a browser's request must come from an
    allowed origin with the CSRF header, or a page elsewhere could post a login form and
    plant its own account's session in the victim's browser (login CSRF). Requests without
    an Origin are not a browser's and set nothing a browser keeps."""
    if not transport.uses_cookie:
        return
    headers = event.get("headers")
    origin = header(headers, "origin")
    if origin is None:
        return
    if origin not in transport.allowed_origins or not header(headers, CSRF_HEADER):
        raise Forbidden(
            f"A browser login must come from an allowed origin with the {CSRF_HEADER} header."
        )


def refresh_cookie(token: str, max_age: int, name: str = REFRESH_COOKIE) -> Cookie:
    from aws_lambda_powertools.shared.cookies import Cookie, SameSite  # noqa: PLC0415

    return Cookie(
        name=name,
        value=token,
        path="/",
        secure=True,
        http_only=True,
        max_age=max_age,
        same_site=SameSite.STRICT_MODE,
    )


def cleared_refresh_cookie() -> Cookie:
    return refresh_cookie("", 0)


@dataclass(frozen=True, slots=True)
class DeviceCredential:
    value: str
    max_age: int


def token_response(
    body: dict[str, Any],
    refresh_expires_in: int,
    transport: RefreshTransport,
    device: DeviceCredential | None = None,
) -> Response[Any]:
    """A token response: in cookie mode the refresh token (and the device token) leave
    the body for cookies."""
    cookies = None
    if transport.uses_cookie:
        cookies = [refresh_cookie(str(body["refresh_token"]), refresh_expires_in)]
        if device is not None:
            cookies.append(refresh_cookie(device.value, device.max_age, DEVICE_COOKIE))
    if device is not None and transport.uses_body:
        body = {**body, "device_token": device.value}
    if not transport.uses_body:
        body = {key: value for key, value in body.items() if key != "refresh_token"}
    return json_response(200, body, cookies=cookies)


def issued_response(issued: IssuedTokens, transport: RefreshTransport) -> Response[Any]:
    """The token response of a sign-in, refresh or step-up."""
    body = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
        "refresh_expires_in": issued.refresh_expires_in,
        "session_id": issued.session.session_id,
    }
    device = DeviceCredential(issued.device.value, issued.device.max_age) if issued.device else None
    return token_response(body, issued.refresh_expires_in, transport, device)


def logged_out_response(transport: RefreshTransport) -> Response[Any]:
    cookies = [cleared_refresh_cookie()] if transport.uses_cookie else None
    return json_response(204, None, cookies=cookies)
