"""PasswordChanged (from this service or an external directory) → end older sessions."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import wiring
from session_service.config import get_settings
from session_service.domain.activity import events
from session_service.observability import logger

get_settings()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return events.consume_password_changed(
        event,
        wiring.session_ending().end_sessions_before,
        wiring.dead_letter_queue(),
        now_ms=int(time.time() * 1000),
    )
