"""E-mail (contract v3): the account's address and its verification, account recovery,
and sign-in by an e-mailed code: parse, call one domain function, shape the answer. A
router the API's resolver includes (functions/api/app.py)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.flows.recovery import ResetRequest
from session_service.domain.models import rfc3339
from session_service.edge import http, transport
from session_service.edge.api_context import ApiContext
from session_service.edge.email_schemas import (
    AccountResponse,
    EmailCodeRequest,
    EmailLoginRequest,
    EmailLoginStart,
    EmailRequest,
    ForgotByUsername,
    ForgotRequest,
    LoginIdResponse,
    ResetRequestBody,
    account_body,
)
from session_service.edge.passkey_schemas import browser_json
from session_service.edge.schemas import TokenResponse, responses


def email_router(context: ApiContext) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    rules, services, mode = context.rules, context.services, context.refresh_transport

    def accepted(body: Any = None) -> Response[Any]:
        return http.json_response(202, body if body is not None else {})

    @router.get(
        "/auth/account", security=http.BEARER_SECURITY, responses=responses(AccountResponse, 401)
    )
    def account() -> Response[AccountResponse]:
        caller = rules.caller(router.current_event.raw_event)
        view = services.email().addresses.account(caller.user_id, caller.username)
        pending = view.pending
        verified = view.profile.email
        return http.json_response(
            200,
            account_body(
                user_id=view.profile.user_id,
                username=view.profile.username,
                email=verified or (pending.address if pending else None),
                email_verified=verified is not None,
                mfa=bool(view.credential and view.credential.totp),
                passkeys=view.credential.passkeys if view.credential else 0,
                identities=view.credential.identities if view.credential else 0,
                created_at=rfc3339(view.profile.created_at),
            ),
        )

    @router.post(
        "/auth/email",
        security=http.BEARER_SECURITY,
        responses=responses(None, 400, 401, 409, 429, status=202, description="Code mailed"),
    )
    def add_email(body: Annotated[EmailRequest, Body()]) -> Response[Any]:
        event = router.current_event.raw_event
        caller = rules.caller(event, recent=True)
        services.email().addresses.request_verification(
            rules.factor_change(caller), body.email, http.client_info(event).ip
        )
        return accepted()

    @router.post(
        "/auth/email/verify",
        security=http.BEARER_SECURITY,
        responses=responses(None, 400, 401, 409, status=204, description="Address verified"),
    )
    def verify_email(body: Annotated[EmailCodeRequest, Body()]) -> Response[None]:
        caller = rules.caller(router.current_event.raw_event)
        services.email().addresses.verify(rules.factor_change(caller), body.code)
        return http.json_response(204, None)

    @router.post(
        "/auth/password/forgot",
        responses=responses(None, 400, 409, status=202, description="Asked for"),
    )
    def forgot_password(body: Annotated[ForgotRequest, Body()]) -> Response[Any]:
        ip = http.client_info(router.current_event.raw_event).ip
        if isinstance(body, ForgotByUsername):
            services.email().recovery.forgot(body.username, None, ip)
        else:
            services.email().recovery.forgot(None, body.email, ip)
        return accepted()

    @router.post("/auth/password/reset", responses=responses(TokenResponse, 400, 401, 409, 429))
    def reset_password(body: Annotated[ResetRequestBody, Body()]) -> Response[TokenResponse]:
        event = router.current_event.raw_event
        transport.check_browser_origin(event, mode)
        request = ResetRequest(
            replaces=transport.replaced_session(event, mode),
            reset_token=body.reset_token,
            new_password=body.new_password,
            client=http.client_info(event),
            code=body.code,
            ceremony_id=body.ceremony_id,
            credential=browser_json(body.credential) if body.credential else None,
        )
        return transport.issued_response(services.email().recovery.reset(request), mode)

    @router.post(
        "/auth/email/login/start",
        responses=responses(LoginIdResponse, 400, 409, status=202, description="Code mailed"),
    )
    def start_email_login(body: Annotated[EmailLoginStart, Body()]) -> Response[Any]:
        ip = http.client_info(router.current_event.raw_event).ip
        login_id = services.email().sign_in.start(body.email, ip)
        return accepted(LoginIdResponse(login_id=login_id).model_dump())

    @router.post("/auth/email/login", responses=responses(TokenResponse, 400, 401, 409, 429))
    def email_login(body: Annotated[EmailLoginRequest, Body()]) -> Response[TokenResponse]:
        event = router.current_event.raw_event
        transport.check_browser_origin(event, mode)
        issued = services.email().sign_in.complete(
            body.login_id,
            body.code,
            http.client_info(event),
            replaces=transport.replaced_session(event, mode),
        )
        return transport.issued_response(issued, mode)

    return router
