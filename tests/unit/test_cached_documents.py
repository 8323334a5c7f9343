"""Keys read from Secrets Manager or Parameter Store are cached, parsed once per value, and
kept through a failed read: a throttled read does not fail the requests meanwhile."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from harness.clock import FixedClock
from session_service.adapters.secrets import STALE_RETRY_SECONDS, cached_json_fetcher
from session_service.domain.errors import Unavailable

THROTTLED = ClientError({"Error": {"Code": "ThrottlingException"}}, "GetParameter")


class Reads:
    def __init__(self) -> None:
        self.answers: list[str | Exception] = []
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_failed_read_keeps_the_value_read_before_and_tries_again_soon() -> None:
    clock, reads = FixedClock(0.0), Reads()
    fetch = cached_json_fetcher(reads, 300, "the keys", clock)
    reads.answers = ['{"keys": [1]}', THROTTLED, '{"keys": [2]}']
    first = fetch(False)
    assert fetch(False) is first  # cached: the same object, parsed once by its reader
    clock.advance(300)
    assert fetch(False) is first  # the read failed: the value from before serves
    assert reads.count == 2
    clock.advance(STALE_RETRY_SECONDS - 1)
    assert fetch(False) is first  # no read before the retry interval
    clock.advance(1)
    assert fetch(False) == {"keys": [2]}
    assert reads.count == 3


def test_a_failed_first_read_is_an_outage() -> None:
    reads = Reads()
    reads.answers = [THROTTLED]
    with pytest.raises(Unavailable):
        cached_json_fetcher(reads, 300, "the keys", FixedClock(0.0))(False)
