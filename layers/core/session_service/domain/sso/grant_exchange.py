"""A code's exchange within the central session's cap of grants (docs/sso.md, "The model"):
every exchange adds a grant, so a session keeps at most MAX_GRANTS_PER_SESSION live ones,
and the exchange that would pass the cap ends, in its own transaction, the exchanging app's
oldest grant (the session's oldest when the app holds none)."""

from __future__ import annotations

import itertools
import random
import secrets
import time
import uuid

from session_service.domain.errors import Unavailable
from session_service.domain.models import AccountEvent, Millis
from session_service.domain.ports import WriteConflict
from session_service.domain.sso.records import (
    AuthorizationCode,
    Grant,
    GrantsChanged,
    GrantSlots,
    GrantStore,
)

# Live grants one central session may hold: an SPA's silent sign-in per tab, every app of
# the browser, all their re-sign-ins. The 65th exchange ends the exchanging app's oldest
# grant (the session's oldest when the app holds none; the ended grant's refresh token is
# then invalid_grant and its app signs in again): an SPA renewing in many tabs ends its own
# grants, not those of an app that signed in once. A session's grants, and the reads of
# them (the back-channel's, the cap's own), so never grow with its history.
MAX_GRANTS_PER_SESSION = 64
# Concurrent exchanges of one session each take the next version of its grants: of N at
# once one lands per round. The others read again after a full-jitter exponential back-off
# (up to 10 ms, doubling to 200 ms), spread out rather than in lockstep, for as long as the
# budget allows, then 503. The budget leaves room in the function's 10 s: 24 exchanges at
# once on one session take about 3 s on DynamoDB Local, far less on DynamoDB.
EXCHANGE_BUDGET_SECONDS = 5.0
BACKOFF_BASE_SECONDS = 0.01
BACKOFF_CAP_SECONDS = 0.2


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
    """Spend the code and start its grant (GrantStore.exchange_code), ending in the same
    transaction, when the session holds `cap` already, the code's client's oldest grant (the
    session's oldest when the client holds none). The transaction takes the next version of
    the session's grants, so of concurrent exchanges one lands at a time, each on the grants
    it read: never more than `cap`, never the same grant ended twice. A lost answer that
    botocore resends is the transaction's own to recognise (its ClientRequestToken, which
    DynamoDB answers as done); one lost beyond botocore's retries is recognised by the
    grant, read back with this exchange's refresh digest."""
    deadline = time.monotonic() + EXCHANGE_BUDGET_SECONDS
    for attempt in itertools.count():
        held = grants.grant_slots(code.user_id, code.session_id, cap)
        try:
            grants.exchange_code(code, grant, event, held.version, evicted(held, code, cap))
            return
        except (GrantsChanged, WriteConflict):
            ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(attempt, 8))
            pause = random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret
            if time.monotonic() + pause > deadline:
                break
            time.sleep(pause)
        except Unavailable:
            if committed(grants, grant):
                return
            raise
    raise Unavailable(retry_after=1)


def evicted(held: GrantSlots, code: AuthorizationCode, cap: int) -> str | None:
    """The grant an exchange ends: none below the cap; else the oldest of the code's client
    among the session's (oldest first), else the session's oldest."""
    if len(held.grant_ids) < cap:
        return None
    own = (g for g, c in zip(held.grant_ids, held.client_ids, strict=True) if c == code.client_id)
    return next(own, held.grant_ids[0])


def committed(grants: GrantStore, grant: Grant) -> bool:
    """Whether an exchange whose answer was lost landed: its grant is there with its own
    refresh digest (another exchange of the same code would have started it with another)."""
    found = grants.find_grant(grant.user_id, grant.session_id, grant.grant_id)
    return found is not None and found.refresh_digest == grant.refresh_digest
