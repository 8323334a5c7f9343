"""The OpenID Connect provider's endpoints under /oauth2/ (contract v3, "Single sign-on"):
each builds Authlib's request from the event, lets the provider (protocol.py) answer, and
shapes its answer. A browser without a central session is sent to the hosted sign-in
page with its request, and comes back here once signed in."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.errors import InvalidRequest
from session_service.edge.oauth2.documentation import answers, json_object, redirect
from session_service.edge.transport import request_cookie

# The central session's cookie: __Host- (Secure, no Domain, Path=/), HttpOnly, SameSite=Lax
# so that the browser sends it on the redirect from an app to /oauth2/authorize.
SSO_COOKIE = "__Host-sso"
SIGN_IN_PATH = "/signin"
# max_age is a number of seconds (OpenID Connect Core §3.1.2.1); more than 10 digits is not
MAX_AGE = re.compile(r"[0-9]{1,10}")
# A second factor proven (RFC 8176 values the service uses)
SECOND_FACTOR_AMR = frozenset({"otp", "hwk", "swk", "mfa"})

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


def sso_cookie(token: str, max_age: int) -> Cookie:
    from aws_lambda_powertools.shared.cookies import Cookie, SameSite  # noqa: PLC0415

    # Lax, not Strict: the browser must send it on the redirect from an app's page
    return Cookie(
        name=SSO_COOKIE,
        value=token,
        path="/",
        secure=True,
        http_only=True,
        same_site=SameSite.LAX_MODE,
        max_age=max_age,
    )


def form_body(event: Any) -> str:
    """The form a request sent, as text; a body that is not UTF-8 (or not base64 where it
    says it is) is the client's error."""
    try:
        body = event.decoded_body if event.body else ""
    except ValueError:  # binascii.Error, UnicodeDecodeError
        raise InvalidRequest("The body is not a UTF-8 form.") from None
    return str(body or "")


def checked_basic_auth(headers: Mapping[str, str]) -> None:
    """Authlib decodes client_secret_basic without catching what a hostile header makes
    it raise: such a header is refused here as OAuth refuses a client (RFC 6749 §5.2)."""
    value = headers.get("authorization") or ""
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "basic":
        return
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except ValueError:  # not ASCII, not base64, not UTF-8
        decoded = ""
    if ":" not in decoded:
        raise InvalidRequest("The Authorization header is not client_secret_basic.")


def from_this_origin(headers: Mapping[str, str], issuer: str) -> bool:
    """A POST of one of the service's own pages: its Origin, or, where a browser sends
    none, Fetch Metadata's same-origin."""
    origin = headers.get("origin")
    if origin and origin != "null":
        expected = urlsplit(issuer)
        return origin == f"{expected.scheme}://{expected.netloc}"
    return headers.get("sec-fetch-site") == "same-origin"


def oauth2_router(
    provider: Callable[[], Provider], mfa_required: bool = False
) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    def request(method: str, path: str, form: str = "") -> Any:
        from session_service.edge.oauth2.protocol import EventRequest  # noqa: PLC0415

        event = router.current_event
        checked_basic_auth(event.headers)
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
        from authlib.oauth2.rfc6749.errors import AccessDeniedError  # noqa: PLC0415
        from authlib.oidc.core.errors import LoginRequiredError  # noqa: PLC0415

        server = provider()
        oauth = request("GET", "/oauth2/authorize")
        central = server.sso.central_session(
            request_cookie(router.current_event.raw_event, SSO_COOKIE)
        )
        try:
            grant = server.get_consent_grant(oauth, end_user=central)
            sign_in_again = (
                central is None or grant.prompt == "login" or _too_old(oauth, central.auth_time)
            )
            if sign_in_again and "none" in _prompts(oauth):
                raise LoginRequiredError(redirect_uri=grant.redirect_uri)
            if (
                central is not None
                and not sign_in_again
                and mfa_required
                and not SECOND_FACTOR_AMR & set(central.amr)
            ):
                description = "The account must sign in with a second factor first."
                raise AccessDeniedError(description, redirect_uri=grant.redirect_uri)
        except OAuth2Error as error:
            error.state = oauth.payload.state
            return _answer(server.with_issuer(server.handle_error_response(oauth, error)))
        if sign_in_again:
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

    return router


def _too_old(oauth: Any, auth_time_ms: int) -> bool:
    """OpenID Connect Core §3.1.2.1 max_age: the sign-in is older than the app allows."""
    raw = oauth.payload.data.get("max_age")
    if raw is None or not MAX_AGE.fullmatch(str(raw)):
        return False
    return time.time() - auth_time_ms / 1000 > int(raw)


def _prompts(oauth: Any) -> set[str]:
    return set(str(oauth.payload.data.get("prompt") or "").split())


def _to_sign_in(query: str) -> Response[str]:
    """To the hosted page with the request, which it sends back here once the user has
    signed in: then without what that sign-in answers (prompt=login, max_age), so that
    the browser does not go round again."""
    kept: list[tuple[str, str]] = []
    for name, value in parse_qsl(query, True):
        kept_value = (
            " ".join(p for p in value.split() if p != "login") if name == "prompt" else value
        )
        if name != "max_age" and (name != "prompt" or kept_value):
            kept.append((name, kept_value))
    location = f"{SIGN_IN_PATH}?{urlencode({'request': urlencode(kept)})}"
    return Response(
        status_code=302,
        content_type="text/plain",
        body="",
        headers={"Location": location, "Cache-Control": "no-store"},
    )
