"""Calls that do not wait on each other, sent at once: a login's reads and writes that
depend on nothing the others return go out together (a DynamoDB round trip each,
overlapping), on a small pool of threads per container. botocore's clients are
thread-safe; argon2 releases the GIL while it hashes.

A call sent this way is always waited for before the request answers: Lambda freezes a
container once its handler returns, and a write must never be left half-sent. A call
started from one of the pool's own threads is made there and then: a pooled call that
waited for another could wait forever once every thread of the pool waits too."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from session_service.observability import logger

_pooled = threading.local()


class Pending[T]:
    """A call under way (or, without a pool, already made)."""

    def __init__(self, future: Future[T]) -> None:
        self._future = future

    def result(self, timeout: float | None = None) -> T:
        """Its answer, or its exception, once it has finished."""
        return self._future.result(timeout)

    def settle(self) -> None:
        """Wait for it and drop what it answered: a call whose answer is no longer
        needed (the request failed meanwhile) still ends before the request does."""
        try:
            self._future.result()
        except Exception as error:  # its own failure was never the request's
            logger.debug("a parallel call's answer was not needed", error=type(error).__name__)


class ParallelCalls:
    """Start calls on the container's pool; with none (`executor=None`), each call is made
    where it is started, one after another (the order the code reads in)."""

    def __init__(self, executor: Executor | None = None) -> None:
        self._executor = executor

    def start[T](self, call: Callable[[], T]) -> Pending[T]:
        if self._executor is not None and not getattr(_pooled, "active", False):
            # (with the caller's context variables: the request's, as on its own thread)
            context = contextvars.copy_context()
            return Pending(self._executor.submit(context.run, _on_pool, call))
        done: Future[T] = Future()
        try:
            done.set_result(call())
        except BaseException as error:  # kept for result(), as a pool's future keeps it
            done.set_exception(error)
        return Pending(done)

    def alongside[T](self, side: Callable[[], object], main: Callable[[], T]) -> T:
        """`main`'s answer, `side` made meanwhile (best effort: its failure is its own,
        and it has finished when this returns)."""
        pending = self.start(side)
        try:
            return main()
        finally:
            pending.settle()

    def all(self, calls: list[Callable[[], Any]]) -> None:
        """Make every call at once (the last one on this thread); every one has finished
        when this returns. The first failure among them, in order, is raised."""
        if not calls:
            return
        started = [self.start(call) for call in calls[:-1]]
        last: BaseException | None = None
        try:
            calls[-1]()
        except BaseException as error:
            last = error
        failures: list[BaseException] = []
        for pending in started:
            try:
                pending.result()
            except BaseException as error:
                failures.append(error)
        if last is not None:
            failures.append(last)
        if failures:
            raise failures[0]


def _on_pool[T](call: Callable[[], T]) -> T:
    _pooled.active = True
    try:
        return call()
    finally:
        _pooled.active = False


SEQUENTIAL = ParallelCalls()
