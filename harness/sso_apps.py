"""What the single sign-on tests and benchmarks play the apps with: PKCE's pair (RFC 7636
appendix B's example), and an app's back-channel logout endpoint, a real HTTP server on
loopback that keeps what it received and when, and answers the status it is told, or
never (`hang`: it takes the request and holds it until stopped), or a byte at a time
(`trickle`: its answer's head, one byte every TRICKLE_SECONDS, never ending, until
stopped or the caller hangs up)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

PKCE_VERIFIER = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk"
TRICKLE_SECONDS = 0.05
PKCE_CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(PKCE_VERIFIER.encode()).digest()).rstrip(b"=").decode()
)


class _Server(ThreadingHTTPServer):
    # A batch's deliveries connect at once: with the default backlog (5), the connections
    # beyond it wait for the client's SYN to be sent again, a second later.
    request_queue_size = 128


class BackchannelApp:
    """An app's back-channel logout endpoint, at `uri` until `stop()`."""

    def __init__(self, hang: bool = False, trickle: bool = False) -> None:
        self.received: list[dict[str, list[str]]] = []
        # time.monotonic() of each request's arrival, in order
        self.received_at: list[float] = []
        self.status = 200
        self.hang = hang
        self.trickle = trickle
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                form = parse_qs(self.rfile.read(length).decode())
                with app._lock:
                    app.received.append(form)
                    app.received_at.append(time.monotonic())
                if app.hang:
                    app._stopped.wait()
                    return
                if app.trickle:
                    self._trickle()
                    return
                self.send_response(app.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _trickle(self) -> None:
                head = b"HTTP/1.1 200 OK\r\nX-Slowly: "
                try:
                    for index in itertools.count():
                        if app._stopped.wait(TRICKLE_SECONDS):
                            return
                        self.wfile.write(head[index : index + 1] if index < len(head) else b"z")
                except OSError:  # the caller hung up
                    return

            def log_message(self, *_: Any) -> None:
                return

        # A thread per request: a held request keeps no other from being answered.
        self.server = _Server(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self.server.shutdown()
        self.server.server_close()
