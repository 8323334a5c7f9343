"""What the single sign-on tests and benchmarks play the apps with: PKCE's pair (RFC 7636
appendix B's example), and an app's back-channel logout endpoint, a real HTTP server on
loopback that keeps what it received and when, and answers the status it is told, or
never (`hang`: it takes the request and holds it until stopped)."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

PKCE_VERIFIER = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk"
PKCE_CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(PKCE_VERIFIER.encode()).digest()).rstrip(b"=").decode()
)


class BackchannelApp:
    """An app's back-channel logout endpoint, at `uri` until `stop()`."""

    def __init__(self, hang: bool = False) -> None:
        self.received: list[dict[str, list[str]]] = []
        # time.monotonic() of each request's arrival, in order
        self.received_at: list[float] = []
        self.status = 200
        self.hang = hang
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
                self.send_response(app.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        # A thread per request: a held request keeps no other from being answered.
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self.server.shutdown()
        self.server.server_close()
