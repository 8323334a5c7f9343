"""A burst of frontends at once: none is reset, none gets a 5xx, each gets every answer its
flow expects (the short form of `make load`)."""

from __future__ import annotations

import threading

import pytest

from bench.load import Client, Tally
from tests.e2e.service import Service

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

CLIENTS = 32


def test_32_clients_at_once_each_complete_the_flow_without_a_reset_or_5xx(
    service: Service,
) -> None:
    # Given 32 frontends released together
    tallies = [Tally() for _ in range(CLIENTS)]
    start = threading.Barrier(CLIENTS)

    def frontend(tally: Tally) -> None:
        client = Client(service.base_url, tally, timeout=60)
        start.wait()
        # When each registers and runs the flow twice
        if client.register():
            client.flow()
            client.flow()

    threads = [threading.Thread(target=frontend, args=(tally,)) for tally in tallies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then no request failed and every answer was the one the flow expects
    total = Tally()
    for tally in tallies:
        total.add(tally)
    assert dict(total.errors) == {}
    assert total.flows == 2 * CLIENTS
    assert len(total.latencies_ms) == CLIENTS * (1 + 2 * 7)
