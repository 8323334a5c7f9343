"""template.yaml as `sam deploy` creates it: the SAM resources expanded into plain
CloudFormation by aws-sam-translator, SAM's own transform. The local run reads its
functions, triggers and API from this, so that what it runs is what AWS would run (Globals
merged, event source mappings, rules with their targets, retry policies and dead-letter
queues, permissions) without restating SAM's rules here.

The translator runs in its own venv (`make translator`): it pins a pydantic that the
layer's does not match."""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from local_run.template import ROOT, Template, load_template

TRANSLATOR_PYTHON = ROOT / ".translator" / "bin" / "python"
EXPAND_SCRIPT = ROOT / "scripts" / "expand_template.py"
# What scripts/expand_template.py puts where `sam package` would upload local code.
ARTIFACT_BUCKET = "bucket"


class ExpansionError(RuntimeError):
    """The template could not be expanded (no translator, or SAM refused the template)."""


@functools.cache
def _expanded(parameters: frozenset[tuple[str, str]], region: str) -> dict[str, Any]:
    (document,) = expand_documents(load_template(), [dict(parameters)], region)
    return document


def expand_documents(
    document: Mapping[str, Any],
    parameter_sets: Sequence[Mapping[str, str]],
    region: str = "us-east-1",
) -> list[dict[str, Any]]:
    """A SAM document expanded once for each set of parameter values, in one translator
    process (its import is most of an expansion's time)."""
    if not TRANSLATOR_PYTHON.exists():
        raise ExpansionError("aws-sam-translator is not installed: run `make translator`")
    result = subprocess.run(
        [str(TRANSLATOR_PYTHON), str(EXPAND_SCRIPT), json.dumps([dict(p) for p in parameter_sets])],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": region},
    )
    if result.returncode != 0:
        raise ExpansionError(f"aws-sam-translator refused the template:\n{result.stderr}")
    expanded: list[dict[str, Any]] = json.loads(result.stdout)
    return expanded


def expanded_template(
    parameters: Mapping[str, str] | None = None, region: str = "us-east-1"
) -> dict[str, Any]:
    """The CloudFormation template `sam deploy` would create with these parameter values
    (the others at their defaults), a copy each call. SAM substitutes some parameters as
    it expands (an HTTP API's CORS origins): expand with the values the run uses."""
    return copy.deepcopy(_expanded(frozenset((parameters or {}).items()), region))


def artifact_path(location: Mapping[str, Any]) -> Path:
    """The local directory of a function's Code or a layer's Content (S3Bucket, S3Key)."""
    if location.get("S3Bucket") != ARTIFACT_BUCKET:
        raise ExpansionError(f"not an artifact of this template: {location}")
    return ROOT / str(location["S3Key"])


def deployed_template(parameters: Mapping[str, str] | None = None, **names: str) -> Template:
    """The expanded template, its intrinsics resolved with these parameter values (and the
    stack name, region and account given in `names`): what the local run runs."""
    region = names.get("region", "us-east-1")
    return Template(expanded_template(parameters, region), parameter_overrides=parameters, **names)
