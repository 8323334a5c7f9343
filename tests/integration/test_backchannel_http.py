"""Back-channel logout's HTTP delivery (adapters/backchannel_http.py) against real apps on
loopback: the form it POSTs, the answers it takes and refuses, no redirect followed, and
each try ended by its timeout in all, whatever the app does: never answering, answering
a byte at a time, or trickling its TLS handshake."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from harness.sso_apps import BackchannelApp
from session_service.adapters.backchannel_http import HttpLogoutDelivery
from session_service.domain.sso.backchannel import DeliveryFailed

# Long enough for a trickling app's status line (0.85 s), not for its headers
TIMEOUT = 1.2
# How late past its timeout a try may end: the timer's thread, the socket's shutdown
LATE = 0.3


def _request(connection: socket.socket) -> bytes:
    """What the caller sent: its head and the body its Content-Length announces (a client
    may send them apart), or what came before a 0.2 s silence."""
    read = b""
    try:
        while True:
            head, separator, body = read.partition(b"\r\n\r\n")
            if separator:
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                if len(body) >= length:
                    return read
            chunk = connection.recv(65536)
            if not chunk:
                return read
            read += chunk
    except TimeoutError:
        return read


class RawApp:
    """A TCP server on loopback that keeps what it reads of each connection and answers
    with `answer` (bytes written at once) or `trickle` (one byte every 0.05 s, until the
    caller hangs up or the app stops)."""

    def __init__(self, answer: bytes = b"", trickle: bytes = b"") -> None:
        self.answer, self.trickle = answer, trickle
        self.requests: list[bytes] = []
        self._stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(0.2)
            self.requests.append(_request(connection))
            try:
                connection.sendall(self.answer)
                for byte in self.trickle * 1000:
                    if self._stopped.wait(0.05):
                        return
                    connection.sendall(bytes([byte]))
                self._stopped.wait()
            except OSError:  # the caller hung up
                return

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()


@pytest.fixture
def apps() -> Iterator[list[BackchannelApp | RawApp]]:
    running: list[BackchannelApp | RawApp] = []
    yield running
    for app in running:
        app.stop()


def timed_failure(uri: str) -> tuple[str, float]:
    """The reason a try of TIMEOUT seconds failed for, and how long it took."""
    started = time.monotonic()
    with pytest.raises(DeliveryFailed) as failed:
        HttpLogoutDelivery().post(uri, "the-token", TIMEOUT)
    return str(failed.value), time.monotonic() - started


def test_the_logout_token_is_posted_as_a_form_and_a_200_or_204_is_taken(
    apps: list[BackchannelApp | RawApp],
) -> None:
    app = BackchannelApp()
    apps.append(app)
    HttpLogoutDelivery().post(app.uri, "the-token", TIMEOUT)
    app.status = 204
    HttpLogoutDelivery().post(app.uri + "?app=1", "the-token", TIMEOUT)
    assert app.received == [{"logout_token": ["the-token"]}] * 2


def test_any_other_status_is_refused_and_a_redirect_is_not_followed(
    apps: list[BackchannelApp | RawApp],
) -> None:
    target = BackchannelApp()
    redirecting = RawApp(
        f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {target.uri}\r\n"
        "Content-Length: 0\r\n\r\n".encode()
    )
    apps.extend([target, redirecting])
    reason, _ = timed_failure(f"http://127.0.0.1:{redirecting.port}/logout")
    assert (reason, target.received) == ("HTTP 307", [])
    target.status = 503
    assert timed_failure(target.uri)[0] == "HTTP 503"
    request = redirecting.requests[0]
    head, body = request.split(b"\r\n\r\n", 1)
    assert head.split(b"\r\n")[0] == b"POST /logout HTTP/1.1"
    assert parse_qs(body.decode()) == {"logout_token": ["the-token"]}


def test_an_app_that_is_not_listening_is_refused_at_once() -> None:
    unused = socket.create_server(("127.0.0.1", 0))
    port = unused.getsockname()[1]
    unused.close()
    reason, took = timed_failure(f"http://127.0.0.1:{port}/logout")
    assert reason == "ConnectionRefusedError"
    assert took < TIMEOUT


@pytest.mark.parametrize("app_kind", ["hanging", "trickling"])
def test_an_app_that_never_finishes_its_answer_is_given_up_at_the_timeout(
    apps: list[BackchannelApp | RawApp], app_kind: str
) -> None:
    # Given an app that takes the request and never answers, or answers its head one
    # byte every 0.05 s (its status line, 200, then a header that never ends), so that no
    # read of the socket ever waits its timeout
    app = BackchannelApp(hang=app_kind == "hanging", trickle=app_kind == "trickling")
    apps.append(app)
    # When a try of 1.2 s is made
    reason, took = timed_failure(app.uri)
    # Then it ends at its timeout, as a timeout
    assert reason == "TimeoutError"
    assert TIMEOUT <= took < TIMEOUT + LATE
    assert len(app.received) == 1


def test_an_app_that_trickles_its_tls_handshake_is_given_up_at_the_timeout(
    apps: list[BackchannelApp | RawApp],
) -> None:
    # Given an https app whose handshake answer announces a long record, then sends it a
    # byte every 0.05 s
    app = RawApp(answer=b"\x16\x03\x03\x40\x00", trickle=b"\x02")
    apps.append(app)
    # When a try of 1.2 s is made, then it ends at its timeout, as a timeout
    reason, took = timed_failure(f"https://127.0.0.1:{app.port}/logout")
    assert reason == "TimeoutError"
    assert TIMEOUT <= took < TIMEOUT + LATE


def test_a_uri_that_is_not_http_is_refused_without_a_request() -> None:
    assert timed_failure("ftp://billing.example.test/logout")[0] == "ValueError"
