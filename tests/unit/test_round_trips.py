"""Round trips from calls' spans (harness/round_trips.py): calls sent at once count once,
and a call counts after every call that had answered before it was sent."""

from __future__ import annotations

from harness.round_trips import round_trips


def test_calls_sent_at_once_count_once_and_a_chain_counts_each_link() -> None:
    assert round_trips([]) == 0
    assert round_trips([(0, 1), (0.01, 1.2), (0.02, 0.9)]) == 1
    assert round_trips([(0, 1), (1, 2), (2, 3)]) == 3


def test_calls_of_successive_rounds_that_overlap_still_count_one_after_another() -> None:
    # The credential and the address's place at once; the sessions' read sent when the
    # credential answered, while the place was still under way; the transaction once both
    # had answered; the session's write last: three round trips (merging the spans that
    # overlap would count two)
    spans = [(0, 1), (0, 1.1), (1.0, 2.0), (1.1, 2.1), (2.2, 3.2)]
    assert round_trips(spans) == 3
