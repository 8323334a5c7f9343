"""Turning TOTP on (a secret, then a code that confirms it) and off: parse, call one domain
function, shape the answer. A router the API's resolver includes (functions/api/app.py)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.errors import Conflict
from session_service.edge import http
from session_service.edge.api_context import ApiContext
from session_service.edge.schemas import (
    RecoveryCodesResponse,
    TotpCodeRequest,
    TotpSetupResponse,
    responses,
)


def totp_router(context: ApiContext) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    rules, services = context.rules, context.services

    @router.post(
        "/auth/mfa/totp",
        security=http.BEARER_SECURITY,
        responses=responses(TotpSetupResponse, 401, 403, 409),
    )
    def begin_totp() -> TotpSetupResponse:
        caller = rules.caller(router.current_event.raw_event, recent=True, enrolling=True)
        setup = services.second_factors().begin_totp(rules.factor_change(caller))
        return TotpSetupResponse(secret=setup.secret, otpauth_uri=setup.otpauth_uri)

    @router.post(
        "/auth/mfa/totp/confirm",
        security=http.BEARER_SECURITY,
        responses=responses(RecoveryCodesResponse, 400, 401, 403, 409),
    )
    def confirm_totp(body: Annotated[TotpCodeRequest, Body()]) -> RecoveryCodesResponse:
        event = router.current_event.raw_event
        caller = rules.caller(event, enrolling=True)
        codes = services.accounts().confirm_totp(
            rules.factor_change(caller), caller.session_id, body.code, http.client_info(event)
        )
        return RecoveryCodesResponse(recovery_codes=codes)

    @router.delete(
        "/auth/mfa/totp",
        security=http.BEARER_SECURITY,
        responses=responses(None, 401, 403, 409, status=204, description="TOTP turned off"),
    )
    def disable_totp() -> Response[None]:
        caller = rules.caller(router.current_event.raw_event, recent=True)
        if rules.mfa_required:
            raise Conflict("MFA_POLICY=required: the second factor cannot be turned off.")
        services.second_factors().disable_totp(rules.factor_change(caller))
        return http.json_response(204, None)

    return router
