"""The admin API's identity providers (behind IAM, as every admin route: functions/admin/
app.py checks the signer and audits each call): register, list, read and delete an
upstream OpenID Connect provider. Its client secret is sealed when it is registered and
is in no answer, that one's included."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.models import rfc3339
from session_service.edge import http
from session_service.edge.provider_schemas import (
    ProviderRegistration,
    ProvidersResponse,
    ProviderView,
)
from session_service.edge.schemas import responses

if TYPE_CHECKING:
    from session_service.domain.federation.providers import ProviderRegistry
    from session_service.domain.federation.records import IdentityProvider

SIGV4: list[dict[str, list[str]]] = [{http.SIGV4: []}]
PATH = "/admin/identity-providers"


def provider_view(provider: IdentityProvider) -> dict[str, Any]:
    return {
        "provider_id": provider.provider_id,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "scopes": list(provider.scopes),
        "name": provider.name,
        "created_at": rfc3339(provider.created_at),
    }


def provider_admin_router(registry: Callable[[], ProviderRegistry]) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.post(PATH, security=SIGV4, responses=responses(ProviderView, 400, 403, 409, status=201))
    def register_identity_provider(
        body: Annotated[ProviderRegistration, Body()],
    ) -> Response[ProviderView]:
        provider = registry().register(
            provider_id=body.provider_id,
            issuer=body.issuer,
            client_id=body.client_id,
            client_secret=body.client_secret,
            scopes=body.scopes,
            name=body.name,
        )
        view = ProviderView(**provider_view(provider))
        return http.json_response(201, view.model_dump())

    @router.get(PATH, security=SIGV4, responses=responses(ProvidersResponse, 403))
    def list_identity_providers() -> ProvidersResponse:
        views = [ProviderView(**provider_view(provider)) for provider in registry().list()]
        return ProvidersResponse(identity_providers=views)

    @router.get(
        f"{PATH}/<provider_id>", security=SIGV4, responses=responses(ProviderView, 403, 404)
    )
    def get_identity_provider(provider_id: str) -> ProviderView:
        # An id that cannot be one names no provider: 404 too (ProviderRegistry.get)
        return ProviderView(**provider_view(registry().get(provider_id)))

    @router.delete(
        f"{PATH}/<provider_id>",
        security=SIGV4,
        responses=responses(None, 403, 404, status=204, description="The provider is deleted"),
    )
    def delete_identity_provider(provider_id: str) -> Response[None]:
        registry().delete(provider_id)
        return http.json_response(204, None)

    return router
