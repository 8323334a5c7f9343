"""Two stacks of this template side by side (staging and production in one account and
region; one stack name in two regions) share no name and no metric: the layer, the
dashboard, and the service dimension every metric, alarm and dashboard widget uses."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local_run.expansion import expanded_template
from local_run.template import Template

NAMESPACE = "SessionService"
SIDE_BY_SIDE = [
    ("staging", "eu-west-1"),
    ("production", "eu-west-1"),
    ("production", "us-east-1"),
]


def _stack(stack_name: str, region: str) -> Template:
    return Template(expanded_template(), stack_name=stack_name, region=region)


def _names(template: Template) -> dict[str, Any]:
    (layer,) = template.of_type("AWS::Lambda::LayerVersion").values()
    (dashboard,) = template.of_type("AWS::CloudWatch::Dashboard").values()
    return {
        "layer": (template.region, template.resolve(layer["Properties"]["LayerName"])),
        # A dashboard's name is the account's, whatever the region.
        "dashboard": template.resolve(dashboard["Properties"]["DashboardName"]),
    }


def test_no_two_stacks_share_a_layer_or_a_dashboard_name() -> None:
    names = [_names(_stack(*stack)) for stack in SIDE_BY_SIDE]
    for kind in ("layer", "dashboard"):
        assert len({json.dumps(found[kind]) for found in names}) == len(SIDE_BY_SIDE)


@pytest.mark.parametrize(("stack_name", "region"), SIDE_BY_SIDE)
def test_every_metric_of_a_stack_carries_its_own_service(stack_name: str, region: str) -> None:
    template = _stack(stack_name, region)
    services = {
        template.resolve(function["Properties"]["Environment"]["Variables"])[
            "POWERTOOLS_SERVICE_NAME"
        ]
        for function in template.functions().values()
    }
    assert services == {stack_name}
    alarms = [alarm["Properties"] for alarm in template.of_type("AWS::CloudWatch::Alarm").values()]
    ours = [
        {"Dimensions": template.resolve(alarm["Dimensions"])}
        for alarm in alarms
        if alarm.get("Namespace") == NAMESPACE
    ]
    assert len(ours) >= 5
    assert all(alarm["Dimensions"] == [{"Name": "service", "Value": stack_name}] for alarm in ours)
    (dashboard,) = template.of_type("AWS::CloudWatch::Dashboard").values()
    body = template.resolve(dashboard["Properties"]["DashboardBody"])
    widgets = json.loads(body)["widgets"]
    metric_rows = [row for w in widgets for row in w["properties"]["metrics"]]
    own = [row for row in metric_rows if row[0] == NAMESPACE]
    searches = [row[0]["expression"] for row in metric_rows if isinstance(row[0], dict)]
    assert len(own) >= 10
    assert all(row[2:4] == ["service", stack_name] for row in own)
    assert len(searches) == 2
    assert all(re.search(rf'service="{stack_name}"', search) for search in searches)
