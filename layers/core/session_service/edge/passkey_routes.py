"""The passkey routes: parse, call one domain function, shape the answer. A router the
API's resolver includes; the domain objects come from the composition root, passed in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.models import Passkey, rfc3339
from session_service.edge import http, transport
from session_service.edge.api_context import ApiContext
from session_service.edge.passkey_schemas import (
    CreationOptionsResponse,
    PasskeyCreatedResponse,
    PasskeyRegistrationRequest,
    PasskeyRenameRequest,
    PasskeySignInOptionsRequest,
    PasskeySignInRequest,
    PasskeysResponse,
    PasskeyView,
    RequestOptionsResponse,
    browser_json,
)
from session_service.edge.schemas import TokenResponse, responses

if TYPE_CHECKING:
    pass


def passkey_router(context: ApiContext) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    rules, services = context.rules, context.services

    @router.post(
        "/auth/passkeys/registration/options",
        security=http.BEARER_SECURITY,
        responses=responses(CreationOptionsResponse, 401, 403, 409),
    )
    def passkey_registration_options() -> CreationOptionsResponse:
        # Part of enrolling a second factor (MFA_POLICY=required lets it through).
        caller = rules.caller(router.current_event.raw_event, recent=True, enrolling=True)
        options = services.passkeys().registration_options(rules.factor_change(caller))
        return CreationOptionsResponse(options=options)

    @router.post(
        "/auth/passkeys",
        security=http.BEARER_SECURITY,
        responses=responses(PasskeyCreatedResponse, 400, 401, 403, 409, status=201),
    )
    def register_passkey(
        body: Annotated[PasskeyRegistrationRequest, Body()],
    ) -> Response[PasskeyCreatedResponse]:
        caller = rules.caller(router.current_event.raw_event, enrolling=True)
        credential = browser_json(body.credential)
        change = rules.factor_change(caller)
        passkey = services.passkeys().register(change, credential, body.name)
        created = PasskeyCreatedResponse(passkey_id=passkey.passkey_id)
        return http.json_response(201, created.model_dump())

    @router.get(
        "/auth/passkeys",
        security=http.BEARER_SECURITY,
        responses=responses(PasskeysResponse, 401, 403),
    )
    def list_passkeys() -> PasskeysResponse:
        caller = rules.caller(router.current_event.raw_event, enrolling=True)
        views = [_view(passkey) for passkey in services.passkeys().list(caller.user_id)]
        return PasskeysResponse(passkeys=views)

    @router.patch(
        "/auth/passkeys/<passkey_id>",
        security=http.BEARER_SECURITY,
        responses=responses(PasskeyView, 400, 401, 403, 404),
    )
    def rename_passkey(
        passkey_id: str, body: Annotated[PasskeyRenameRequest, Body()]
    ) -> PasskeyView:
        caller = rules.caller(router.current_event.raw_event, enrolling=True)
        return _view(services.passkeys().rename(caller.user_id, passkey_id, body.name))

    @router.delete(
        "/auth/passkeys/<passkey_id>",
        security=http.BEARER_SECURITY,
        responses=responses(None, 401, 403, 404, 409, status=204, description="Removed"),
    )
    def remove_passkey(passkey_id: str) -> Response[None]:
        caller = rules.caller(router.current_event.raw_event, recent=True)
        change = rules.factor_change(caller)
        services.passkeys().remove(change, passkey_id, keep_a_factor=rules.mfa_required)
        return http.json_response(204, None)

    @router.post(
        "/auth/passkeys/authentication/options",
        responses=responses(RequestOptionsResponse, 400, 409),
    )
    def passkey_sign_in_options(
        body: Annotated[PasskeySignInOptionsRequest | None, Body()] = None,
    ) -> RequestOptionsResponse:
        username = body.username if body else None
        ceremony_id, options = services.passkeys().sign_in_options(username)
        return RequestOptionsResponse(options=options, ceremony_id=ceremony_id)

    @router.post(
        "/auth/passkeys/authentication",
        responses=responses(TokenResponse, 400, 401, 403, 409, 429),
    )
    def sign_in_with_passkey(
        body: Annotated[PasskeySignInRequest, Body()],
    ) -> Response[TokenResponse]:
        from session_service.domain.flows.passkey_sign_in import PasskeyLoginRequest  # noqa: PLC0415

        event = router.current_event.raw_event
        mode = context.refresh_transport
        transport.check_browser_origin(event, mode)
        request = PasskeyLoginRequest(
            ceremony_id=body.ceremony_id,
            credential=browser_json(body.credential),
            client=http.client_info(event),
            device_token=transport.presented_device_token(event, body.device_token, mode),
            replaces=transport.replaced_session(event, mode),
        )
        return transport.issued_response(services.passkey_sign_in().login(request), mode)

    return router


def _view(passkey: Passkey) -> PasskeyView:
    last_used = passkey.last_used_at
    return PasskeyView(
        passkey_id=passkey.passkey_id,
        name=passkey.name,
        created_at=rfc3339(passkey.created_at),
        last_used_at=rfc3339(last_used) if last_used is not None else None,
    )
