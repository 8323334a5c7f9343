"""What the single sign-on tests and benchmarks play the apps with: PKCE's pair (RFC 7636
appendix B's example), and an app's back-channel logout endpoint, a real HTTP server on
loopback that keeps what it received and answers the status it is told."""

from __future__ import annotations

import base64
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs

PKCE_VERIFIER = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk"
PKCE_CHALLENGE = (
    base64.urlsafe_b64encode(hashlib.sha256(PKCE_VERIFIER.encode()).digest()).rstrip(b"=").decode()
)


class BackchannelApp:
    """An app's back-channel logout endpoint, at `uri` until `stop()`."""

    def __init__(self) -> None:
        self.received: list[dict[str, list[str]]] = []
        self.status = 200
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                app.received.append(parse_qs(self.rfile.read(length).decode()))
                self.send_response(app.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/backchannel-logout"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
