"""The admin API's audit trail: one log line for every call, whatever its outcome (a lookup,
a refusal, a request that never passed IAM), naming who signed it. API Gateway leaves no
record of an invocation in CloudTrail, so this line is the record."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from session_service.edge.authorization import admin_identity
from session_service.observability import logger

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def audited(handler: Handler) -> Handler:
    """The admin function's handler, writing the audit line of each call it answers."""

    @functools.wraps(handler)
    def audited_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            response = handler(event, context)
        except Exception:
            # Lambda answers API Gateway's 500 for it; the call is recorded all the same.
            logger.info("admin call", **audit_record(event, {"statusCode": 500}))
            raise
        logger.info("admin call", **audit_record(event, response))
        return response

    return audited_handler


def audit_record(event: Mapping[str, Any], response: Mapping[str, Any]) -> dict[str, Any]:
    """What the line says: the signer (as API Gateway reported them, checked or not), the
    route and what it was asked for, and the answer. Never a header (the Authorization
    header carries the signature) nor the query string (a presigned request carries its
    signature and session token there), only the username a lookup asked for."""
    caller = admin_identity(event)
    context = event.get("requestContext") or {}
    query = event.get("queryStringParameters") or {}
    status = int(response.get("statusCode") or 0)
    record: dict[str, Any] = {
        "caller": caller.user_arn if caller else None,
        "caller_account": caller.account_id if caller else None,
        # An access key id names the credentials used (so a leaked key can be found and
        # revoked); it is not a secret, and CloudTrail records it too.
        "access_key_id": caller.access_key if caller else None,
        "method": (context.get("http") or {}).get("method"),
        "route": event.get("routeKey"),
        "path": event.get("rawPath"),
        "username": query.get("username"),
        "status": status,
    }
    if status >= 400:
        record["error"] = _error_code(response.get("body"))
    return record


def _error_code(body: Any) -> str | None:
    try:
        document = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        return None
    return str(document.get("error")) if isinstance(document, dict) else None
