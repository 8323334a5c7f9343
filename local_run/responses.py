"""What the local gateway answers itself, as API Gateway does: its response record, its
JSON messages, and the admin routes' refusal."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def forbidden() -> GatewayResponse:
    """The local run's answer to an admin request its credentials did not sign (the
    contract's error shape; API Gateway's own 403 says {"message": "Forbidden"})."""
    body = {
        "error": "forbidden",
        "error_description": "Sign the request with the local run's AWS credentials (SigV4).",
    }
    return GatewayResponse(403, [("Content-Type", "application/json")], json.dumps(body).encode())


def message(status: int, text: str) -> GatewayResponse:
    body = json.dumps({"message": text}).encode()
    return GatewayResponse(status, [("Content-Type", "application/json")], body)
