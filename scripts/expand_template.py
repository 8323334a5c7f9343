"""Expand a SAM template (read as JSON, CloudFormation's long forms, on stdin) into the
CloudFormation template `sam deploy` creates, printed as JSON. Run by the tools venv's
Python, where aws-sam-translator is installed with cfn-lint: it pins its own pydantic,
which must not enter the project's venv (the layer pins another)."""

from __future__ import annotations

import json
import os
import sys

from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no managed policy by name (SAM adds the basic execution role by
    ARN), so the transform needs no IAM lookup."""

    def load(self) -> dict[str, str]:
        return {}


def main() -> None:
    document = json.load(sys.stdin)
    for resource in document["Resources"].values():
        properties = resource.get("Properties", {})
        # What `sam package` does: local code becomes an S3 object.
        for uri in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(uri), str):
                properties[uri] = f"s3://bucket/{properties[uri]}"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    json.dump(transform(document, {}, NoManagedPolicies()), sys.stdout)


if __name__ == "__main__":
    main()
