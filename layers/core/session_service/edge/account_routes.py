"""Registering, logging in (the password step, then the second step), step-up and changing the
password: parse, call one domain function, shape the answer. A router the API's resolver
includes (functions/api/app.py)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.errors import InvalidGrant
from session_service.domain.flows.password_flows import LoginRequest, PasswordChange
from session_service.domain.flows.second_step import SecondStepRequest
from session_service.domain.flows.step_up import PasskeyReauthCall, ReauthCall
from session_service.domain.sessions.session_records import IssuedTokens
from session_service.edge import http, transport
from session_service.edge.api_context import ApiContext
from session_service.edge.email_schemas import RegisterRequest
from session_service.edge.passkey_schemas import browser_json
from session_service.edge.schemas import (
    LoginBody,
    MfaCodeLogin,
    MfaLoginRequest,
    PasswordChangeRequest,
    ReauthBody,
    RegisterResponse,
    TokenResponse,
    responses,
)


def account_router(context: ApiContext) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    rules, services, mode = context.rules, context.services, context.refresh_transport

    def tokens(issued: IssuedTokens) -> Response[TokenResponse]:
        return transport.issued_response(issued, mode)

    @router.post(
        "/auth/register",
        responses=responses(RegisterResponse, 400, 409, status=201, description="Registered"),
    )
    def register(body: Annotated[RegisterRequest, Body()]) -> Response[RegisterResponse]:
        ip = http.client_info(router.current_event.raw_event).ip
        # With an address: checked first (409 while e-mail is off), written with the account.
        create = None
        if body.email is not None:
            create = services.email().addresses.account_creator(body.email, ip)
        user_id = services.accounts().register(body.username, body.password, ip, create)
        return http.json_response(201, RegisterResponse(user_id=user_id).model_dump())

    @router.post("/auth/login", responses=responses(TokenResponse, 400, 401, 409, 429))
    def login(body: Annotated[LoginBody, Body()]) -> Response[TokenResponse]:
        event = router.current_event.raw_event
        transport.check_browser_origin(event, mode)
        replaced = transport.replaced_session(event, mode)
        request = LoginRequest(
            username=body.username,
            password=body.password,
            client=http.client_info(event),
            device_token=transport.presented_device_token(event, body.device_token, mode),
            replaces=replaced,
        )
        return tokens(services.accounts().login(request))

    @router.post("/auth/login/mfa", responses=responses(TokenResponse, 400, 401, 409, 429))
    def login_with_code(body: Annotated[MfaLoginRequest, Body()]) -> Response[TokenResponse]:
        event = router.current_event.raw_event
        transport.check_browser_origin(event, mode)
        replaced = transport.replaced_session(event, mode)
        client = http.client_info(event)
        if isinstance(body, MfaCodeLogin):
            request = SecondStepRequest(body.mfa_token, client, code=body.code, replaces=replaced)
        else:
            request = SecondStepRequest(
                body.mfa_token,
                client,
                ceremony_id=body.ceremony_id,
                credential=browser_json(body.credential),
                replaces=replaced,
            )
        return tokens(services.second_step().complete(request))

    @router.post(
        "/auth/reauth",
        security=http.BEARER_SECURITY,
        responses=responses(TokenResponse, 400, 401, 429),
    )
    def reauthenticate(body: Annotated[ReauthBody, Body()]) -> Response[TokenResponse]:
        event = router.current_event.raw_event
        transport.check_browser_origin(event, mode)
        caller = rules.caller(event, enrolling=True)
        if body.credential is not None and body.ceremony_id is not None:
            passkey_call = PasskeyReauthCall(
                user_id=caller.user_id,
                username=caller.username,
                session_id=caller.session_id,
                ceremony_id=body.ceremony_id,
                credential=browser_json(body.credential),
                client=http.client_info(event),
            )
            return tokens(services.step_up().with_passkey(passkey_call))
        if body.password is None:
            raise InvalidGrant("The password (and code), or a passkey's assertion, is required.")
        call = ReauthCall(
            user_id=caller.user_id,
            username=caller.username,
            session_id=caller.session_id,
            password=body.password,
            code=body.code,
            client=http.client_info(event),
        )
        return tokens(services.step_up().with_password(call))

    @router.post(
        "/auth/password",
        security=http.BEARER_SECURITY,
        responses=responses(TokenResponse, 400, 401, 403, 409, 429),
    )
    def change_password(body: Annotated[PasswordChangeRequest, Body()]) -> Response[TokenResponse]:
        event = router.current_event.raw_event
        caller = rules.caller(event, recent=True)
        change = PasswordChange(
            caller=rules.factor_change(caller),
            session_id=caller.session_id,
            current_password=body.current_password,
            new_password=body.new_password,
            client=http.client_info(event),
        )
        return tokens(services.accounts().change_password(change))

    return router
