"""The HTTP API: the routers of each capability, composed on one resolver (each router
parses, calls one domain function and shapes the answer)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from session_service import federation_wiring, mail_wiring, sso_wiring, wiring
from session_service.config import get_settings
from session_service.edge import authorization, resolver, transport
from session_service.edge.account_routes import account_router
from session_service.edge.activity_routes import activity_router
from session_service.edge.api_context import ApiContext, ApiServices
from session_service.edge.email_routes import email_router
from session_service.edge.federation_routes import federation_router
from session_service.edge.hosted_page_routes import hosted_page_router
from session_service.edge.key_routes import key_router
from session_service.edge.oauth2.passkey_sign_in_routes import passkey_sign_in_router
from session_service.edge.oauth2.routes import oauth2_router
from session_service.edge.oauth2.sign_in_routes import sign_in_router
from session_service.edge.oauth2.user_routes import user_router
from session_service.edge.passkey_routes import passkey_router
from session_service.edge.session_routes import session_router
from session_service.edge.totp_routes import totp_router
from session_service.observability import logger, metrics

settings = get_settings()
api_context = ApiContext(
    rules=authorization.CallerRules(
        reauth_max_age_seconds=settings.reauth_max_age_seconds,
        mfa_required=settings.mfa_policy == "required",
    ),
    refresh_transport=transport.RefreshTransport(
        settings.refresh_token_transport, settings.allowed_origins
    ),
    services=ApiServices(
        accounts=wiring.accounts,
        second_step=wiring.second_step,
        step_up=wiring.step_up,
        second_factors=wiring.second_factors,
        sessions=wiring.session_service,
        session_ending=wiring.session_ending,
        activity=wiring.activity_store,
        published_keys=wiring.published_key_source,
        token_issuer=wiring.token_issuer,
        passkeys=wiring.passkeys,
        passkey_sign_in=wiring.passkey_sign_in,
        email=mail_wiring.email_flows,
        federation=federation_wiring.federated_sign_in,
        identities=federation_wiring.identities,
        provider_buttons=federation_wiring.provider_buttons,
    ),
    jwt_algorithm=settings.jwt_algorithm,
)
app = resolver.api_resolver()
for router in (account_router, totp_router, session_router, activity_router, key_router):
    app.include_router(router(api_context))
app.include_router(passkey_router(api_context))
app.include_router(email_router(api_context))
app.include_router(federation_router(api_context))
app.include_router(hosted_page_router(federation_wiring.provider_buttons))
app.include_router(
    oauth2_router(sso_wiring.provider, mfa_required=settings.mfa_policy == "required")
)
app.include_router(user_router(sso_wiring.provider, sso_wiring.central_sign_out))
app.include_router(sign_in_router(api_context.services, wiring.token_issuer))
app.include_router(passkey_sign_in_router(api_context.services, wiring.token_issuer))
if settings.api_docs:
    app.enable_swagger(path="/docs")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
