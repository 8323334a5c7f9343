"""Calls sent at once (domain/concurrency.py): every call is waited for, the first failure
in order is the one raised, a call started from the pool's own thread never waits for the
pool, and a pooled call sees its caller's context variables."""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from session_service.domain.concurrency import SEQUENTIAL, ParallelCalls

REQUEST = contextvars.ContextVar("request", default="none")


@pytest.fixture
def parallel() -> ParallelCalls:
    return ParallelCalls(ThreadPoolExecutor(2))


def test_all_waits_for_every_call_and_raises_the_first_failure_in_order(
    parallel: ParallelCalls,
) -> None:
    finished: list[str] = []
    slow = threading.Event()

    def first() -> None:
        slow.wait(5)
        finished.append("first")
        raise KeyError("first")

    def second() -> None:
        finished.append("second")
        raise ValueError("second")

    def last() -> None:
        slow.set()
        finished.append("last")

    with pytest.raises(KeyError):
        parallel.all([first, second, last])
    assert sorted(finished) == ["first", "last", "second"]


def test_alongside_answers_the_main_call_once_the_side_call_has_finished(
    parallel: ParallelCalls,
) -> None:
    done = threading.Event()

    def side() -> None:
        done.wait(0.05)
        raise RuntimeError("its own failure, not the request's")

    assert parallel.alongside(side, lambda: 42) == 42


def test_a_call_started_from_a_pooled_call_never_waits_for_the_pool() -> None:
    # Given a pool of two threads, both busy with calls that start another and wait for it
    parallel = ParallelCalls(ThreadPoolExecutor(2))
    both_started = threading.Barrier(2, timeout=5)

    def outer() -> str:
        both_started.wait()
        return parallel.start(lambda: threading.current_thread().name).result()

    pending = [parallel.start(outer) for _ in range(2)]
    # Then the inner calls ran where they were started, and nothing waits forever
    names = [p.result(timeout=5) for p in pending]
    assert all(name.startswith("ThreadPoolExecutor") for name in names)


def test_a_pooled_call_sees_its_callers_context(parallel: ParallelCalls) -> None:
    token = REQUEST.set("ada's login")
    try:
        assert parallel.start(REQUEST.get).result() == "ada's login"
    finally:
        REQUEST.reset(token)


def test_without_a_pool_calls_are_made_where_they_are_started() -> None:
    made: list[str] = []
    pending = SEQUENTIAL.start(lambda: made.append("now"))
    assert made == ["now"]
    pending.result()
    failing = SEQUENTIAL.start(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result()
