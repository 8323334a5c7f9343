"""The HTTP API: parse, call one domain function, shape the answer."""

from __future__ import annotations

import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import wiring
from session_service.config import get_settings
from session_service.domain.accounts import LoginRequest, PasswordChange
from session_service.domain.errors import Conflict, InvalidGrant
from session_service.domain.keyring import JWKS_MAX_AGE_SECONDS
from session_service.domain.models import rfc3339
from session_service.domain.second_step import SecondStepRequest
from session_service.domain.session_records import IssuedTokens
from session_service.domain.step_up import PasskeyReauthCall, ReauthCall
from session_service.edge import authorization, http, transport
from session_service.edge.passkey_routes import PasskeyRoutes, passkey_router
from session_service.edge.passkey_schemas import browser_json
from session_service.edge.schemas import (
    ActivityResponse,
    ActivityView,
    CredentialsRequest,
    CurrentSessionResponse,
    Jwks,
    LoginBody,
    LogoutRequest,
    MfaCodeLogin,
    MfaLoginRequest,
    OpenIdConfiguration,
    PasswordChangeRequest,
    ReauthBody,
    RecoveryCodesResponse,
    RefreshRequest,
    RegisterResponse,
    SessionResponse,
    SessionsResponse,
    TokenResponse,
    TotpCodeRequest,
    TotpSetupResponse,
    responses,
)
from session_service.observability import logger, metrics

settings = get_settings()
refresh_transport = transport.RefreshTransport(
    settings.refresh_token_transport, settings.allowed_origins
)
rules = authorization.CallerRules(
    reauth_max_age_seconds=settings.reauth_max_age_seconds,
    mfa_required=settings.mfa_policy == "required",
)
app = http.api_resolver()
app.include_router(
    passkey_router(PasskeyRoutes(rules, refresh_transport, wiring.passkeys, wiring.passkey_sign_in))
)
if settings.api_docs:
    app.enable_swagger(path="/docs")


def _tokens(issued: IssuedTokens) -> Response[TokenResponse]:
    return transport.issued_response(issued, refresh_transport)


@app.post(
    "/auth/register",
    responses=responses(RegisterResponse, 400, 409, status=201, description="Registered"),
)
def register(body: Annotated[CredentialsRequest, Body()]) -> Response[RegisterResponse]:
    client = http.client_info(app.current_event.raw_event)
    user_id = wiring.accounts().register(body.username, body.password, client.ip)
    return http.json_response(201, RegisterResponse(user_id=user_id).model_dump())


@app.post("/auth/login", responses=responses(TokenResponse, 400, 401, 409, 429))
def login(body: Annotated[LoginBody, Body()]) -> Response[TokenResponse]:
    event = app.current_event.raw_event
    transport.check_browser_origin(event, refresh_transport)
    replaced = transport.replaced_session(event, refresh_transport)
    request = LoginRequest(
        username=body.username,
        password=body.password,
        client=http.client_info(event),
        device_token=transport.presented_device_token(event, body.device_token, refresh_transport),
        replaces=replaced,
    )
    return _tokens(wiring.accounts().login(request))


@app.post("/auth/login/mfa", responses=responses(TokenResponse, 400, 401, 409, 429))
def login_with_code(body: Annotated[MfaLoginRequest, Body()]) -> Response[TokenResponse]:
    event = app.current_event.raw_event
    transport.check_browser_origin(event, refresh_transport)
    replaced = transport.replaced_session(event, refresh_transport)
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
    return _tokens(wiring.second_step().complete(request))


@app.post(
    "/auth/reauth",
    security=http.BEARER_SECURITY,
    responses=responses(TokenResponse, 400, 401, 429),
)
def reauthenticate(body: Annotated[ReauthBody, Body()]) -> Response[TokenResponse]:
    event = app.current_event.raw_event
    transport.check_browser_origin(event, refresh_transport)
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
        return _tokens(wiring.step_up().with_passkey(passkey_call))
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
    return _tokens(wiring.step_up().with_password(call))


@app.post(
    "/auth/mfa/totp",
    security=http.BEARER_SECURITY,
    responses=responses(TotpSetupResponse, 401, 403, 409),
)
def begin_totp() -> TotpSetupResponse:
    caller = rules.caller(app.current_event.raw_event, recent=True, enrolling=True)
    setup = wiring.second_factors().begin_totp(rules.factor_change(caller))
    return TotpSetupResponse(secret=setup.secret, otpauth_uri=setup.otpauth_uri)


@app.post(
    "/auth/mfa/totp/confirm",
    security=http.BEARER_SECURITY,
    responses=responses(RecoveryCodesResponse, 400, 401, 403, 409),
)
def confirm_totp(body: Annotated[TotpCodeRequest, Body()]) -> RecoveryCodesResponse:
    event = app.current_event.raw_event
    caller = rules.caller(event, enrolling=True)
    codes = wiring.accounts().confirm_totp(
        rules.factor_change(caller), caller.session_id, body.code, http.client_info(event)
    )
    return RecoveryCodesResponse(recovery_codes=codes)


@app.delete(
    "/auth/mfa/totp",
    security=http.BEARER_SECURITY,
    responses=responses(None, 401, 403, 409, status=204, description="TOTP turned off"),
)
def disable_totp() -> Response[None]:
    caller = rules.caller(app.current_event.raw_event, recent=True)
    if rules.mfa_required:
        raise Conflict("MFA_POLICY=required: the second factor cannot be turned off.")
    wiring.second_factors().disable_totp(rules.factor_change(caller))
    return http.json_response(204, None)


@app.post("/auth/refresh", responses=responses(TokenResponse, 400, 401, 403))
def refresh(body: Annotated[RefreshRequest | None, Body()] = None) -> Response[TokenResponse]:
    event = app.current_event.raw_event
    token = transport.presented_refresh_token(
        event, body.refresh_token if body else None, refresh_transport
    )
    if token is None:
        raise InvalidGrant("No refresh token was presented.")
    issued = wiring.session_service().refresh(token, http.client_info(event))
    metrics.add_metric(name="Refreshes", unit=MetricUnit.Count, value=1)
    return _tokens(issued)


@app.post(
    "/auth/logout",
    responses=responses(None, 400, 401, 403, status=204, description="Logged out"),
)
def logout(body: Annotated[LogoutRequest | None, Body()] = None) -> Response[None]:
    event = app.current_event.raw_event
    access_token = http.bearer_token(app.current_event.headers)
    refresh_token = None
    if not access_token:
        body_token = body.refresh_token if body else None
        refresh_token = transport.presented_refresh_token(event, body_token, refresh_transport)
    wiring.session_ending().logout_with(access_token, refresh_token)
    return transport.logged_out_response(refresh_transport)


@app.get(
    "/auth/session",
    security=http.BEARER_SECURITY,
    responses=responses(CurrentSessionResponse, 401, 403),
)
def current_session() -> CurrentSessionResponse:
    return CurrentSessionResponse(**rules.caller(app.current_event.raw_event).view)


@app.post(
    "/auth/password",
    security=http.BEARER_SECURITY,
    responses=responses(TokenResponse, 400, 401, 403, 409, 429),
)
def change_password(body: Annotated[PasswordChangeRequest, Body()]) -> Response[TokenResponse]:
    event = app.current_event.raw_event
    caller = rules.caller(event, recent=True)
    change = PasswordChange(
        caller=rules.factor_change(caller),
        session_id=caller.session_id,
        current_password=body.current_password,
        new_password=body.new_password,
        client=http.client_info(event),
    )
    return _tokens(wiring.accounts().change_password(change))


@app.get(
    "/auth/sessions",
    security=http.BEARER_SECURITY,
    responses=responses(SessionsResponse, 401, 403),
)
def list_sessions() -> SessionsResponse:
    caller = rules.caller(app.current_event.raw_event)
    sessions = wiring.session_service().list_sessions(caller.user_id)
    views = [http.session_view(session, caller.session_id) for session in sessions]
    return SessionsResponse(sessions=[SessionResponse(**view) for view in views])


@app.delete(
    "/auth/sessions/<session_id>",
    security=http.BEARER_SECURITY,
    responses=responses(None, 401, 403, 404, status=204, description="Signed out"),
)
def revoke_session(session_id: str) -> Response[None]:
    caller = rules.caller(app.current_event.raw_event)
    wiring.session_ending().revoke_session(caller.user_id, session_id)
    return http.json_response(204, None)


@app.delete(
    "/auth/sessions",
    security=http.BEARER_SECURITY,
    responses=responses(None, 401, 403, status=204, description="Signed out elsewhere"),
)
def revoke_other_sessions() -> Response[None]:
    caller = rules.caller(app.current_event.raw_event, recent=True)
    wiring.session_ending().revoke_other_sessions(caller.user_id, caller.session_id)
    return http.json_response(204, None)


@app.get(
    "/auth/activity",
    security=http.BEARER_SECURITY,
    responses=responses(ActivityResponse, 400, 401, 403),
)
def list_activity(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ActivityResponse:
    """The caller's security events, newest first, a page at a time."""
    caller = rules.caller(app.current_event.raw_event)
    page = wiring.activity_store().page(caller.user_id, limit, cursor)
    views = [
        ActivityView(
            type=entry.type,
            at=rfc3339(entry.at),
            ip=entry.ip,
            user_agent=entry.user_agent,
            session_id=entry.session_id,
            reason=entry.reason,
        )
        for entry in page.entries
    ]
    return ActivityResponse(events=views, next_cursor=page.next_cursor)


@app.get("/.well-known/jwks.json", responses=responses(Jwks))
def jwks() -> Response[Jwks]:
    # From the published keys, the one place verifiers' keys come from (the rotation
    # writes them before its new key is in any ring in use), as far as the document key
    # signed them.
    keys = wiring.published_key_source().current().jwks(time.time())
    # A new key is published at least this long (plus our own cache) before it signs.
    cache = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
    return http.json_response(200, keys, headers={"Cache-Control": cache})


@app.get("/.well-known/openid-configuration", responses=responses(OpenIdConfiguration))
def openid_configuration() -> Response[OpenIdConfiguration]:
    issuer = wiring.token_issuer()
    document = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "id_token_signing_alg_values_supported": [settings.jwt_algorithm],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    }
    return http.json_response(200, document, headers={"Cache-Control": "public, max-age=300"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
