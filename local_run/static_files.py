"""The local run's static files (the demo page, at /demo/): served from a directory with a
strict Content-Security-Policy and fixed content types. Local only: API Gateway serves no
files, and the template deploys none."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote

from local_run.responses import GatewayResponse, message

# Static pages of the local run only (the demo): no inline script, nothing from elsewhere.
STATIC_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; base-uri 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-cache"),
]
# Fixed, whatever the machine's /etc/mime.types says (nosniff makes a wrong one fatal).
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def static_file(static: Mapping[str, Path], path: str) -> GatewayResponse | None:
    """A file of a static prefix (the demo page), GET and HEAD only; None off them."""
    for prefix, directory in static.items():
        if path == prefix.rstrip("/"):
            return GatewayResponse(308, [("Location", prefix)], b"")
        if not path.startswith(prefix):
            continue
        root = directory.resolve()
        name = unquote(path.removeprefix(prefix)) or "index.html"
        file = (root / name).resolve() if "\0" not in name else root
        if not file.is_relative_to(root) or not file.is_file():
            return message(404, "Not Found")
        content_type = STATIC_TYPES.get(file.suffix, "application/octet-stream")
        headers = [("Content-Type", content_type), *STATIC_HEADERS]
        return GatewayResponse(200, headers, file.read_bytes())
    return None
