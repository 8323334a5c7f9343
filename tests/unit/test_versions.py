"""Every update deploys what was tested: the authorizer's alias "live" moves to a new
version whenever anything that reaches the function changes (its code, the layer, any
parameter value), and stays put when nothing did.

CloudFormation publishes a new version when the version resource's logical id changes
(SAM derives it from a hash of the properties as written) or when a property that
requires replacement changes (its Description, which CloudFormation resolves with the
parameter values). A version's identity here is both."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from local_run.expansion import expand_documents
from local_run.template import Template, load_template

TEMPLATE = load_template()
PARAMETERS: dict[str, dict[str, Any]] = TEMPLATE["Parameters"]
AUTHORIZER = "AuthorizerFunction"
# The function's configuration that no version holds: reserved concurrency is the
# function's, whatever version runs.
NOT_IN_A_VERSION = ("ReservedConcurrentExecutions",)


def _identity(expanded: dict[str, Any], parameters: dict[str, str]) -> tuple[str, Any]:
    template = Template(expanded, parameter_overrides=parameters)
    (logical_id,) = template.of_type("AWS::Lambda::Version")
    return logical_id, template.resolve(template.resources[logical_id]["Properties"])


def _authorizer(expanded: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    template = Template(expanded, parameter_overrides=parameters)
    properties: dict[str, Any] = template.resolve(template.resources[AUTHORIZER]["Properties"])
    return {k: v for k, v in properties.items() if k not in NOT_IN_A_VERSION}


def _with_authorizer_only(document: dict[str, Any]) -> dict[str, Any]:
    """The template reduced to the authorizer and its layer: each expansion takes a
    fraction of the whole template's, and the authorizer expands the same."""
    reduced = copy.deepcopy(document)
    resources = reduced["Resources"]
    reduced["Resources"] = {name: resources[name] for name in ("CoreLayer", AUTHORIZER)}
    reduced["Resources"][AUTHORIZER].pop("DependsOn", None)
    return reduced


def _another_value(name: str) -> str:
    """A value of the parameter other than its default, as a deploy could give it."""
    spec = PARAMETERS[name]
    default = str(spec.get("Default", ""))
    allowed = [str(value) for value in spec.get("AllowedValues", [])]
    if allowed:
        return next(value for value in allowed if value != default)
    if spec["Type"] == "Number":
        higher = int(default) + 1
        return str(higher if higher <= int(spec.get("MaxValue", higher)) else int(default) - 1)
    examples = {
        "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:alarms",
        "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
        "AdminPrincipals": "arn:aws:iam::123456789012:role/admin",
        "AllowedOrigins": "https://app.example.com",
        "TokenIssuer": "https://issuer.example.com",
    }
    return examples.get(name, f"{default}x")


def test_the_same_template_expanded_twice_keeps_the_same_version() -> None:
    first, second = expand_documents(TEMPLATE, [{}, {}])
    assert _identity(first, {}) == _identity(second, {})


NAMES = sorted(PARAMETERS)
# The defaults, then each parameter changed alone.
SWEEP: list[dict[str, str]] = [{}] + [{name: _another_value(name)} for name in NAMES]


@pytest.fixture(scope="module")
def sweep() -> list[dict[str, Any]]:
    return expand_documents(_with_authorizer_only(TEMPLATE), SWEEP)


@pytest.mark.parametrize(
    ("resource", "uri", "changed"),
    [
        # `sam package` uploads changed code under a new key (its content's hash).
        ("CoreLayer", "ContentUri", "layers/core-changed"),
        (AUTHORIZER, "CodeUri", "functions/authorizer-changed"),
    ],
)
def test_a_new_layer_or_new_code_publishes_a_new_version(
    sweep: list[dict[str, Any]], resource: str, uri: str, changed: str
) -> None:
    document = _with_authorizer_only(TEMPLATE)
    document["Resources"][resource]["Properties"][uri] = changed
    (after,) = expand_documents(document, [{}])
    assert _identity(sweep[0], {})[0] != _identity(after, {})[0]


def test_a_version_follows_exactly_the_parameters_that_reach_the_function(
    sweep: list[dict[str, Any]],
) -> None:
    names, sets = NAMES, SWEEP
    default, *changed = sweep
    baseline_function, baseline_version = _authorizer(default, {}), _identity(default, {})
    reaching, mismatched = [], []
    for name, parameters, expanded in zip(names, sets[1:], changed, strict=True):
        reaches = _authorizer(expanded, parameters) != baseline_function
        new_version = _identity(expanded, parameters) != baseline_version
        reaching += [name] if reaches else []
        mismatched += [name] if reaches != new_version else []
    assert mismatched == []
    # The sweep sees what it should: the authorizer's own parameters and the shared ones.
    assert {
        "AuthorizerMemorySize",
        "AuthorizerSnapStart",
        "LogLevel",
        "TokenAudience",
        "DomainName",  # as the issuer
    } <= set(reaching)
    assert "MaxSessionsPerUser" not in reaching


def _longest(name: str) -> str:
    spec = PARAMETERS[name]
    if "AllowedValues" in spec:
        return max((str(value) for value in spec["AllowedValues"]), key=len)
    if spec["Type"] == "Number":
        bounds = [str(spec[key]) for key in ("MinValue", "MaxValue")]
        return max(bounds, key=len)
    return "x" * int(spec["MaxLength"])


def test_the_version_description_fits_lambdas_256_characters_at_every_value() -> None:
    description = TEMPLATE["Resources"][AUTHORIZER]["Properties"]["VersionDescription"]
    text = json.dumps(description)
    named = [n for n in PARAMETERS if f"${{{n}}}" in text or f'"Ref": "{n}"' in text]
    assert {"TokenIssuer", "DomainName", "LogLevel", "AuthorizerMemorySize"} <= set(named)
    unbounded = [
        name
        for name in named
        if not {"AllowedValues", "MaxLength"} & PARAMETERS[name].keys()
        and not {"MinValue", "MaxValue"} <= PARAMETERS[name].keys()
    ]
    assert unbounded == []
    longest = {name: _longest(name) for name in named}
    # The issuer is TokenIssuer, else https://DomainName: the longest of either.
    lengths = [
        len(Template(TEMPLATE, parameter_overrides=values).resolve(description))
        for values in (longest, {**longest, "TokenIssuer": ""})
    ]
    # Some room to spare: a number written with leading zeros is longer than its bound.
    assert max(lengths) <= 256 - 8


@pytest.mark.parametrize("snap_start", ["true", "false"])
def test_snapstart_is_sent_only_when_on(sweep: list[dict[str, Any]], snap_start: str) -> None:
    properties = _authorizer(sweep[0], {"AuthorizerSnapStart": snap_start})
    expected = {"ApplyOn": "PublishedVersions"} if snap_start == "true" else None
    assert properties.get("SnapStart") == expected


def test_replaced_versions_are_deleted(sweep: list[dict[str, Any]]) -> None:
    (version,) = Template(sweep[0]).of_type("AWS::Lambda::Version").values()
    assert version["DeletionPolicy"] == "Delete"
