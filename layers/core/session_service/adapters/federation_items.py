"""The table's federation items (pk / sk):

  FEDFLOW#<state digest>   / FEDFLOW   a flow started at a provider (TTL: its expiry)
  HANDOFF#<digest>         / HANDOFF   body mode's one-time handoff (TTL)
  FEDLINK#<digest>         / FEDLINK   a link URL's intent (TTL)
  FEDID#<provider>#<sub>   / FEDID     an identity: the account it signs in
  IDENTITIES#<user_id>     / <id>      the same identity, in its account's list

No secret is stored: flows, handoffs and links by their digests only."""

from __future__ import annotations

from session_service.adapters.store_items import (
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
from session_service.domain.federation.flow_records import (
    FederationFlow,
    Handoff,
    LinkedIdentity,
    LinkIntent,
)


def flow_key(digest: str) -> Key:
    return key(f"FEDFLOW#{digest}", "FEDFLOW")


def handoff_key(digest: str) -> Key:
    return key(f"HANDOFF#{digest}", "HANDOFF")


def link_key(digest: str) -> Key:
    return key(f"FEDLINK#{digest}", "FEDLINK")


def identity_key(provider_id: str, subject: str) -> Key:
    return key(f"FEDID#{provider_id}#{subject}", "FEDID")


def account_identities_partition(user_id: str) -> str:
    return f"IDENTITIES#{user_id}"


def flow_item(flow: FederationFlow) -> Item:
    item: Item = {
        **flow_key(flow.digest),
        "kind": s("federation_flow"),
        "provider_id": s(flow.provider_id),
        "binding_digest": s(flow.binding_digest),
        "nonce": s(flow.nonce),
        "return_to": s(flow.return_to),
        "created_at": n(flow.created_at),
        "expires_at": n(flow.expires_at),
        "ttl": n(ttl_seconds(flow.expires_at)),
    }
    if flow.link_user_id is not None:
        item["link_user_id"] = s(flow.link_user_id)
    if flow.sign_in_request is not None:
        item["sign_in_request"] = s(flow.sign_in_request)
    return item


def flow_from_item(item: Item) -> FederationFlow:
    return FederationFlow(
        digest=str_of(item, "pk").removeprefix("FEDFLOW#"),
        provider_id=str_of(item, "provider_id"),
        binding_digest=str_of(item, "binding_digest"),
        nonce=str_of(item, "nonce"),
        return_to=str_of(item, "return_to"),
        created_at=int_of(item, "created_at"),
        expires_at=int_of(item, "expires_at"),
        link_user_id=opt_str_of(item, "link_user_id"),
        sign_in_request=opt_str_of(item, "sign_in_request"),
    )


def handoff_item(handoff: Handoff) -> Item:
    return {
        **handoff_key(handoff.digest),
        "kind": s("federation_handoff"),
        "user_id": s(handoff.user_id),
        "username_key": s(handoff.username_key),
        "provider_id": s(handoff.provider_id),
        "subject": s(handoff.subject),
        "created_at": n(handoff.created_at),
        "expires_at": n(handoff.expires_at),
        "ttl": n(ttl_seconds(handoff.expires_at)),
    }


def handoff_from_item(item: Item) -> Handoff:
    return Handoff(
        digest=str_of(item, "pk").removeprefix("HANDOFF#"),
        user_id=str_of(item, "user_id"),
        username_key=str_of(item, "username_key"),
        provider_id=str_of(item, "provider_id"),
        created_at=int_of(item, "created_at"),
        expires_at=int_of(item, "expires_at"),
        subject=opt_str_of(item, "subject") or "",
    )


def handoff_spend(table: str, digest: str) -> Item:
    """A session's start spending a handoff: of concurrent exchanges, one lands."""
    return {
        "Delete": {
            "TableName": table,
            "Key": handoff_key(digest),
            "ConditionExpression": "attribute_exists(pk)",
        }
    }


def link_item(intent: LinkIntent) -> Item:
    return {
        **link_key(intent.digest),
        "kind": s("federation_link"),
        "provider_id": s(intent.provider_id),
        "user_id": s(intent.user_id),
        "return_to": s(intent.return_to),
        "expires_at": n(intent.expires_at),
        "ttl": n(ttl_seconds(intent.expires_at)),
    }


def link_from_item(item: Item) -> LinkIntent:
    return LinkIntent(
        digest=str_of(item, "pk").removeprefix("FEDLINK#"),
        provider_id=str_of(item, "provider_id"),
        user_id=str_of(item, "user_id"),
        return_to=str_of(item, "return_to"),
        expires_at=int_of(item, "expires_at"),
    )


def _identity_attributes(identity: LinkedIdentity) -> Item:
    item: Item = {
        "kind": s("federated_identity"),
        "identity_id": s(identity.identity_id),
        "user_id": s(identity.user_id),
        "username_key": s(identity.username_key),
        "provider_id": s(identity.provider_id),
        "subject": s(identity.subject),
        "linked_at": n(identity.linked_at),
        "issuer": s(identity.issuer),
    }
    if identity.email is not None:
        item["email"] = s(identity.email)
    return item


def identity_item(identity: LinkedIdentity) -> Item:
    """The identity's own item: found by `(provider_id, sub)` at every sign-in."""
    return {
        **identity_key(identity.provider_id, identity.subject),
        **_identity_attributes(identity),
    }


def account_identity_item(identity: LinkedIdentity) -> Item:
    """The identity in its account's list (GET /auth/identities: one Query)."""
    return {
        **key(account_identities_partition(identity.user_id), identity.identity_id),
        **_identity_attributes(identity),
    }


def identity_from_item(item: Item) -> LinkedIdentity:
    return LinkedIdentity(
        identity_id=str_of(item, "identity_id"),
        user_id=str_of(item, "user_id"),
        username_key=str_of(item, "username_key"),
        provider_id=str_of(item, "provider_id"),
        subject=str_of(item, "subject"),
        linked_at=int_of(item, "linked_at"),
        email=opt_str_of(item, "email"),
        issuer=opt_str_of(item, "issuer") or "",
    )
