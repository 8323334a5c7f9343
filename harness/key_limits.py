"""DynamoDB's limits on a key, as the in-memory stores apply them."""

from __future__ import annotations

from session_service.adapters.store_items import Key
from session_service.domain.errors import Unavailable

# DynamoDB's limits on a key, in UTF-8 bytes: a request naming a longer one is refused
# (ValidationException), reads included; a Query by partition is not.
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024


def check_keys(*keys: Key) -> None:
    """As the DynamoDB stores answer DynamoDB's refusal of an over-long key: a 503."""
    for item_key in keys:
        pk, sk = item_key["pk"]["S"].encode(), item_key["sk"]["S"].encode()
        if len(pk) > MAX_PARTITION_KEY_BYTES or len(sk) > MAX_SORT_KEY_BYTES:
            raise Unavailable(retry_after=1)
