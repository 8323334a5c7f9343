"""A code's exchange within the central session's cap of grants (docs/sso.md, "The model"):
every exchange adds a grant, so a session keeps at most MAX_GRANTS_PER_SESSION live ones,
and the exchange that would pass the cap ends the oldest in its own transaction."""

from __future__ import annotations

import random
import secrets
import time
import uuid

from session_service.domain.errors import Unavailable
from session_service.domain.models import AccountEvent, Millis
from session_service.domain.ports import WriteConflict
from session_service.domain.sso.records import AuthorizationCode, Grant, GrantsChanged, GrantStore

# Live grants one central session may hold: an SPA's silent sign-in per tab, every app of
# the browser, all their re-sign-ins. The 65th exchange ends the oldest (whose app finds its
# refresh token invalid_grant and signs in again), so a session's grants, and the reads
# of them (the back-channel's, the cap's own), never grow with its history.
MAX_GRANTS_PER_SESSION = 64
# Concurrent exchanges of one session each take the next version of its grants: of N at
# once one lands per round, so N exchanges need N rounds at worst.
EXCHANGE_ATTEMPTS = 16


def time_ordered_id(now: Millis) -> str:
    """A grant id (a UUID, version 7, RFC 9562) whose text sorts by `now`: its item's sort
    key, GRANT#<session id>#<grant id>, so sorts the session's grants oldest first."""
    bits = (now & (2**48 - 1)) << 80 | 0x7 << 76 | secrets.randbits(12) << 64
    return str(uuid.UUID(int=bits | 0b10 << 62 | secrets.randbits(62)))


def exchange_within_cap(
    grants: GrantStore,
    code: AuthorizationCode,
    grant: Grant,
    event: AccountEvent,
    cap: int = MAX_GRANTS_PER_SESSION,
) -> None:
    """Spend the code and start its grant (GrantStore.exchange_code), ending the session's
    oldest grant in the same transaction when it holds `cap` already. The transaction takes
    the next version of the session's grants, so of concurrent exchanges one lands at a
    time, each on the grants it read: never more than `cap`, never the same grant ended
    twice. A lost answer is the transaction's own to recognise (botocore resends it with its
    ClientRequestToken, which DynamoDB answers as done)."""
    for attempt in range(EXCHANGE_ATTEMPTS):
        held = grants.grant_slots(code.user_id, code.session_id, cap)
        oldest = held.grant_ids[0] if len(held.grant_ids) >= cap else None
        try:
            grants.exchange_code(code, grant, event, held.version, oldest)
            return
        except (GrantsChanged, WriteConflict):
            time.sleep(0.002 * (attempt + 1) * random.random())  # noqa: S311 - jitter
    raise Unavailable(retry_after=1)
