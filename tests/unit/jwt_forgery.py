"""Building blocks for forged and malformed JWTs."""

from __future__ import annotations

import base64
import json
from typing import Any


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS with whatever header, claims and signature bytes we like."""
    header_part, claims_part = (b64url(json.dumps(part).encode()) for part in (header, claims))
    return f"{header_part}.{claims_part}.{b64url(signature)}"
