"""A model of Lambda's log-level filter for functions logging in JSON, as its documentation
states it (Lambda developer guide, "Log-level filtering"): a line is a JSON object whose
`level` Lambda reads only beside a valid RFC 3339 `timestamp`; a missing or invalid level,
an invalid timestamp or a line that is not a JSON object counts as INFO; Lambda keeps a
line at or above the function's ApplicationLogLevel and drops the rest."""

from __future__ import annotations

import json
from datetime import datetime

# Least severe first. Python's names map onto Lambda's: the documentation counts Python's
# logging module and Powertools among the methods whose levels Lambda filters unchanged.
LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SPELLINGS = {"WARNING": "WARN", "CRITICAL": "FATAL"}


def _rfc3339(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value.upper():
        return False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return parsed.tzinfo is not None


def level_of(line: str) -> str:
    """The level Lambda gives a line of the function's output."""
    try:
        record = json.loads(line)
    except ValueError:
        return "INFO"
    if not isinstance(record, dict) or not _rfc3339(record.get("timestamp")):
        return "INFO"
    level = str(record.get("level", "")).upper()
    level = SPELLINGS.get(level, level)
    return level if level in LEVELS else "INFO"


def lambda_keeps(line: str, application_log_level: str) -> bool:
    """Whether the line reaches CloudWatch Logs under this ApplicationLogLevel."""
    return LEVELS.index(level_of(line)) >= LEVELS.index(application_log_level)
