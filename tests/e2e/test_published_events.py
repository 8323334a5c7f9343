"""Every change of a burst reaches the bus, and later changes still do (the local run's
stream pump against the table's stream, on moto and on DynamoDB Local)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.service import BURSTS, DEPLOYED_URL, BusListener, Service
from tests.helpers import PASSWORD

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.skipif(bool(DEPLOYED_URL), reason="reads the local emulator's bus"),
]


@pytest.fixture
def service(on_each_backend: Callable[..., Service]) -> Service:
    return on_each_backend(**BURSTS)


@pytest.fixture
def users(service: Service) -> Iterator[tuple[str, str, BusListener]]:
    """Two new users (no session yet) and a listener to their events."""
    names = [f"e2e-{uuid.uuid4().hex[:16]}" for _ in range(2)]
    ids = []
    for name in names:
        answer = service.post("/auth/register", {"username": name, "password": PASSWORD})
        assert answer.status_code == 201
        ids.append(str(answer.json()["user_id"]))
    listener = BusListener(service, ids)
    yield names[0], names[1], listener
    listener.close()


def test_every_change_of_a_burst_reaches_the_bus_and_later_changes_still_do(
    service: Service, users: tuple[str, str, BusListener]
) -> None:
    first, second, listener = users
    # When 12 logins of the first user race (limit 3: each one past it evicts the oldest)
    body = {"username": first, "password": PASSWORD}
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: service.post("/auth/login", body), range(12)))
    assert [answer.status_code for answer in answers] == [200] * 12
    # Then 12 starts and 9 evictions reach the bus, and one new device (the first)
    expected = Counter(
        {
            ("SessionStarted", ""): 12,
            ("SessionRevoked", "evicted"): 9,
            ("NewDeviceSignIn", ""): 1,
        }
    )
    assert listener.until(expected) == expected
    # And a later change, of the other user, still does
    listener.received.clear()
    service.login(second)
    later = Counter({("SessionStarted", ""): 1, ("NewDeviceSignIn", ""): 1})
    assert listener.until(later) == later
