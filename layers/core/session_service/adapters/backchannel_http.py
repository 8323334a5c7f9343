"""Back-channel logout over HTTP (LogoutDelivery): a form POST of the logout token to the
app's registered URI, within the time the domain gives each try, following no redirect (a
redirect could point the service's own network position at an address the admin never
registered). One opener for every thread: urllib's opener keeps no state per request."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from session_service.domain.sso.backchannel import DeliveryFailed


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: ARG002 - none followed
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class HttpLogoutDelivery:
    def post(self, uri: str, logout_token: str, timeout: float) -> None:
        request = urllib.request.Request(  # noqa: S310 - https, or loopback http (registered)
            uri,
            data=urlencode({"logout_token": logout_token}).encode(),
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with _OPENER.open(request, timeout=timeout) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as refused:
            raise DeliveryFailed(f"HTTP {refused.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as failed:
            raise DeliveryFailed(_reason(failed)) from None
        if status not in (200, 204):
            raise DeliveryFailed(f"HTTP {status}")


def _reason(failed: Exception) -> str:
    """What went wrong, by the exception's name (never its text, which may hold the URI):
    urllib wraps what the socket said (TimeoutError, ConnectionRefusedError) in a URLError."""
    cause = failed.reason if isinstance(failed, urllib.error.URLError) else failed
    return type(cause).__name__ if isinstance(cause, BaseException) else type(failed).__name__
