"""The provider's endpoints that serve a signed-in user rather than an app's request:
userinfo (OpenID Connect Core §5.3) and RP-Initiated Logout 1.0. A router the API's
resolver includes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.errors import InvalidToken
from session_service.domain.sso.sign_out import CentralSignOut, SignOutRequest
from session_service.edge.oauth2 import pages
from session_service.edge.oauth2.documentation import answers, html, json_object, redirect
from session_service.edge.oauth2.routes import SSO_COOKIE, form_body, from_this_origin, sso_cookie
from session_service.edge.transport import request_cookie

if TYPE_CHECKING:
    from session_service.edge.oauth2.protocol import Provider


def user_router(
    provider: Callable[[], Provider], sign_out: Callable[[], CentralSignOut]
) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.get(
        "/oauth2/userinfo",
        summary="The claims an app's access token may read (OpenID Connect Core §5.3)",
        responses=answers(401, _200=json_object("sub and the scopes' claims")),
    )
    def userinfo() -> Response[str]:
        header = router.current_event.headers.get("authorization") or ""
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token:
                raise InvalidToken("An app's access token is required (Bearer).")
            claims = provider().sso.userinfo(token.strip())
        except InvalidToken as refused:
            description = str(refused).replace('"', "'")
            challenge = f'Bearer error="invalid_token", error_description="{description}"'
            body = json.dumps({"error": "invalid_token", "error_description": str(refused)})
            return Response(
                status_code=401,
                content_type="application/json",
                body=body,
                headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
            )
        return Response(
            status_code=200,
            content_type="application/json",
            body=json.dumps(claims),
            headers={"Cache-Control": "no-store"},
        )

    @router.post(
        "/oauth2/userinfo",
        summary="The claims an app's access token may read (OpenID Connect Core §5.3)",
        responses=answers(401, _200=json_object("sub and the scopes' claims")),
    )
    def userinfo_by_post() -> Response[str]:
        return userinfo()

    @router.get(
        "/oauth2/logout",
        summary="RP-Initiated Logout: end the central session and every app's grant",
        responses=answers(
            400, _200=html("Signed out, or asked to confirm"), _302=redirect("To the app")
        ),
    )
    def end_session() -> Response[str]:
        event = router.current_event
        # Only the service's own confirmation page signs out without an ID token
        confirmed = event.http_method == "POST" and from_this_origin(
            event.headers, provider().issuer()
        )
        params = dict(parse_qsl(event.raw_query_string or "", True))
        if confirmed:
            params |= dict(parse_qsl(form_body(event), True))
        central = provider().sso.central_session(request_cookie(event.raw_event, SSO_COOKIE))
        outcome = sign_out().sign_out(
            SignOutRequest(
                id_token_hint=params.get("id_token_hint"),
                post_logout_redirect_uri=params.get("post_logout_redirect_uri"),
                client_id=params.get("client_id"),
                state=params.get("state"),
                cookie_session=central,
                confirmed=confirmed,
            )
        )
        if not outcome.signed_out:
            return pages.confirm_sign_out(params)
        # (the browser's own central session ended: a hint of another's leaves its cookie)
        cleared = [sso_cookie("", 0)] if outcome.clears_cookie else []
        if outcome.redirect_to is not None:
            return Response(
                status_code=302,
                content_type="text/plain",
                body="",
                headers={"Location": outcome.redirect_to, "Cache-Control": "no-store"},
                cookies=cleared,
            )
        return pages.signed_out(cleared)

    @router.post(
        "/oauth2/logout",
        summary="RP-Initiated Logout, confirmed on the service's own page",
        responses=answers(400, _200=html("Signed out"), _302=redirect("To the app")),
    )
    def end_session_confirmed() -> Response[str]:
        return end_session()

    return router
