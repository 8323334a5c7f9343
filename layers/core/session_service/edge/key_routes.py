"""What verifiers read: the JWKS and the OpenID Connect discovery document: parse, call one
domain function, shape the answer. A router the API's resolver includes
(functions/api/app.py)."""

from __future__ import annotations

import time

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.keys.keyring import JWKS_MAX_AGE_SECONDS
from session_service.edge import http
from session_service.edge.api_context import ApiContext
from session_service.edge.oauth2.metadata import provider_metadata
from session_service.edge.schemas import (
    Jwks,
    OpenIdConfiguration,
    responses,
)


def key_router(context: ApiContext) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
    services = context.services

    @router.get("/.well-known/jwks.json", responses=responses(Jwks))
    def jwks() -> Response[Jwks]:
        # From the published keys, the one place verifiers' keys come from (the rotation
        # writes them before its new key is in any ring in use), as far as the document key
        # signed them.
        keys = services.published_keys().current().jwks(time.time())
        # A new key is published at least this long (plus our own cache) before it signs.
        cache = f"public, max-age={JWKS_MAX_AGE_SECONDS}"
        return http.json_response(200, keys, headers={"Cache-Control": cache})

    @router.get("/.well-known/openid-configuration", responses=responses(OpenIdConfiguration))
    def openid_configuration() -> Response[OpenIdConfiguration]:
        issuer = services.token_issuer()
        document = {
            "issuer": issuer,
            "jwks_uri": f"{issuer}/.well-known/jwks.json",
            "id_token_signing_alg_values_supported": [context.jwt_algorithm],
            "subject_types_supported": ["public"],
            # Single sign-on (docs/sso.md): the provider of the team's apps
            **provider_metadata(issuer),
        }
        return http.json_response(200, document, headers={"Cache-Control": "public, max-age=300"})

    return router
