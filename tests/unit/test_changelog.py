"""CHANGELOG.md is held to template.yaml: every parameter, output and export a deploy
creates is named in it, so a change to them cannot ship without its entry; docs/deploy.md
sends operators to it before an upgrade."""

from __future__ import annotations

import re

import pytest

from local_run.template import ROOT, load_template

CHANGELOG = ROOT / "CHANGELOG.md"
DEPLOY = ROOT / "docs" / "deploy.md"
TEMPLATE = load_template()
VERSION_HEADING = re.compile(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", re.MULTILINE)


def changelog() -> str:
    return CHANGELOG.read_text()


def section(document: str, heading: str) -> str:
    """The text under a `## ` heading, up to the next one."""
    start = document.index(f"\n{heading}\n")
    end = document.find("\n## ", start + 1)
    return document[start : end if end != -1 else len(document)]


@pytest.mark.parametrize("name", sorted(TEMPLATE["Parameters"]))
def test_every_parameter_is_named_in_the_changelog(name: str) -> None:
    assert f"`{name}`" in changelog()


@pytest.mark.parametrize("name", sorted(TEMPLATE["Outputs"]))
def test_every_output_is_named_in_the_changelog(name: str) -> None:
    assert f"`{name}`" in changelog()


def test_every_export_is_named_as_importers_import_it() -> None:
    exports = [
        output["Export"]["Name"]["Fn::Sub"].replace("${AWS::StackName}", "<stack>")
        for output in TEMPLATE["Outputs"].values()
        if "Export" in output
    ]
    assert exports == ["<stack>-AuthorizerArn", "<stack>-AuthorizerAliasArn"]
    missing = [name for name in exports if f"`{name}`" not in changelog()]
    assert missing == []


def test_versions_go_newest_first_from_unreleased_each_with_its_upgrade_notes() -> None:
    headings = VERSION_HEADING.findall(changelog())
    assert headings[0] == ("Unreleased", "")
    dates = [date for _, date in headings[1:]]
    assert "" not in dates
    assert dates == sorted(dates, reverse=True)
    versions = changelog().split("\n## [")[1:]
    assert len(versions) == len(headings)
    without_upgrade = [v.split("]")[0] for v in versions if "\n### Upgrade\n" not in v]
    assert without_upgrade == []


def test_the_changelog_says_how_to_clear_a_failed_rotation_and_what_moved_the_exports() -> None:
    text = changelog()
    assert "AWSPENDING" in text
    assert "aws secretsmanager update-secret-version-stage" in text
    assert "--remove-from-version-id" in text
    assert "`<stack>-AuthorizerCacheSeconds`" in text  # the export removed by 5479b90
    assert "`/<stack>/authorizer-cache-seconds`" in text


def test_deploy_md_has_the_pre_upgrade_checklist_and_links_the_changelog() -> None:
    checklist = section(DEPLOY.read_text(), "## Before you upgrade")
    assert "[CHANGELOG.md](../CHANGELOG.md)" in checklist
    for step in (
        "sam deploy --no-execute-changeset",
        "Replacement",
        "`SessionTable`",
        "`SigningKeySecret`",
        "`SecondFactorKeySecret`",
        "AWSPENDING",
        "aws cloudformation list-imports",
        "make smoke",
    ):
        assert step in checklist, step
    assert "(docs/deploy.md#before-you-upgrade)" in changelog()
