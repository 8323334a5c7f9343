"""Back-channel logout over HTTP (LogoutDelivery): a form POST of the logout token to the
app's registered URI, following no redirect (a redirect could point the service's own
network position at an address the admin never registered), within the time the domain
gives each try, in all. A socket's timeout bounds one operation only: an app that answers
a byte at a time (or trickles its TLS handshake) would hold the thread for ever, so each
of the host's addresses is tried within the time left, and a timer shuts the socket at
the deadline, whatever step the request is at. Name resolution is the resolver's (on
Lambda, milliseconds), not bounded here."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from urllib.parse import urlencode, urlsplit, urlunsplit

from session_service.domain.sso.backchannel import DeliveryFailed

# One context for every thread (wrapping a socket leaves it unchanged): certificates
# checked against the system's authorities, and the host name.
_TLS = ssl.create_default_context()


class HttpLogoutDelivery:
    def post(self, uri: str, logout_token: str, timeout: float) -> None:
        try:
            connection = _Connection(uri, time.monotonic() + timeout)
        except ValueError as failed:
            raise DeliveryFailed(type(failed).__name__) from None
        alarm = threading.Timer(timeout, connection.abort)
        alarm.daemon = True
        alarm.start()
        try:
            connection.request(
                "POST",
                connection.target,
                urlencode({"logout_token": logout_token}),
                {"Content-Type": "application/x-www-form-urlencoded", "Connection": "close"},
            )
            status = connection.getresponse().status
            if connection.aborted:  # the head cut short: its end of file ends the headers
                raise TimeoutError
        except (OSError, http.client.HTTPException, ValueError) as failed:
            # What the socket said once shut by the timer (an end of file, a reset) is the
            # deadline's doing; otherwise the exception's name (never its text, which may
            # hold the URI): TimeoutError, ConnectionRefusedError, SSLCertVerificationError
            reason = "TimeoutError" if connection.aborted else type(failed).__name__
            raise DeliveryFailed(reason) from None
        finally:
            alarm.cancel()
            connection.close()
        if status not in (200, 204):
            raise DeliveryFailed(f"HTTP {status}")


class _Connection(http.client.HTTPConnection):
    """One POST's connection (http, or https with _TLS), every step of it within the
    deadline (time.monotonic()); abort() ends whatever step it is at."""

    def __init__(self, uri: str, deadline: float) -> None:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an http or https URI is needed")
        self.tls = parts.scheme == "https"
        self.default_port = 443 if self.tls else 80  # the Host header names no other
        super().__init__(parts.hostname, parts.port or self.default_port)
        self.target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        self.deadline = deadline
        self.aborted = False

    def connect(self) -> None:
        """Each of the host's addresses within the time left (socket.create_connection
        would give each the whole timeout), then TLS; the socket is abort()'s to shut
        from its creation on."""
        failure: OSError = TimeoutError()
        for family, kind, proto, _, address in socket.getaddrinfo(
            self.host, self.port, type=socket.SOCK_STREAM
        ):
            sock = self._hold(socket.socket(family, kind, proto))
            try:
                sock.settimeout(self._left())
                sock.connect(address)
            except OSError as failed:
                sock.close()
                failure = failed
                continue
            break
        else:
            raise failure
        if self.tls:
            wrapped = _TLS.wrap_socket(
                sock, server_hostname=self.host, do_handshake_on_connect=False
            )
            self._hold(wrapped).do_handshake()

    def abort(self) -> None:
        """The deadline: whatever the socket is waiting for ends now (a blocked read
        sees the end of the stream)."""
        # Marked before the shutdown, and _hold marks the socket before it reads the mark:
        # a socket held at the same moment is either shut here or refused there.
        self.aborted = True
        sock = self.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # closed already, or never connected
                # The plain socket's shutdown, on TLS's too: TLS's own would unwrap it
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _hold[S: socket.socket](self, sock: S) -> S:
        self.sock = sock
        if self.aborted:
            raise TimeoutError
        return sock

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left
