"""Back-channel logout over HTTP (LogoutDelivery): a form POST of the logout token to the
app's registered URI, within a time budget, following no redirect (a redirect could point
the service's own network position at an address the admin never registered)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from session_service.domain.sso.backchannel import DeliveryFailed

TIMEOUT_SECONDS = 2.0


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: ARG002 - none followed
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class HttpLogoutDelivery:
    def __init__(self, timeout: float = TIMEOUT_SECONDS) -> None:
        self._timeout = timeout

    def post(self, uri: str, logout_token: str) -> None:
        request = urllib.request.Request(  # noqa: S310 - https, or loopback http (registered)
            uri,
            data=urlencode({"logout_token": logout_token}).encode(),
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        try:
            with _OPENER.open(request, timeout=self._timeout) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as refused:
            raise DeliveryFailed(f"HTTP {refused.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as failed:
            raise DeliveryFailed(type(failed).__name__) from None
        if status not in (200, 204):
            raise DeliveryFailed(f"HTTP {status}")
