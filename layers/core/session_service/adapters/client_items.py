"""The table's items of single sign-on's clients.

Items (pk / sk):
  OAUTH_CLIENTS          / CLIENT#<client id>  a registered client (one partition: the admin
                                               API lists them with one Query); its secret
                                               only as a digest; no ttl
  CLIENT_EVENT#<record id> / EVENT             a client registered or deleted: written with
                                               the change, read by no request, turned into
                                               its event by the table's stream (it holds no
                                               secret, nor its digest)
"""

from __future__ import annotations

from session_service.adapters.store_items import (
    ENDED_RECORD_SECONDS,
    Item,
    Key,
    int_of,
    key,
    n,
    opt_str_of,
    s,
    str_of,
    ttl_seconds,
)
from session_service.domain.models import ClientEvent, ClientEventType, ClientType
from session_service.domain.sso.clients import OAuthClient

CLIENTS_PARTITION = "OAUTH_CLIENTS"


def client_key(client_id: str) -> Key:
    return key(CLIENTS_PARTITION, f"CLIENT#{client_id}")


def client_event_key(record_id: str) -> Key:
    return key(f"CLIENT_EVENT#{record_id}", "EVENT")


def _listed(values: tuple[str, ...]) -> Item:
    # A list, not a string set: the order the administrator gave is kept, and a list may
    # be empty.
    return {"L": [s(value) for value in values]}


def _values(item: Item, name: str) -> tuple[str, ...]:
    return tuple(str(value["S"]) for value in item.get(name, {}).get("L", []))


def client_item(client: OAuthClient) -> Item:
    item: Item = {
        **client_key(client.client_id),
        "kind": s("oauth_client"),
        "client_id": s(client.client_id),
        "name": s(client.name),
        "client_type": s(client.client_type),
        "redirect_uris": _listed(client.redirect_uris),
        "post_logout_redirect_uris": _listed(client.post_logout_redirect_uris),
        "created_at": n(client.created_at),
        "updated_at": n(client.updated_at),
    }
    if client.backchannel_logout_uri is not None:
        item["backchannel_logout_uri"] = s(client.backchannel_logout_uri)
    if client.secret_digest is not None:
        item["secret_digest"] = s(client.secret_digest)
    return item


def client_from_item(item: Item) -> OAuthClient:
    client_type: ClientType = str_of(item, "client_type")  # type: ignore[assignment]
    return OAuthClient(
        client_id=str_of(item, "client_id"),
        name=str_of(item, "name"),
        client_type=client_type,
        redirect_uris=_values(item, "redirect_uris"),
        post_logout_redirect_uris=_values(item, "post_logout_redirect_uris"),
        backchannel_logout_uri=opt_str_of(item, "backchannel_logout_uri"),
        secret_digest=opt_str_of(item, "secret_digest"),
        created_at=int_of(item, "created_at"),
        updated_at=int_of(item, "updated_at"),
    )


def client_event_item(event: ClientEvent) -> Item:
    return {
        **client_event_key(event.record_id),
        "kind": s("client_event"),
        "event_type": s(event.event_type),
        "client_id": s(event.client_id),
        "name": s(event.name),
        "client_type": s(event.client_type),
        "at": n(event.at),
        "ttl": n(ttl_seconds(event.at) + ENDED_RECORD_SECONDS),
    }


def client_event_from_item(item: Item) -> ClientEvent:
    event_type: ClientEventType = str_of(item, "event_type")  # type: ignore[assignment]
    client_type: ClientType = str_of(item, "client_type")  # type: ignore[assignment]
    return ClientEvent(
        record_id=str_of(item, "pk").removeprefix("CLIENT_EVENT#"),
        event_type=event_type,
        client_id=str_of(item, "client_id"),
        name=str_of(item, "name"),
        client_type=client_type,
        at=int_of(item, "at"),
    )
