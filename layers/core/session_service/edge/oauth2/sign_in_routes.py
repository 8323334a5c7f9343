"""The central sign-in's form (POST /signin, no script needed): the password, then the
second factor when the account has one, through the same domain flows as the API's login;
a session started here is the browser's central session (its cookie), and the browser goes
back to the app's authorization request. A router the API's resolver includes."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from session_service.domain.errors import MfaRequired, ServiceError
from session_service.domain.flows.password_flows import LoginRequest
from session_service.domain.flows.second_step import SecondStepRequest
from session_service.domain.sessions.session_records import IssuedTokens
from session_service.edge import http
from session_service.edge.api_context import ApiServices
from session_service.edge.oauth2 import pages
from session_service.edge.oauth2.documentation import html, page_answers, redirect
from session_service.edge.oauth2.routes import SSO_COOKIE, form_body, from_this_origin, sso_cookie
from session_service.edge.transport import request_cookie

MAX_REQUEST_LENGTH = 4096


def sign_in_router(services: ApiServices, issuer: Callable[[], str]) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.post(
        "/signin",
        summary="The central sign-in's form: back to the app's request with a central session",
        responses=page_answers(
            400,
            401,
            403,
            429,
            _200=html("The form again: the second factor's code"),
            _303=redirect("To /oauth2/authorize, with the central session's cookie"),
        ),
    )
    def sign_in() -> Response[str]:
        event = router.current_event
        form = sign_in_form(event, issuer())
        if isinstance(form, Response):
            return form
        request = form["request"]
        client = http.client_info(event.raw_event)
        replaces = request_cookie(event.raw_event, SSO_COOKIE)
        try:
            if form.get("mfa_token"):
                tokens = services.second_step().complete(
                    SecondStepRequest(
                        form["mfa_token"],
                        client,
                        code=form.get("code", ""),
                        replaces=replaces,
                        central=True,
                    )
                )
            else:
                tokens = services.accounts().login(
                    LoginRequest(
                        form.get("username", ""),
                        form.get("password", ""),
                        client,
                        replaces=replaces,
                        central=True,
                    )
                )
        except MfaRequired as second_factor:
            return pages.sign_in_form(request, None, 200, mfa_token=second_factor.mfa_token)
        except ServiceError as refused:
            # (a wrong code leaves the mfa_token its other tries; the form offers a restart)
            mfa_token = form.get("mfa_token") or None
            return pages.sign_in_form(
                request,
                refused.description,
                refused.status,
                mfa_token,
                providers=services.provider_buttons(),
            )
        return signed_in(tokens, request)

    return router


def sign_in_form(event: APIGatewayProxyEventV2, issuer: str) -> dict[str, str] | Response[str]:
    """A sign-in form's fields, or the page again: without the app's request (or with one
    too long), or posted by a page of another site (login CSRF)."""
    form = dict(parse_qsl(form_body(event), True))
    request = form.get("request", "")
    if len(request) > MAX_REQUEST_LENGTH or not request:
        return pages.sign_in_form("", "Open the app you came from and sign in again.", 400)
    if not from_this_origin(event.headers, issuer):
        return pages.sign_in_form(request, "Sign in from this page.", 403)
    return form


def signed_in(tokens: IssuedTokens, request: str) -> Response[str]:
    """Back to the authorization request, now with a central session (303: a GET). The
    request is encoded again from its parameters: nothing it carries (a CR, an LF) can
    reach the header raw."""
    query = urlencode(parse_qsl(request, keep_blank_values=True))
    return Response(
        status_code=303,
        content_type="text/plain",
        body="",
        headers={"Location": f"/oauth2/authorize?{query}", "Cache-Control": "no-store"},
        cookies=[sso_cookie(tokens.refresh_token, tokens.refresh_expires_in)],
    )
