"""The OpenID Connect provider's endpoints under /oauth2/ (contract v3, "Single sign-on"):
each builds Authlib's request from the event, lets the provider (protocol.py) answer, and
shapes its answer. A browser without a central session is sent to the hosted sign-in
page with its request, and comes back here once signed in."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.errors import InvalidToken
from session_service.domain.sso.sign_out import CentralSignOut, SignOutRequest
from session_service.edge.oauth2 import pages
from session_service.edge.oauth2.documentation import answers, html, json_object, redirect
from session_service.edge.transport import request_cookie

# The central session's cookie: __Host- (Secure, no Domain, Path=/), HttpOnly, SameSite=Lax
# so that the browser sends it on the redirect from an app to /oauth2/authorize.
SSO_COOKIE = "__Host-sso"
SIGN_IN_PATH = "/signin"

if TYPE_CHECKING:
    from aws_lambda_powertools.shared.cookies import Cookie

    from session_service.edge.oauth2.protocol import OAuthAnswer, Provider


def _answer(answer: OAuthAnswer) -> Response[str]:
    headers: dict[str, str] = {"Cache-Control": "no-store"}
    content_type = "application/json"
    for name, value in answer.headers:
        if name.lower() == "content-type":
            content_type = value
        else:
            headers[name] = value
    return Response(
        status_code=answer.status, content_type=content_type, body=answer.body, headers=headers
    )


def form_body(event: Any) -> str:
    body = event.decoded_body if event.body else ""
    return str(body or "")


def oauth2_router(
    provider: Callable[[], Provider], sign_out: Callable[[], CentralSignOut]
) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    def request(method: str, path: str, form: str = "") -> Any:
        from session_service.edge.oauth2.protocol import EventRequest  # noqa: PLC0415

        event = router.current_event
        url = f"{provider().issuer()}{path}"
        return EventRequest(method, url, event.raw_query_string or "", form, event.headers)

    @router.get(
        "/oauth2/authorize",
        summary="OpenID Connect authorization (code flow, PKCE S256): a code, or the sign-in",
        responses=answers(
            400, _302=redirect("To the app's redirect_uri (code, state, iss), or to /signin")
        ),
    )
    def authorize() -> Response[str]:
        from authlib.oauth2 import OAuth2Error  # noqa: PLC0415

        server = provider()
        oauth = request("GET", "/oauth2/authorize")
        central = server.sso.central_session(
            request_cookie(router.current_event.raw_event, SSO_COOKIE)
        )
        try:
            grant = server.get_consent_grant(oauth, end_user=central)
        except OAuth2Error as error:
            return _answer(server.with_issuer(server.handle_error_response(oauth, error)))
        if central is None or grant.prompt == "login" or _too_old(oauth, central.auth_time):
            return _to_sign_in(router.current_event.raw_query_string or "")
        answer = server.create_authorization_response(oauth, grant_user=central, grant=grant)
        return _answer(server.with_issuer(answer))

    @router.post(
        "/oauth2/token",
        summary="Tokens for a code (PKCE) or a refresh token (RFC 6749; OAuth's errors)",
        responses=answers(400, 401, _200=json_object("access_token, id_token, refresh_token")),
    )
    def token() -> Response[str]:
        oauth = request("POST", "/oauth2/token", form_body(router.current_event))
        return _answer(provider().create_token_response(oauth))

    @router.post(
        "/oauth2/introspect",
        summary="RFC 7662: whether an app's token is active (its central session lives)",
        responses=answers(400, 401, _200=json_object("active, and the token's claims")),
    )
    def introspect() -> Response[str]:
        oauth = request("POST", "/oauth2/introspect", form_body(router.current_event))
        return _answer(provider().create_endpoint_response("introspection", oauth))

    @router.post(
        "/oauth2/revoke",
        summary="RFC 7009: end the grant of an app's refresh token",
        responses=answers(400, 401, _200=json_object("Done (whatever the token was)")),
    )
    def revoke() -> Response[str]:
        oauth = request("POST", "/oauth2/revoke", form_body(router.current_event))
        return _answer(provider().create_endpoint_response("revocation", oauth))

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
        confirmed = event.http_method == "POST"
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
        cleared = cleared_sso_cookie()
        if outcome.redirect_to is not None:
            return Response(
                status_code=302,
                content_type="text/plain",
                body="",
                headers={"Location": outcome.redirect_to, "Cache-Control": "no-store"},
                cookies=[cleared],
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


def cleared_sso_cookie() -> Cookie:
    from aws_lambda_powertools.shared.cookies import Cookie, SameSite  # noqa: PLC0415

    return Cookie(
        name=SSO_COOKIE,
        value="",
        path="/",
        secure=True,
        http_only=True,
        same_site=SameSite.LAX_MODE,
        max_age=0,
    )


def _too_old(oauth: Any, auth_time_ms: int) -> bool:
    """OpenID Connect Core §3.1.2.1 max_age: the sign-in is older than the app allows."""
    raw = oauth.payload.data.get("max_age")
    if raw is None or not str(raw).isdigit():
        return False
    return time.time() - auth_time_ms / 1000 > int(raw)


def _to_sign_in(query: str) -> Response[str]:
    """To the hosted page with the request, which it sends back here once the user has
    signed in (then without prompt=login, which that sign-in answers)."""
    kept = [(k, v) for k, v in parse_qsl(query, True) if not (k == "prompt" and v == "login")]
    location = f"{SIGN_IN_PATH}?{urlencode({'request': urlencode(kept)})}"
    return Response(
        status_code=302,
        content_type="text/plain",
        body="",
        headers={"Location": location, "Cache-Control": "no-store"},
    )
