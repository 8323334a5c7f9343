"""HTTP calls with a TOTAL deadline, for the service's outbound calls to addresses others
chose (back-channel logouts to apps, upstream identity providers). A socket's timeout
bounds one operation only: a server that answers a byte at a time (or trickles its TLS
handshake) would hold the thread for ever, so each of the host's addresses is tried within
the time left, and a timer shuts the socket at the deadline, whatever step the request is
at. No redirect is followed (one could point the service's own network position at an
address nobody registered), TLS is verified, and an answer longer than its cap is refused.
Name resolution is the resolver's (on Lambda, milliseconds), not bounded here."""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from session_service.domain.sso.redirect_uris import LOOPBACK_HOSTS

# An answer's body beyond this is refused: discovery documents and JWKS are a few KiB.
MAX_BYTES = 512 * 1024

# Where plain http may go: nowhere, loopback hosts only (the local run and tests), or any
# host (a caller whose URIs were already held to that rule when they were registered).
PlainHttp = Literal["never", "loopback", "any"]

# One context for every thread (wrapping a socket leaves it unchanged): certificates
# checked against the system's authorities, and the host name.
_TLS = ssl.create_default_context()


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    # Header names in lower case (the last of a repeated header)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class HttpFailed(Exception):
    """No answer within the deadline, or no connection. `reason` is an exception's class
    name (TimeoutError, ConnectionRefusedError, SSLCertVerificationError), never its text,
    which may hold the URI."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AnswerTooLarge(Exception):
    """The answer's body is longer than the caller's cap: not read further."""


def send(
    method: str,
    uri: str,
    timeout: float,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    plain_http: PlainHttp = "never",
    max_bytes: int = MAX_BYTES,
) -> Response:
    """One request, answered within `timeout` seconds in all (else HttpFailed). The body
    is read up to `max_bytes` (AnswerTooLarge beyond it; 0: not read at all). A URI that
    is not http(s), or http where `plain_http` does not allow it, is a ValueError before
    any connection."""
    connection = _Connection(uri, time.monotonic() + timeout, plain_http)
    alarm = threading.Timer(timeout, connection.abort)
    alarm.daemon = True
    alarm.start()
    try:
        connection.request(
            method, connection.target, body, {**(headers or {}), "Connection": "close"}
        )
        answer = connection.getresponse()
        if connection.aborted:  # the head cut short: its end of file ends the headers
            raise TimeoutError
        read = _body(answer, max_bytes)
        if connection.aborted:  # a body without a length ends at the shutdown's end of file
            raise TimeoutError
    except (OSError, http.client.HTTPException, ValueError) as failed:
        # What the socket said once shut by the timer (an end of file, a reset) is the
        # deadline's doing; otherwise the exception's name
        raise HttpFailed("TimeoutError" if connection.aborted else type(failed).__name__) from None
    finally:
        alarm.cancel()
        connection.close()
    return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, read)


class Http(Protocol):
    """GET and form POST within a timeout in all: BoundedHttp, or a test's fake."""

    def get(
        self, uri: str, timeout: float, headers: Mapping[str, str] | None = None
    ) -> Response: ...

    def post_form(
        self,
        uri: str,
        fields: Mapping[str, str],
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> Response: ...


class BoundedHttp:
    """GET for JSON and POST of a form, each within its timeout in all; plain http only
    to loopback hosts, and only when `allow_loopback_http` (the local run, the tests)."""

    def __init__(self, allow_loopback_http: bool = False, max_bytes: int = MAX_BYTES) -> None:
        self._plain_http: PlainHttp = "loopback" if allow_loopback_http else "never"
        self._max_bytes = max_bytes

    def get(self, uri: str, timeout: float, headers: Mapping[str, str] | None = None) -> Response:
        return send(
            "GET",
            uri,
            timeout,
            headers={"Accept": "application/json", **(headers or {})},
            plain_http=self._plain_http,
            max_bytes=self._max_bytes,
        )

    def post_form(
        self,
        uri: str,
        fields: Mapping[str, str],
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        return send(
            "POST",
            uri,
            timeout,
            urlencode(fields).encode(),
            {
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
                **(headers or {}),
            },
            plain_http=self._plain_http,
            max_bytes=self._max_bytes,
        )


def uri_allowed(uri: str, plain_http: PlainHttp) -> bool:
    """Whether `send` would try the URI: https, or http where `plain_http` allows it."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        _ = parts.port  # a port that is not a number is a ValueError
    except ValueError:
        return False
    if not host or parts.scheme not in ("http", "https"):
        return False
    if parts.scheme == "https" or plain_http == "any":
        return True
    return plain_http == "loopback" and (f"[{host}]" if ":" in host else host) in LOOPBACK_HOSTS


def _body(answer: http.client.HTTPResponse, max_bytes: int) -> bytes:
    if max_bytes == 0:
        return b""
    length = answer.getheader("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise AnswerTooLarge
    read = answer.read(max_bytes + 1)
    if len(read) > max_bytes:
        raise AnswerTooLarge
    return read


class _Connection(http.client.HTTPConnection):
    """One request's connection (http, or https with _TLS), every step of it within the
    deadline (time.monotonic()); abort() ends whatever step it is at."""

    def __init__(self, uri: str, deadline: float, plain_http: PlainHttp) -> None:
        if not uri_allowed(uri, plain_http):
            raise ValueError("an https URI is needed (http only where allowed)")
        parts = urlsplit(uri)
        self.tls = parts.scheme == "https"
        self.default_port = 443 if self.tls else 80  # the Host header names no other
        super().__init__(parts.hostname or "", parts.port or self.default_port)
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
