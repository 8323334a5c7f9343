"""The admin API's OAuth clients (behind IAM, as every admin route: functions/admin/app.py
checks the signer and audits each call): register, list, read, change and delete a client,
and give a confidential client a new secret. A secret is in the answer that makes it, and
in no other; the secret's digest is in none."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from session_service.domain.errors import NotFound
from session_service.domain.models import rfc3339
from session_service.domain.sso.clients import is_client_id
from session_service.edge import http
from session_service.edge.client_schemas import (
    ClientChange,
    ClientRegistration,
    ClientSecretResponse,
    ClientsResponse,
    ClientView,
    RegisteredClientResponse,
)
from session_service.edge.schemas import responses

if TYPE_CHECKING:
    from session_service.domain.sso.clients import ClientRegistry, OAuthClient

SIGV4: list[dict[str, list[str]]] = [{http.SIGV4: []}]


def _client_id(client_id: str) -> str:
    """The client id of the path: a value that cannot be one of ours names no client."""
    if not is_client_id(client_id):
        raise NotFound("No such client.")
    return client_id


def client_view(client: OAuthClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "type": client.client_type,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "created_at": rfc3339(client.created_at),
        "updated_at": rfc3339(client.updated_at),
    }


def client_admin_router(registry: Callable[[], ClientRegistry]) -> APIGatewayHttpRouter:
    router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

    @router.post(
        "/admin/clients",
        security=SIGV4,
        responses=responses(RegisteredClientResponse, 400, 403, status=201),
    )
    def register_client(
        body: Annotated[ClientRegistration, Body()],
    ) -> Response[RegisteredClientResponse]:
        client, secret = registry().register(
            name=body.name,
            redirect_uris=body.redirect_uris,
            post_logout_redirect_uris=body.post_logout_redirect_uris,
            backchannel_logout_uri=body.backchannel_logout_uri,
            client_type=body.type,
        )
        registered = RegisteredClientResponse(**client_view(client), client_secret=secret)
        # A secret in the answer: no cache keeps it (RFC 6749 §5.1's rule for tokens).
        return http.json_response(201, registered.model_dump(), headers=http.NO_STORE_HEADERS)

    @router.get("/admin/clients", security=SIGV4, responses=responses(ClientsResponse, 403))
    def list_clients() -> ClientsResponse:
        views = [ClientView(**client_view(client)) for client in registry().list()]
        return ClientsResponse(clients=views)

    @router.get(
        "/admin/clients/<client_id>", security=SIGV4, responses=responses(ClientView, 403, 404)
    )
    def get_client(client_id: str) -> ClientView:
        return ClientView(**client_view(registry().get(_client_id(client_id))))

    @router.patch(
        "/admin/clients/<client_id>",
        security=SIGV4,
        responses=responses(ClientView, 400, 403, 404),
    )
    def change_client(client_id: str, body: Annotated[ClientChange, Body()]) -> ClientView:
        # Only what was sent changes (a null backchannel_logout_uri removes it).
        changes: dict[str, object] = {
            field: getattr(body, field) for field in body.model_fields_set if field != "type"
        }
        if body.type is not None:
            changes["client_type"] = body.type
        changed = registry().update(_client_id(client_id), **changes)
        return ClientView(**client_view(changed))

    @router.delete(
        "/admin/clients/<client_id>",
        security=SIGV4,
        responses=responses(None, 403, 404, status=204, description="The client is deleted"),
    )
    def delete_client(client_id: str) -> Response[None]:
        registry().delete(_client_id(client_id))
        return http.json_response(204, None)

    @router.post(
        "/admin/clients/<client_id>/secret",
        security=SIGV4,
        responses=responses(ClientSecretResponse, 403, 404, 409),
    )
    def new_client_secret(client_id: str) -> Response[ClientSecretResponse]:
        found = _client_id(client_id)
        secret = registry().new_secret(found)
        answer = ClientSecretResponse(client_id=found, client_secret=secret)
        return http.json_response(200, answer.model_dump(), headers=http.NO_STORE_HEADERS)

    return router
