"""Back-channel logout over HTTP (LogoutDelivery): a form POST of the logout token to the
app's registered URI, through bounded_http: no redirect followed, the whole try within the
time the domain gives it, whatever the app does (never answering, answering a byte at a
time, trickling its TLS handshake)."""

from __future__ import annotations

from urllib.parse import urlencode

from session_service.adapters.bounded_http import HttpFailed, send
from session_service.domain.sso.backchannel import DeliveryFailed


class HttpLogoutDelivery:
    def post(self, uri: str, logout_token: str, timeout: float) -> None:
        try:
            status = send(
                "POST",
                uri,
                timeout,
                urlencode({"logout_token": logout_token}).encode(),
                {"Content-Type": "application/x-www-form-urlencoded"},
                # The registered URI is https, or http on loopback (redirect_uris); whether
                # loopback is told at all is the domain's choice (deliver_to_loopback).
                plain_http="any",
                max_bytes=0,  # only the status is read: an app's body is not waited for
            ).status
        except ValueError as failed:
            raise DeliveryFailed(type(failed).__name__) from None
        except HttpFailed as failed:
            raise DeliveryFailed(failed.reason) from None
        if status not in (200, 204):
            raise DeliveryFailed(f"HTTP {status}")
