"""Passkey items and what a passkey's use writes in the transaction of the session it
buys (or of the step-up): the ceremony spent, the sign count moved on.

  PASSKEYS#<user id> / PASSKEY#<passkey id>   a passkey (its public key, not a secret)
  PASSKEYS#<user id> / REGISTRATION           the user's pending registration (TTL)
  WEBAUTHN#<digest>  / CEREMONY               a sign-in's challenge, by its ceremony_id's
                                              digest (TTL)
A user's passkeys have a partition of their own: a session start, which reads the user's
partition, reads none of them."""

from __future__ import annotations

from session_service.adapters.store_items import (
    Item,
    Key,
    int_of,
    key,
    n,
    opt_int_of,
    opt_str_of,
    s,
    str_of,
    ttl_seconds,
)
from session_service.domain.models import Passkey
from session_service.domain.ports import PasskeyUse, RegistrationCeremony, SignInCeremony

PASSKEY_PREFIX = "PASSKEY#"


def passkeys_partition(user_id: str) -> str:
    return f"PASSKEYS#{user_id}"


def passkey_key(user_id: str, passkey_id: str) -> Key:
    return key(passkeys_partition(user_id), f"{PASSKEY_PREFIX}{passkey_id}")


def registration_key(user_id: str) -> Key:
    return key(passkeys_partition(user_id), "REGISTRATION")


def sign_in_key(digest: str) -> Key:
    return key(f"WEBAUTHN#{digest}", "CEREMONY")


def passkey_item(passkey: Passkey) -> Item:
    item: Item = {
        **passkey_key(passkey.user_id, passkey.passkey_id),
        "kind": s("passkey"),
        "user_id": s(passkey.user_id),
        "username_key": s(passkey.username_key),
        "credential_id": {"B": passkey.credential_id},
        "public_key": {"B": passkey.public_key},
        "sign_count": n(passkey.sign_count),
        "transports": {"L": [s(t) for t in passkey.transports]},
        "name": s(passkey.name),
        "created_at": n(passkey.created_at),
        "synced": {"BOOL": passkey.synced},
    }
    if passkey.last_used_at is not None:
        item["last_used_at"] = n(passkey.last_used_at)
    return item


def passkey_from_item(item: Item) -> Passkey:
    return Passkey(
        user_id=str_of(item, "user_id"),
        username_key=str_of(item, "username_key"),
        passkey_id=str_of(item, "sk").removeprefix(PASSKEY_PREFIX),
        credential_id=bytes(item["credential_id"]["B"]),
        public_key=bytes(item["public_key"]["B"]),
        sign_count=int_of(item, "sign_count"),
        transports=tuple(str(t["S"]) for t in item["transports"]["L"]),
        name=str_of(item, "name"),
        created_at=int_of(item, "created_at"),
        last_used_at=opt_int_of(item, "last_used_at"),
        synced=bool(item["synced"]["BOOL"]),
    )


def registration_item(ceremony: RegistrationCeremony) -> Item:
    return {
        **registration_key(ceremony.user_id),
        "kind": s("passkey_registration"),
        "challenge": {"B": ceremony.challenge},
        "expires_at": n(ceremony.expires_at),
        "ttl": n(ttl_seconds(ceremony.expires_at)),
    }


def registration_from_item(user_id: str, item: Item) -> RegistrationCeremony:
    return RegistrationCeremony(user_id, bytes(item["challenge"]["B"]), int_of(item, "expires_at"))


def sign_in_item(ceremony: SignInCeremony) -> Item:
    item: Item = {
        **sign_in_key(ceremony.digest),
        "kind": s("passkey_sign_in"),
        "challenge": {"B": ceremony.challenge},
        "expires_at": n(ceremony.expires_at),
        "ttl": n(ttl_seconds(ceremony.expires_at)),
    }
    if ceremony.user_id is not None:
        item["user_id"] = s(ceremony.user_id)
    return item


def sign_in_from_item(digest: str, item: Item) -> SignInCeremony:
    return SignInCeremony(
        digest=digest,
        challenge=bytes(item["challenge"]["B"]),
        expires_at=int_of(item, "expires_at"),
        user_id=opt_str_of(item, "user_id"),
    )


def passkey_use_items(table: str, use: PasskeyUse) -> list[Item]:
    """The ceremony, spent once before it expires; the passkey, still there with the sign
    count that was read, moved on to the assertion's."""
    return [
        {
            "Delete": {
                "TableName": table,
                "Key": sign_in_key(use.ceremony_digest),
                "ConditionExpression": "attribute_exists(pk) AND expires_at > :now",
                "ExpressionAttributeValues": {":now": n(use.used_at)},
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": passkey_key(use.user_id, use.passkey_id),
                "UpdateExpression": "SET sign_count = :count, last_used_at = :now",
                "ConditionExpression": "attribute_exists(pk) AND sign_count = :seen",
                "ExpressionAttributeValues": {
                    ":count": n(use.new_sign_count),
                    ":now": n(use.used_at),
                    ":seen": n(use.seen_sign_count),
                },
            }
        },
    ]
