"""cfn-lint on template.yaml and on what `sam deploy` makes of it: the template expanded by
aws-sam-translator (local_run/expansion.py, `make translator`) once with every parameter
at its default and once with every option on (EVERY_OPTION_ON: every Condition of the
template true), written to .aws-sam/expanded/{defaults,every-option}.json. cfn-lint reads
each expansion with the parameter values it was expanded with. Any finding fails (exit
status 1). `make check-template` runs it:

    python -m scripts.check_template [--output-dir DIR] [--cfn-lint PATH]"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from local_run.expansion import ExpansionError, expanded_template
from local_run.template import ROOT, TEMPLATE_PATH

OUTPUT_DIR = ROOT / ".aws-sam" / "expanded"
CFN_LINT = ROOT / ".tools" / "bin" / "cfn-lint"

# Realistic values that turn on every Condition of template.yaml (a test holds each one
# true under them, so a new Condition needs its option here), with the other options a
# deployment may turn on: cookies, required MFA, Graviton, X-Ray, a quieter log.
EVERY_OPTION_ON: dict[str, str] = {
    "TokenIssuer": "https://auth.example.com",
    "ExternalPasswordChangeSources": "com.example.directory",
    "AllowedOrigins": "https://app.example.com",
    "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:session-service-alarms",
    "DomainName": "api.example.com",
    "CertificateArn": (
        "arn:aws:acm:us-east-1:123456789012:certificate/0f2c8e1a-5b7d-4e3f-9a61-2d4c6b8e0f13"
    ),
    "ApiReservedConcurrency": "100",
    "AuthorizerReservedConcurrency": "100",
    "PasswordChangedReservedConcurrency": "10",
    "EventPublisherReservedConcurrency": "5",
    "BackchannelLogoutReservedConcurrency": "5",
    "AdminReservedConcurrency": "2",
    "KeyRotationReservedConcurrency": "1",
    "MailerReservedConcurrency": "2",
    "EmailSender": "no-reply@mail.example.com",
    "EmailConfigurationSet": "session-service-mail",
    "EmailSignIn": "on",
    "FederationSignup": "off",
    "AuthorizerSnapStart": "true",
    "RefreshTokenTransport": "cookie",
    "MfaPolicy": "required",
    "BindSessionToIp": "on",
    "AdminPrincipals": "arn:aws:iam::123456789012:role/session-admin",
    "TableDeletionProtection": "true",
    "AuthorizerCacheSeconds": "300",
    "Architecture": "arm64",
    "TracingMode": "Active",
    "LogLevel": "WARNING",
}

EXPANSIONS: dict[str, Mapping[str, str]] = {"defaults": {}, "every-option": EVERY_OPTION_ON}

# cfn-lint rules skipped on the expansions, each with its reason. None: template.yaml and
# both expansions lint clean (cfn-lint 1.58).
IGNORED_RULES: dict[str, str] = {}


def write_expansions(directory: Path) -> dict[Path, Mapping[str, str]]:
    """Each expansion's JSON file, with the parameter values it was expanded with."""
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[Path, Mapping[str, str]] = {}
    for name, parameters in EXPANSIONS.items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(expanded_template(parameters), indent=1) + "\n")
        written[path] = parameters
    return written


def lint_command(cfn_lint: Path, template: Path, parameters: Mapping[str, str]) -> list[str]:
    command = [str(cfn_lint), "--template", str(template)]
    if IGNORED_RULES:
        command += ["--ignore-checks", *IGNORED_RULES]
    if parameters:
        command += ["--parameters", *(f"{key}={value}" for key, value in parameters.items())]
    return command


def lint(cfn_lint: Path, templates: Mapping[Path, Mapping[str, str]]) -> list[Path]:
    """Run cfn-lint on each template at once, print its findings; the ones with any."""
    runs = {
        template: subprocess.Popen(  # noqa: S603 - the project's cfn-lint, our templates
            lint_command(cfn_lint, template, parameters),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for template, parameters in templates.items()
    }
    failed = []
    for template, run in runs.items():
        output, _ = run.communicate()
        verdict = "ok" if run.returncode == 0 else f"FAILED (exit status {run.returncode})"
        print(f"cfn-lint {template.relative_to(ROOT, walk_up=True)}: {verdict}")
        if output.strip():
            print(output.rstrip())
        if run.returncode != 0:
            failed.append(template)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check_template", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", type=Path, default=OUTPUT_DIR)
    parser.add_argument("--cfn-lint", type=Path, default=CFN_LINT)
    args = parser.parse_args(argv)
    if not args.cfn_lint.exists():
        print(f"error: no cfn-lint at {args.cfn_lint}: run `make tools`", file=sys.stderr)
        return 2
    try:
        expansions = write_expansions(args.output_dir)
    except ExpansionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = lint(args.cfn_lint, {TEMPLATE_PATH: {}, **expansions})
    if failed:
        names = ", ".join(str(path.relative_to(ROOT, walk_up=True)) for path in failed)
        print(f"error: cfn-lint found problems in {names}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
