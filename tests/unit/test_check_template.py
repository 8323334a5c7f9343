"""`make check-template` lints template.yaml and its expansions by aws-sam-translator with
the defaults and with every option on (scripts/check_template.py); EVERY_OPTION_ON turns on
every Condition of the template with values the template accepts."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from local_run.expansion import expanded_template
from local_run.template import ROOT, Template, load_template
from scripts.check_template import EVERY_OPTION_ON, main

TEMPLATE = load_template()


def test_every_condition_is_true_with_every_option_on() -> None:
    template = Template(TEMPLATE, EVERY_OPTION_ON)
    conditions: dict[str, Any] = TEMPLATE["Conditions"]

    # `is True`: a form the resolver does not know stays a (truthy) mapping, and fails.
    off = [
        name for name, condition in conditions.items() if template.resolve(condition) is not True
    ]

    assert conditions
    assert off == []


def test_every_option_is_a_parameter_set_to_a_value_it_allows() -> None:
    parameters: dict[str, Any] = TEMPLATE["Parameters"]
    refused = []
    for name, value in EVERY_OPTION_ON.items():
        spec = parameters[name]
        allowed = [
            str(value) != str(spec.get("Default", "")),
            value in [str(v) for v in spec.get("AllowedValues", [value])],
            re.fullmatch(spec.get("AllowedPattern", ".*"), value) is not None,
            len(value) >= spec.get("MinLength", 0),
        ]
        if spec["Type"] == "Number":
            number = float(value)
            allowed += [
                number >= spec.get("MinValue", number),
                number <= spec.get("MaxValue", number),
            ]
        if not all(allowed):
            refused.append(name)

    assert refused == []


def test_the_templates_rules_hold_with_every_option_on() -> None:
    template = Template(TEMPLATE, EVERY_OPTION_ON)
    rules: dict[str, Any] = TEMPLATE["Rules"]

    broken = [
        name
        for name, rule in rules.items()
        if template.resolve(rule.get("RuleCondition", True)) is True
        and not all(template.resolve(a["Assert"]) is True for a in rule["Assertions"])
    ]

    assert rules
    assert broken == []


def fake_cfn_lint(tmp_path: Path, failing: str | None = None) -> Path:
    """A cfn-lint that writes its arguments to calls.log beside it; with `failing`, it
    reports a finding (exit status 2) on the template whose path contains it."""
    path = tmp_path / "cfn-lint"
    fail = f'case "$*" in *{failing}*) echo "E3001 finding"; exit 2;; esac\n' if failing else ""
    path.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{tmp_path}/calls.log"\n{fail}')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT, walk_up=True))


def test_the_template_and_both_expansions_are_linted_with_their_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "expanded"

    assert main(["--output-dir", str(out), "--cfn-lint", str(fake_cfn_lint(tmp_path))]) == 0

    defaults, every = out / "defaults.json", out / "every-option.json"
    assert json.loads(defaults.read_text()) == expanded_template()
    assert json.loads(every.read_text()) == expanded_template(EVERY_OPTION_ON)
    parameters = " ".join(f"{key}={value}" for key, value in EVERY_OPTION_ON.items())
    assert sorted((tmp_path / "calls.log").read_text().splitlines()) == sorted(
        [
            f"--template {ROOT / 'template.yaml'}",
            f"--template {defaults}",
            f"--template {every} --parameters {parameters}",
        ]
    )
    assert capsys.readouterr() == (
        f"cfn-lint template.yaml: ok\ncfn-lint {shown(defaults)}: ok\n"
        f"cfn-lint {shown(every)}: ok\n",
        "",
    )


def test_a_finding_on_an_expansion_fails_and_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "expanded"
    cfn_lint = fake_cfn_lint(tmp_path, failing="every-option.json")

    assert main(["--output-dir", str(out), "--cfn-lint", str(cfn_lint)]) == 1

    every = shown(out / "every-option.json")
    assert capsys.readouterr() == (
        f"cfn-lint template.yaml: ok\ncfn-lint {shown(out / 'defaults.json')}: ok\n"
        f"cfn-lint {every}: FAILED (exit status 2)\nE3001 finding\n",
        f"error: cfn-lint found problems in {every}\n",
    )
