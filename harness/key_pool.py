"""Signing keys for tests, generated once per process and handed out in turn: a domain or
a stack costs no key generation of its own (an RSA key takes about 0.1 s, and the suites
build hundreds), while consecutive keys stay distinct, so a rotation still gets a new one."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from session_service.domain.keys import key_rotation

# Keys per algorithm: more than any test rotates through.
POOL_SIZE = 8
_generate = key_rotation._new_private_key
_keys: dict[str, list[Any]] = {}
_turns: dict[str, Iterator[int]] = {}


def pooled_private_key(algorithm: Any) -> Any:
    keys = _keys.setdefault(algorithm, [])
    index = next(_turns.setdefault(algorithm, itertools.cycle(range(POOL_SIZE))))
    if index == len(keys):
        keys.append(_generate(algorithm))
    return keys[index]


def use_pooled_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(key_rotation, "_new_private_key", pooled_private_key)
