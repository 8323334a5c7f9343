"""DynamoDB's side of single sign-on's codes and grants (GrantStore, docs/sso.md).

Items (pk / sk):
  OAUTH_CODE#<digest>  / CODE          an authorization code: 60 s, then TTL removes it;
                                       `spent` once exchanged, so that a replay is known
  GRANTS#<user id>     / GRANT#<session id>#<grant id>
                                       an app's grant on one of the user's central sessions
                                       (apart from USER#: a login's read of the user's
                                       sessions never reads grants; a session's grants are
                                       one Query of its own prefix; grant ids sort by age)
  GRANTS#<user id>     / GRANT#<session id>#
                                       the version of the session's grants, which each
                                       exchange takes (the cap's; first in its Query)
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from session_service.adapters.dynamo import (
    aws,
    dynamodb_client,
    is_condition_failure,
    put_new,
    transact,
    update_if,
)
from session_service.adapters.store_items import (
    Item,
    Key,
    grant_key,
    grants_partition,
    key,
    n,
    s,
    session_grants_prefix,
    session_key,
    str_of,
    ttl_seconds,
)
from session_service.adapters.store_writes import account_event_put
from session_service.domain.errors import Unavailable
from session_service.domain.models import AccountEvent, Millis
from session_service.domain.ports import StaleWrite
from session_service.domain.sso.records import (
    AuthorizationCode,
    CentralSessionEnded,
    CodeSpent,
    Grant,
    GrantsChanged,
    GrantSlots,
)

# DynamoDB's most writes in one BatchWriteItem, and the tries of what it leaves unprocessed
BATCH_WRITE_ITEMS = 25
BATCH_WRITE_ATTEMPTS = 5
# A grant (and its session's version) outlives its session's absolute expiry by this much
# in TTL: DynamoDB's TTL deletes in no order and late, and a session's removal must still
# find its grants when the back-channel tells their apps (the grant's own expires_at, not
# its TTL, says whether it lives).
GRANT_TTL_MARGIN_SECONDS = 3 * 24 * 3600
# A spent code is kept a little past its expiry, so that a late replay still finds it.
SPENT_CODE_SECONDS = 600


def code_key(digest: str) -> Key:
    return key(f"OAUTH_CODE#{digest}", "CODE")


def _optional(value: str | None) -> dict[str, dict[str, str]]:
    return {} if value is None else {"nonce": s(value)}


def code_item(code: AuthorizationCode) -> Item:
    return {
        **code_key(code.digest),
        "client_id": s(code.client_id),
        "redirect_uri": s(code.redirect_uri),
        "code_challenge": s(code.code_challenge),
        "scope": s(code.scope),
        "user_id": s(code.user_id),
        "session_id": s(code.session_id),
        "auth_time": n(code.auth_time),
        "amr": s(" ".join(code.amr)),
        "grant_id": s(code.grant_id),
        "issued_at": n(code.issued_at),
        "expires_at": n(code.expires_at),
        "ttl": n(code.expires_at // 1000 + SPENT_CODE_SECONDS),
        **_optional(code.nonce),
    }


def code_from_item(item: Item) -> AuthorizationCode:
    return AuthorizationCode(
        digest=str_of(item, "pk").removeprefix("OAUTH_CODE#"),
        client_id=str_of(item, "client_id"),
        redirect_uri=str_of(item, "redirect_uri"),
        code_challenge=str_of(item, "code_challenge"),
        scope=str_of(item, "scope"),
        nonce=item["nonce"]["S"] if "nonce" in item else None,
        user_id=str_of(item, "user_id"),
        session_id=str_of(item, "session_id"),
        auth_time=Millis(int(item["auth_time"]["N"])),
        amr=tuple(str_of(item, "amr").split()),
        grant_id=str_of(item, "grant_id"),
        issued_at=Millis(int(item["issued_at"]["N"])),
        expires_at=Millis(int(item["expires_at"]["N"])),
        spent="spent" in item,
    )


def grant_item(grant: Grant) -> Item:
    return {
        **grant_key(grant.user_id, grant.session_id, grant.grant_id),
        "client_id": s(grant.client_id),
        "session_id": s(grant.session_id),
        "scope": s(grant.scope),
        "auth_time": n(grant.auth_time),
        "amr": s(" ".join(grant.amr)),
        "created_at": n(grant.created_at),
        "expires_at": n(grant.expires_at),
        "refresh_digest": s(grant.refresh_digest),
        "generation": n(grant.generation),
        "ttl": n(grant.expires_at // 1000 + GRANT_TTL_MARGIN_SECONDS),
        **_optional(grant.nonce),
    }


def grant_from_item(item: Item) -> Grant:
    return Grant(
        user_id=str_of(item, "pk").removeprefix("GRANTS#"),
        grant_id=str_of(item, "sk").rsplit("#", 1)[1],
        client_id=str_of(item, "client_id"),
        session_id=str_of(item, "session_id"),
        scope=str_of(item, "scope"),
        nonce=item["nonce"]["S"] if "nonce" in item else None,
        auth_time=Millis(int(item["auth_time"]["N"])),
        amr=tuple(str_of(item, "amr").split()),
        created_at=Millis(int(item["created_at"]["N"])),
        expires_at=Millis(int(item["expires_at"]["N"])),
        refresh_digest=str_of(item, "refresh_digest"),
        generation=int(item["generation"]["N"]),
        previous_digest=item["previous_digest"]["S"] if "previous_digest" in item else None,
        rotated_at=Millis(int(item["rotated_at"]["N"])) if "rotated_at" in item else None,
    )


class DynamoGrantStore:
    def __init__(self, table_name: str, client: Any = None) -> None:
        self._table = table_name
        self._client = client

    @property
    def client(self) -> Any:
        return self._client or dynamodb_client()

    def put_code(self, code: AuthorizationCode) -> None:
        put_new(self.client, self._table, "put_code", code_item(code))

    def find_code(self, digest: str) -> AuthorizationCode | None:
        with aws("find_code"):
            item = self.client.get_item(
                TableName=self._table, Key=code_key(digest), ConsistentRead=True
            ).get("Item")
        return None if item is None else code_from_item(item)

    def grant_slots(self, user_id: str, session_id: str, cap: int) -> GrantSlots:
        head = session_grants_prefix(session_id)
        with aws("grant_slots"):
            items = self.client.query(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :head)",
                ExpressionAttributeValues={":pk": s(grants_partition(user_id)), ":head": s(head)},
                ProjectionExpression="sk, version, client_id",
                ConsistentRead=True,
                Limit=cap + 1,  # the version's item, then the oldest grants
            ).get("Items", [])
        version = next((int(i["version"]["N"]) for i in items if i["sk"]["S"] == head), 0)
        held = [i for i in items if i["sk"]["S"] != head][:cap]
        return GrantSlots(
            version,
            tuple(i["sk"]["S"].removeprefix(head) for i in held),
            tuple(str_of(i, "client_id") for i in held),
        )

    def exchange_code(
        self,
        code: AuthorizationCode,
        grant: Grant,
        event: AccountEvent,
        version: int = 0,
        evict: str | None = None,
    ) -> None:
        head = key(grants_partition(grant.user_id), session_grants_prefix(grant.session_id))
        # The session's grants as the exchange read them: no other exchange between.
        seen = "attribute_not_exists(version)" if version == 0 else "version = :seen"
        evicted = (
            [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": grant_key(grant.user_id, grant.session_id, evict),
                        # Not ended meanwhile: else the count read is not the count.
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                }
            ]
            if evict is not None
            else []
        )
        transact(
            self.client,
            "exchange_code",
            [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": code_key(code.digest),
                        "UpdateExpression": "SET spent = :grant",
                        "ConditionExpression": (
                            "attribute_exists(pk) AND attribute_not_exists(spent)"
                        ),
                        "ExpressionAttributeValues": {":grant": s(grant.grant_id)},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": session_key(code.user_id, code.session_id),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": grant_item(grant),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                account_event_put(self._table, event),
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": head,
                        "UpdateExpression": "SET version = :next, #ttl = :ttl",
                        "ConditionExpression": seen,
                        "ExpressionAttributeNames": {"#ttl": "ttl"},
                        "ExpressionAttributeValues": {
                            ":next": n(version + 1),
                            ":ttl": n(grant.expires_at // 1000 + GRANT_TTL_MARGIN_SECONDS),
                            **({":seen": n(version)} if version else {}),
                        },
                    }
                },
                *evicted,
            ],
            conflicts={
                0: CodeSpent,
                1: CentralSessionEnded,
                2: CodeSpent,
                4: GrantsChanged,
                5: GrantsChanged,
            },
        )

    def find_grant(self, user_id: str, session_id: str, grant_id: str) -> Grant | None:
        with aws("find_grant"):
            item = self.client.get_item(
                TableName=self._table,
                Key=grant_key(user_id, session_id, grant_id),
                ConsistentRead=True,
            ).get("Item")
        return None if item is None else grant_from_item(item)

    def rotate_grant(self, grant: Grant, refresh_digest: str, now: Millis) -> None:
        with aws("rotate_grant"):
            try:
                self.client.update_item(
                    TableName=self._table,
                    Key=grant_key(grant.user_id, grant.session_id, grant.grant_id),
                    UpdateExpression=(
                        "SET refresh_digest = :next, generation = :generation,"
                        " previous_digest = :current, rotated_at = :now"
                    ),
                    ConditionExpression="refresh_digest = :current",
                    ExpressionAttributeValues={
                        ":next": s(refresh_digest),
                        ":current": s(grant.refresh_digest),
                        ":generation": n(grant.generation + 1),
                        ":now": n(now),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if not is_condition_failure(error):
                    raise
                # A resend of this very rotation (its answer lost) finds its own digest.
                current = error.response.get("Item", {})
                if current.get("refresh_digest", {}).get("S") != refresh_digest:
                    raise StaleWrite() from None

    def end_grant(self, user_id: str, session_id: str, grant_id: str) -> None:
        with aws("end_grant"):
            self.client.delete_item(
                TableName=self._table, Key=grant_key(user_id, session_id, grant_id)
            )

    def end_grants(self, user_id: str, session_id: str, grants: Sequence[Grant]) -> None:
        version = key(grants_partition(user_id), session_grants_prefix(session_id))
        deletes = [
            {"DeleteRequest": {"Key": grant_key(grant.user_id, grant.session_id, grant.grant_id)}}
            for grant in grants
        ] + [{"DeleteRequest": {"Key": version}}]
        for start in range(0, len(deletes), BATCH_WRITE_ITEMS):
            pending = {self._table: deletes[start : start + BATCH_WRITE_ITEMS]}
            for attempt in range(BATCH_WRITE_ATTEMPTS):
                with aws("end_grants"):
                    answer = self.client.batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(0.05 * 2**attempt * random.random())  # noqa: S311 - jitter
            else:
                # The session's record fails, and its retry deletes what is left.
                raise Unavailable(retry_after=1)

    def keep_alive(
        self, user_id: str, session_id: str, idle_expires_at: Millis, now: Millis
    ) -> None:
        update_if(
            self.client,
            self._table,
            "keep_alive",
            Key=session_key(user_id, session_id),
            UpdateExpression="SET idle_expires_at = :idle, last_used_at = :now, #ttl = :ttl",
            # Never revives an ended session (no item) nor shortens a later extension.
            ConditionExpression="attribute_exists(pk) AND idle_expires_at < :idle",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={
                ":idle": n(idle_expires_at),
                ":now": n(now),
                ":ttl": n(ttl_seconds(idle_expires_at)),
            },
        )

    def session_grants(self, user_id: str, session_id: str) -> list[Grant]:
        grants: list[Grant] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :grant)",
            "ExpressionAttributeValues": {
                ":pk": s(grants_partition(user_id)),
                ":grant": s(session_grants_prefix(session_id)),
            },
            "ConsistentRead": True,
        }
        with aws("session_grants"):
            while True:
                page = self.client.query(**request)
                grants += [
                    grant_from_item(item)
                    for item in page.get("Items", [])
                    if item["sk"]["S"] != session_grants_prefix(session_id)  # the version's
                ]
                if "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return grants
