"""The central sign-in's passkey button (POST /signin/passkey): the page's script
(hosted/passkey.js) asks the API for a ceremony, lets the browser's authenticator answer
it and posts the assertion here as a form. It signs in through the API's passkey login
(domain.flows.passkey_sign_in: its throttle, amr ["hwk", "user"], a second factor in
itself) and answers as the password form does: the browser's central session (its
cookie) and back to the app's authorization request. A router the API's resolver
includes."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ValidationError

from session_service.domain.errors import InvalidRequest, ServiceError
from session_service.edge import http
from session_service.edge.api_context import ApiServices
from session_service.edge.oauth2 import pages
from session_service.edge.oauth2.documentation import page_answers, redirect
from session_service.edge.oauth2.routes import SSO_COOKIE
from session_service.edge.oauth2.sign_in_routes import sign_in_form, signed_in
from session_service.edge.passkey_schemas import (
    AuthenticationResponseJson,
    PasskeySignInRequest,
    browser_json,
)
from session_service.edge.transport import request_cookie

UNREADABLE = "The passkey's answer could not be read. Try again."


def passkey_sign_in_router(
    services: ApiServices, issuer: Callable[[], str]
) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.post(
        "/signin/passkey",
        summary="The central sign-in's passkey button: back to the app's request, signed in",
        responses=page_answers(
            400,
            401,
            403,
            409,
            429,
            _303=redirect("To /oauth2/authorize, with the central session's cookie"),
        ),
    )
    def sign_in_page_passkey() -> Response[str]:
        event = router.current_event
        form = sign_in_form(event, issuer())
        if isinstance(form, Response):
            return form
        request = form["request"]
        from session_service.domain.flows.passkey_sign_in import PasskeyLoginRequest  # noqa: PLC0415

        try:
            presented = _presented(form)
            tokens = services.passkey_sign_in().login(
                PasskeyLoginRequest(
                    ceremony_id=presented.ceremony_id,
                    credential=browser_json(presented.credential),
                    client=http.client_info(event.raw_event),
                    replaces=request_cookie(event.raw_event, SSO_COOKIE),
                    central=True,
                )
            )
        except ServiceError as refused:
            return pages.sign_in_form(
                request,
                refused.description,
                refused.status,
                providers=services.provider_buttons(),
            )
        return signed_in(tokens, request)

    return router


def _presented(form: dict[str, str]) -> PasskeySignInRequest:
    """The ceremony and the assertion (AuthenticationResponseJSON, as text), checked for
    shape and size as the API's passkey login checks its body."""
    try:
        credential = AuthenticationResponseJson.model_validate_json(form.get("credential", ""))
        return PasskeySignInRequest(ceremony_id=form.get("ceremony_id", ""), credential=credential)
    except ValidationError:
        raise InvalidRequest(UNREADABLE) from None
