"""The table's e-mail items, and what a session's start spends of them.

Items (pk / sk):
  EMAIL#<address>        / EMAIL      a verified address: whose it is (one account each)
  EMAILVERIFY#<user id>  / PENDING    the address a user asked to verify, and its code's
                                      keyed digest once the mailer drew it
  RESET#<token digest>   / RESET      a password-reset token (the credential names the
                                      newest one's digest: `reset_digest`)
  EMAILLOGIN#<digest>    / EMAILLOGIN a sign-in by e-mailed code, by its login_id's digest
A code's `tries` come with `tried`, the ids of the attempts that counted them (a try sent
again after its answer was lost finds its own id there, and counts once).
Every one carries `ttl` but the verified address, which lives as long as the account.
"""

from __future__ import annotations

from session_service.adapters.federation_items import handoff_spend
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
from session_service.domain.email.records import (
    MAX_CODE_TRIES,
    AddressOwner,
    EmailLogin,
    PendingAddress,
    ResetToken,
)
from session_service.domain.ports import SecretSpend

# An unverified address waits this long for its code to be asked again or entered.
PENDING_SECONDS = 86_400


def owner_key(address: str) -> Key:
    return key(f"EMAIL#{address}", "EMAIL")


def pending_key(user_id: str) -> Key:
    return key(f"EMAILVERIFY#{user_id}", "PENDING")


def reset_key(digest: str) -> Key:
    return key(f"RESET#{digest}", "RESET")


def email_login_key(digest: str) -> Key:
    return key(f"EMAILLOGIN#{digest}", "EMAILLOGIN")


def owner_item(owner: AddressOwner) -> Item:
    return {
        **owner_key(owner.address),
        "kind": s("email_owner"),
        "user_id": s(owner.user_id),
        "username_key": s(owner.username_key),
    }


def owner_from_item(item: Item) -> AddressOwner:
    return AddressOwner(
        address=str_of(item, "pk").removeprefix("EMAIL#"),
        user_id=str_of(item, "user_id"),
        username_key=str_of(item, "username_key"),
    )


def pending_item(pending: PendingAddress) -> Item:
    item: Item = {
        **pending_key(pending.user_id),
        "kind": s("email_pending"),
        "address": s(pending.address),
        "request_id": s(pending.request_id),
        "requested_at": n(pending.requested_at),
        "tries": n(pending.tries),
        "ttl": n(ttl_seconds(pending.requested_at + PENDING_SECONDS * 1000)),
    }
    if pending.code_digest is not None and pending.expires_at is not None:
        item["code_digest"] = s(pending.code_digest)
        item["expires_at"] = n(pending.expires_at)
    return item


def pending_from_item(item: Item) -> PendingAddress:
    return PendingAddress(
        user_id=str_of(item, "pk").removeprefix("EMAILVERIFY#"),
        address=str_of(item, "address"),
        request_id=str_of(item, "request_id"),
        requested_at=int_of(item, "requested_at"),
        code_digest=opt_str_of(item, "code_digest"),
        expires_at=opt_int_of(item, "expires_at"),
        tries=opt_int_of(item, "tries") or 0,
    )


def reset_item(token: ResetToken) -> Item:
    return {
        **reset_key(token.digest),
        "kind": s("password_reset"),
        "user_id": s(token.user_id),
        "username_key": s(token.username_key),
        "password_version": n(token.password_version),
        "expires_at": n(token.expires_at),
        "ttl": n(ttl_seconds(token.expires_at)),
    }


def reset_from_item(item: Item) -> ResetToken:
    return ResetToken(
        digest=str_of(item, "pk").removeprefix("RESET#"),
        user_id=str_of(item, "user_id"),
        username_key=str_of(item, "username_key"),
        password_version=int_of(item, "password_version"),
        expires_at=int_of(item, "expires_at"),
    )


def email_login_item(login: EmailLogin) -> Item:
    return {
        **email_login_key(login.digest),
        "kind": s("email_login"),
        "address": s(login.address),
        "created_at": n(login.created_at),
        "expires_at": n(login.expires_at),
        "tries": n(login.tries),
        "ttl": n(ttl_seconds(login.expires_at)),
    }


def email_login_from_item(item: Item) -> EmailLogin:
    return EmailLogin(
        digest=str_of(item, "pk").removeprefix("EMAILLOGIN#"),
        address=str_of(item, "address"),
        created_at=int_of(item, "created_at"),
        expires_at=int_of(item, "expires_at"),
        user_id=opt_str_of(item, "user_id") or "",
        username_key=opt_str_of(item, "username_key") or "",
        code_digest=opt_str_of(item, "code_digest"),
        tries=opt_int_of(item, "tries") or 0,
    )


def email_login_spend(table: str, spends: SecretSpend) -> Item | None:
    """A start's spending of an e-mailed code: its login goes, if it still holds that
    code with tries left (of concurrent sign-ins with one code, one lands)."""
    if spends.login_digest is None or spends.code_digest is None:
        return None
    return {
        "Delete": {
            "TableName": table,
            "Key": email_login_key(spends.login_digest),
            # (the right try was counted too: at most MAX_CODE_TRIES in all)
            "ConditionExpression": "code_digest = :code AND tries <= :max",
            "ExpressionAttributeValues": {
                ":code": s(spends.code_digest),
                ":max": n(MAX_CODE_TRIES),
            },
        }
    }


def reset_spend(table: str, spends: SecretSpend) -> Item | None:
    """A reset's token item goes with the reset (the credential's condition is what
    makes it single use; this only tidies)."""
    if spends.reset_digest is None:
        return None
    return {"Delete": {"TableName": table, "Key": reset_key(spends.reset_digest)}}


def spend_items(table: str, spends: SecretSpend | None) -> list[Item]:
    if spends is None:
        return []
    handoff = handoff_spend(table, spends.handoff_digest) if spends.handoff_digest else None
    spent = (email_login_spend(table, spends), reset_spend(table, spends), handoff)
    return [item for item in spent if item]
