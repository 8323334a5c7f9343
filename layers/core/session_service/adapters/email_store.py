"""DynamoDB's side of e-mail (EmailStore): verified addresses, pending verifications,
reset tokens, sign-ins by code and the requests the mailer serves (email_items.py)."""

from __future__ import annotations

import secrets
from typing import Any

from botocore.exceptions import ClientError

from session_service.adapters.dynamo import (
    aws,
    dynamodb_client,
    is_condition_failure,
    transact,
    update_if,
)
from session_service.adapters.email_items import (
    email_login_from_item,
    email_login_item,
    email_login_key,
    owner_from_item,
    owner_item,
    owner_key,
    pending_from_item,
    pending_item,
    pending_key,
    reset_from_item,
    reset_item,
    reset_key,
)
from session_service.adapters.mail_items import mail_request_item
from session_service.adapters.store_items import (
    Item,
    Key,
    credential_from_item,
    credential_item,
    key_id,
    login_key,
    n,
    profile_from_item,
    profile_item,
    profile_key,
    s,
)
from session_service.adapters.store_writes import account_event_put
from session_service.domain.email.mail import MailRequest
from session_service.domain.email.records import (
    MAX_CODE_TRIES,
    AccountView,
    AddressOwner,
    EmailLogin,
    PendingAddress,
    ResetToken,
)
from session_service.domain.models import AccountEvent, Credential, Millis, UserProfile
from session_service.domain.ports import AlreadyExists, StaleWrite


class DynamoEmailStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._db = client
        self._table = table_name

    def _put(self, item: Item, condition: str | None = None) -> Item:
        put: Item = {"TableName": self._table, "Item": item}
        if condition:
            put["ConditionExpression"] = condition
        return {"Put": put}

    def _get(self, item_key: Key, operation: str) -> Item | None:
        with aws(operation):
            found = self._db.get_item(TableName=self._table, Key=item_key, ConsistentRead=True)
        item: Item | None = found.get("Item")
        return item

    # -- the request's side ------------------------------------------------------------

    def register_with_address(
        self,
        credential: Credential,
        profile: UserProfile,
        pending: PendingAddress,
        mail: MailRequest,
    ) -> None:
        items = [
            self._put(credential_item(credential), "attribute_not_exists(pk)"),
            self._put(profile_item(profile), "attribute_not_exists(pk)"),
            self._put(pending_item(pending)),
            self._put(mail_request_item(mail)),
        ]
        transact(
            self._db, "register_with_address", items, conflicts={0: AlreadyExists, 1: AlreadyExists}
        )

    def request_verification(self, pending: PendingAddress, mail: MailRequest) -> None:
        # Replaces any pending address (and its code) of the user.
        items = [self._put(pending_item(pending)), self._put(mail_request_item(mail))]
        transact(self._db, "request_verification", items)

    def find_pending(self, user_id: str) -> PendingAddress | None:
        item = self._get(pending_key(user_id), "find_pending")
        return pending_from_item(item) if item else None

    def count_verification_try(self, pending: PendingAddress) -> str:
        return self._count_try(
            "count_verification_try",
            pending_key(pending.user_id),
            "request_id = :request AND tries < :max",
            {":request": s(pending.request_id), ":max": n(MAX_CODE_TRIES)},
        )

    def give_back_verification_try(self, pending: PendingAddress, attempt: str) -> None:
        self._give_back_try("give_back_verification_try", pending_key(pending.user_id), attempt)

    def _count_try(self, operation: str, item_key: Key, condition: str, values: Item) -> str:
        """One more try of a code, its attempt's id joining `tried`: the same write sent
        again (its answer lost, botocore retries it) finds its own id and counts nothing
        more. StaleWrite when the condition fails (spent, replaced, no tries left)."""
        attempt = secrets.token_urlsafe(9)
        with aws(operation):
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=item_key,
                    UpdateExpression="ADD tries :one, tried :attempt",
                    ConditionExpression=f"{condition} AND NOT contains(tried, :id)",
                    ExpressionAttributeValues={
                        ":one": n(1),
                        ":attempt": {"SS": [attempt]},
                        ":id": s(attempt),
                        **values,
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if not is_condition_failure(error):
                    raise
                tried = error.response.get("Item", {}).get("tried", {}).get("SS", [])
                if attempt not in tried:
                    raise StaleWrite() from None
        return attempt

    def _give_back_try(self, operation: str, item_key: Key, attempt: str) -> None:
        # Only while this try counts: sent again, or after the code was spent, a no-op.
        update_if(
            self._db,
            self._table,
            operation,
            Key=item_key,
            UpdateExpression="ADD tries :minus_one DELETE tried :attempt",
            ConditionExpression="contains(tried, :id)",
            ExpressionAttributeValues={
                ":minus_one": n(-1),
                ":attempt": {"SS": [attempt]},
                ":id": s(attempt),
            },
        )

    def verify_address(
        self,
        pending: PendingAddress,
        owner: AddressOwner,
        previous: str | None,
        event: AccountEvent,
        notice: MailRequest | None = None,
    ) -> None:
        items: list[Item] = [
            # One account per verified address: another's refuses; the user's own stays.
            self._put(owner_item(owner), "attribute_not_exists(pk) OR user_id = :user"),
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": pending_key(pending.user_id),
                    # The code is spent once, only the code of this request, and only
                    # while it has tries left (wrong guesses racing it count first).
                    "ConditionExpression": (
                        "request_id = :request AND code_digest = :code AND tries <= :max"
                    ),
                    "ExpressionAttributeValues": {
                        ":request": s(pending.request_id),
                        ":code": s(pending.code_digest or ""),
                        ":max": n(MAX_CODE_TRIES),
                    },
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": profile_key(pending.user_id),
                    "UpdateExpression": "SET email = :address",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":address": s(owner.address)},
                }
            },
            account_event_put(self._table, event),
        ]
        items[0]["Put"]["ExpressionAttributeValues"] = {":user": s(owner.user_id)}
        if previous and previous != owner.address:
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": owner_key(previous),
                        "ConditionExpression": "attribute_not_exists(pk) OR user_id = :user",
                        "ExpressionAttributeValues": {":user": s(owner.user_id)},
                    }
                }
            )
            # A reset link sent to the old address is void with it.
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": login_key(owner.username_key),
                        "UpdateExpression": "REMOVE reset_digest",
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                }
            )
            if notice is not None:
                items.append(self._put(mail_request_item(notice)))
        transact(self._db, "verify_address", items, conflicts={0: AlreadyExists})

    def find_owner(self, address: str) -> AddressOwner | None:
        item = self._get(owner_key(address), "find_owner")
        return owner_from_item(item) if item else None

    def request_mail(self, mail: MailRequest) -> None:
        with aws("request_mail"):
            self._db.put_item(TableName=self._table, Item=mail_request_item(mail))

    def start_email_login(self, login: EmailLogin, mail: MailRequest) -> None:
        items = [self._put(email_login_item(login)), self._put(mail_request_item(mail))]
        transact(self._db, "start_email_login", items)

    def find_email_login(self, digest: str) -> EmailLogin | None:
        item = self._get(email_login_key(digest), "find_email_login")
        return email_login_from_item(item) if item else None

    def count_code_try(self, login: EmailLogin) -> str:
        return self._count_try(
            "count_code_try",
            email_login_key(login.digest),
            "attribute_exists(pk) AND tries < :max",
            {":max": n(MAX_CODE_TRIES)},
        )

    def give_back_code_try(self, login: EmailLogin, attempt: str) -> None:
        self._give_back_try("give_back_code_try", email_login_key(login.digest), attempt)

    def spend_email_login(self, login: EmailLogin) -> None:
        items = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": email_login_key(login.digest),
                    "ConditionExpression": "code_digest = :code AND tries <= :max",
                    "ExpressionAttributeValues": {
                        ":code": s(login.code_digest or ""),
                        ":max": n(MAX_CODE_TRIES),
                    },
                }
            }
        ]
        transact(self._db, "spend_email_login", items)

    def find_reset(self, digest: str) -> ResetToken | None:
        item = self._get(reset_key(digest), "find_reset")
        return reset_from_item(item) if item else None

    def account_view(self, user_id: str, username_key: str) -> AccountView | None:
        keys = [profile_key(user_id), login_key(username_key), pending_key(user_id)]
        with aws("account_view"):
            response = self._db.batch_get_item(
                RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
            )
        found = {key_id(item): item for item in response.get("Responses", {}).get(self._table, [])}
        if response.get("UnprocessedKeys"):
            # Under load DynamoDB may leave keys unread: read them one by one.
            for item_key in keys:
                if key_id(item_key) not in found:
                    item = self._get(item_key, "account_view")
                    if item:
                        found[key_id(item_key)] = item
        profile = found.get(key_id(keys[0]))
        if profile is None:
            return None
        credential = found.get(key_id(keys[1]))
        pending = found.get(key_id(keys[2]))
        return AccountView(
            profile=profile_from_item(profile),
            credential=credential_from_item(credential) if credential else None,
            pending=pending_from_item(pending) if pending else None,
        )

    # -- the mailer's side -------------------------------------------------------------

    def set_verification_code(
        self, pending: PendingAddress, code_digest: str, expires_at: Millis
    ) -> bool:
        written = update_if(
            self._db,
            self._table,
            "set_verification_code",
            Key=pending_key(pending.user_id),
            UpdateExpression="SET code_digest = :code, expires_at = :expires, tries = :zero",
            ConditionExpression="request_id = :request",
            ExpressionAttributeValues={
                ":code": s(code_digest),
                ":expires": n(expires_at),
                ":zero": n(0),
                ":request": s(pending.request_id),
            },
        )
        return written is not None

    def issue_reset(self, token: ResetToken, credential: Credential, event: AccountEvent) -> None:
        items = [
            self._put(reset_item(token)),
            {
                "Update": {
                    "TableName": self._table,
                    "Key": login_key(credential.username_key),
                    # The newest token is the one that counts: the others are void.
                    "UpdateExpression": "SET reset_digest = :digest",
                    "ConditionExpression": "password_version = :version",
                    "ExpressionAttributeValues": {
                        ":digest": s(token.digest),
                        ":version": n(credential.password_version),
                    },
                }
            },
            account_event_put(self._table, event),
        ]
        try:
            transact(self._db, "issue_reset", items, conflicts={2: AlreadyExists})
        except AlreadyExists:
            # The request's record is there: its retry (SES failed, or AWS after the write),
            # whose new token replaces the one never mailed.
            transact(self._db, "issue_reset", items[:2])

    def set_login_code(self, login: EmailLogin, owner: AddressOwner, code_digest: str) -> bool:
        written = update_if(
            self._db,
            self._table,
            "set_login_code",
            Key=email_login_key(login.digest),
            UpdateExpression=(
                "SET user_id = :user, username_key = :key, code_digest = :code, tries = :zero"
            ),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={
                ":user": s(owner.user_id),
                ":key": s(owner.username_key),
                ":code": s(code_digest),
                ":zero": n(0),
            },
        )
        return written is not None


def dynamo_email_store(table_name: str) -> DynamoEmailStore:
    return DynamoEmailStore(dynamodb_client(), table_name)
