"""A function of another HTTP API behind the session service's exported authorizer (simple
responses, payload 2.0): the caller is in the authorizer's context, already verified, so
the function reads it and never sees the token.

Attach the authorizer to your API, and this function to its routes, as
examples/importer/template.yaml does (its GET /orders and POST /transfers reach it).
"""

from __future__ import annotations

import json
import time
from typing import Any

# A route that moves money, say, may ask for a sign-in this recent (RFC 9470).
RECENT_SECONDS = 900
SECOND_FACTORS = {"otp", "hwk", "swk"}


def lambda_handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    caller = event["requestContext"]["authorizer"]["lambda"]
    user_id, session_id = caller["sub"], caller["sid"]
    methods = set(str(caller.get("amr", "")).split())
    signed_in_at = int(caller.get("authTime", 0))
    if event.get("routeKey") == "POST /transfers":
        # The authorizer said who; what this route needs beyond that is this API's rule.
        if not methods & SECOND_FACTORS:
            return _answer(403, {"error": "a second factor is needed for transfers"})
        if time.time() - signed_in_at > RECENT_SECONDS:
            return _answer(401, {"error": "sign in again (POST /auth/reauth) to transfer"})
    return _answer(200, {"user_id": user_id, "session_id": session_id, "amr": sorted(methods)})


def _answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }
