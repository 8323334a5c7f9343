"""Lambda's event filtering (FilterCriteria), for the local stream pump: a record reaches
the function only if it matches one of the patterns, as on AWS. The subset of EventBridge
pattern syntax the template uses: exact values, `exists`, `prefix`, nested objects."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def parse_filters(filter_criteria: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The patterns of a FilterCriteria property (each one a JSON string)."""
    filters = (filter_criteria or {}).get("Filters", [])
    return [json.loads(entry["Pattern"]) for entry in filters]


def passes(patterns: Sequence[Mapping[str, Any]], record: Mapping[str, Any]) -> bool:
    """No patterns: everything passes. Otherwise the record must match one of them."""
    return not patterns or any(_matches(pattern, record) for pattern in patterns)


def _matches(pattern: Mapping[str, Any], value: Any) -> bool:
    if not isinstance(value, Mapping):
        return False
    for key, expected in pattern.items():
        if isinstance(expected, Mapping):
            # Patterns name paths: a missing object is a path whose leaves are absent.
            if not _matches(expected, value.get(key, {})):
                return False
        elif not any(_allows(rule, key in value, value.get(key)) for rule in expected):
            return False
    return True


def _allows(rule: Any, present: bool, value: Any) -> bool:
    if isinstance(rule, Mapping):
        if "exists" in rule:
            return present is bool(rule["exists"])
        if "prefix" in rule:
            return present and isinstance(value, str) and value.startswith(rule["prefix"])
        raise ValueError(f"unsupported filter rule {rule!r}")
    return present and value == rule
