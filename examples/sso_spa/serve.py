"""Serves the single-page app (index.html, app.js) and its settings (config.json) on a
loopback port: the app itself is plain JavaScript running in the browser, a public client
with no secret.

    ISSUER=http://127.0.0.1:3000 CLIENT_ID=... PORT=8002 python examples/sso_spa/serve.py

Register it first (POST /admin/clients, "type": "public") with redirect URI and
post-logout redirect URI http://127.0.0.1:PORT/, and start the service with that origin in
ALLOWED_ORIGINS (its token endpoint answers the page across origins): `make sso-demo` does
all of it.
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
FILES = {"/": ("index.html", "text/html"), "/app.js": ("app.js", "text/javascript")}


def handler(config: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    # The page's scripts are this origin's files, and it talks to the issuer only: tokens
    # in a page are worth what an injected script could do with them.
    policy = (
        f"default-src 'none'; script-src 'self'; connect-src 'self' {config['issuer']}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]  # the page itself comes back with ?code=...
            status, kind, body = 200, "application/json", json.dumps(config).encode()
            if path in FILES:
                name, kind = FILES[path]
                body = (HERE / name).read_bytes()
            elif path != "/config.json":
                status, kind, body = 404, "text/plain", b"not found"
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Security-Policy", policy)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            return

    return Handler


def main() -> None:
    port = int(os.environ.get("PORT", "8002"))
    config = {
        "issuer": os.environ["ISSUER"].rstrip("/"),
        "client_id": os.environ["CLIENT_ID"],
        "redirect_uri": f"http://127.0.0.1:{port}/",
        # The page refreshes its tokens this often, and on its Refresh button.
        "refresh_seconds": int(os.environ.get("REFRESH_SECONDS", "30")),
    }
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(config))
    print(f"SPA ready on {config['redirect_uri']}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
