"""Reads template.yaml (the SAM source), and resolves a CloudFormation template's
parameters, conditions and intrinsics to local names. The local run resolves the template
as `sam deploy` expands it (local_run/expansion.py), never SAM's own resource types."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"
_SHORT_FORMS = ("Ref", "Condition")


# libyaml's parser where PyYAML has it: a tenth of the pure-Python one's time.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """A YAML loader that keeps CloudFormation's short-form tags as their long forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in _SHORT_FORMS else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as a document of its own (the caller may change it): parsed once per
    version of the file, copied for each caller."""
    stat = path.stat()
    return copy.deepcopy(_parsed(path, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _parsed(path: Path, _mtime_ns: int, _size: int) -> dict[str, Any]:
    with path.open() as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - safe
        return document


def environment_name(parameter: str) -> str:
    """The environment variable that sets a template parameter: MaxSessionsPerUser is
    MAX_SESSIONS_PER_USER, as the functions themselves name it."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", parameter).upper()


def parameter_overrides(document: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Template parameters given in the environment, by their variable names."""
    overrides = {}
    for parameter in document.get("Parameters", {}):
        value = env.get(environment_name(parameter))
        if value is not None:
            overrides[parameter] = value
    return overrides


class UnsupportedTemplate(ValueError):
    """Something the template declares that the local run cannot run as AWS would: it
    refuses to start rather than serve something else without a word."""


@dataclass
class LocalNames:
    """What Ref and GetAtt resolve to for resources that exist locally."""

    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)


class Template:
    """The template with intrinsics resolved against local parameter values and names."""

    def __init__(
        self,
        document: Mapping[str, Any],
        parameter_overrides: Mapping[str, str] | None = None,
        stack_name: str = "session-service",
        region: str = "us-east-1",
        account_id: str = "123456789012",
    ) -> None:
        self.document = document
        self.stack_name = stack_name
        self.region = region
        self.account_id = account_id
        self.parameters = {
            name: str(spec.get("Default", ""))
            for name, spec in document.get("Parameters", {}).items()
        }
        self.parameters.update(parameter_overrides or {})
        self.names = LocalNames()
        self._conditions: dict[str, bool] = {}

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.document.get("Resources", {}))

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            name: resource
            for name, resource in self.resources.items()
            if resource.get("Type") == resource_type
        }

    def physical_name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def functions(self) -> dict[str, dict[str, Any]]:
        """The Lambda functions, as the expanded template declares them."""
        return self.of_type("AWS::Lambda::Function")

    # -- intrinsics -----------------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.document["Conditions"][name]))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        """Resolve intrinsics; a property that resolves to AWS::NoValue is None here and
        is left out of its mapping, as CloudFormation leaves it out."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            handler = self._intrinsics().get(key)
            if handler is not None:
                return handler(argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not None}

    def _intrinsics(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::If": lambda a: self.resolve(a[1] if self.condition(a[0]) else a[2]),
            # CloudFormation compares as strings (a parameter is one, 0 in YAML is not).
            "Fn::Equals": lambda a: str(self.resolve(a[0])) == str(self.resolve(a[1])),
            "Fn::Not": lambda a: not self.resolve(a[0]),
            "Fn::And": lambda a: all(self.resolve(x) for x in a),
            "Fn::Or": lambda a: any(self.resolve(x) for x in a),
            "Condition": self.condition,
            "Fn::Split": lambda a: str(self.resolve(a[1])).split(a[0]),
            "Fn::Join": lambda a: a[0].join(str(x) for x in self.resolve(a[1])),
            "Fn::Select": lambda a: self.resolve(a[1])[int(a[0])],
            "Fn::FindInMap": lambda a: self.document["Mappings"][str(self.resolve(a[0]))][
                str(self.resolve(a[1]))
            ][str(self.resolve(a[2]))],
        }

    def _pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def _ref(self, name: str) -> str | None:
        if name == "AWS::NoValue":
            return None
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.parameters:
            return self.parameters[name]
        return self.names.refs.get(name, self.physical_name(name))

    def _get_att(self, argument: list[str]) -> str:
        logical_id, attribute = argument
        known = self.names.attributes.get((logical_id, attribute))
        if known is not None:
            return known
        if attribute == "Arn":
            return self._default_arn(logical_id)
        raise KeyError(f"no local value for {logical_id}.{attribute}")

    def _default_arn(self, logical_id: str) -> str:
        kind = self.resources.get(logical_id, {}).get("Type", "")
        name = str(self._ref(logical_id))
        service = {
            "AWS::Lambda::Function": f"lambda:{self.region}:{self.account_id}:function:{name}",
            "AWS::SQS::Queue": f"sqs:{self.region}:{self.account_id}:{name.rsplit('/', 1)[-1]}",
            "AWS::Events::EventBus": f"events:{self.region}:{self.account_id}:event-bus/{name}",
            "AWS::DynamoDB::Table": f"dynamodb:{self.region}:{self.account_id}:table/{name}",
            "AWS::IAM::Role": f"iam::{self.account_id}:role/{name}",
            # KMS names a key by an alias ARN too: the alias the local run gives each key.
            "AWS::KMS::Key": f"kms:{self.region}:{self.account_id}:alias/{name}",
        }.get(kind, f"local:{self.region}:{self.account_id}:{name}")
        return f"arn:aws:{service}"

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and self._pseudo(name) is None:
                logical_id, attribute = name.split(".", 1)
                return self._get_att([logical_id, attribute])
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)
