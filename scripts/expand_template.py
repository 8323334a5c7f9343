"""Expand a SAM template (read as JSON, CloudFormation's long forms, on stdin) into the
CloudFormation template `sam deploy` creates, printed as JSON. Parameter values, as a JSON
object in the first argument, are those CloudFormation would hand the transform (SAM
substitutes some of them, e.g. in an HTTP API's CorsConfiguration); a list of such objects
prints a list of templates, one for each. Run by the translator venv's
Python (`make translator`): aws-sam-translator pins its own pydantic, which must not enter
the project's venv (the layer pins another)."""

from __future__ import annotations

import copy
import json
import os
import sys

from samtranslator.translator.transform import transform

# local_run/expansion.py reads the S3 key back as the code's directory.
ARTIFACT_BUCKET = "bucket"


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
                properties[uri] = f"s3://{ARTIFACT_BUCKET}/{properties[uri]}"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    parameters = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    # A list of parameter sets expands the document once for each, in one process.
    if isinstance(parameters, list):
        expanded = [
            transform(copy.deepcopy(document), each, NoManagedPolicies()) for each in parameters
        ]
        json.dump(expanded, sys.stdout)
        return
    json.dump(transform(document, parameters, NoManagedPolicies()), sys.stdout)


if __name__ == "__main__":
    main()
