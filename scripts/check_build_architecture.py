"""The build is for the architecture the deployment gives the functions: every native
library `sam build` put under .aws-sam/build/ (the layer's wheels and each function's
directory) must be of that machine, or the functions fail to import it (an x86_64
argon2-cffi-bindings, cryptography or pydantic_core on arm64).

The expected architecture is the one `sam deploy` sends: `Architecture=` in samconfig.toml's
deploy parameter_overrides of the config env (else its global ones), else the template's
default; --architecture overrides it. Every ELF file is checked, whatever its name: its
header's e_machine names its machine. `make build` and `make deploy` run it:

    python -m scripts.check_build_architecture [--architecture arm64]   # check the build
    python -m scripts.check_build_architecture --print-expected          # what to build for
    python -m scripts.check_build_architecture --deploy-parameter-overrides
        # samconfig.toml's deploy parameter_overrides with Architecture set, for `sam deploy`

Exit status 1 names each library of another machine and the command that rebuilds."""

from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from local_run.template import ROOT, TEMPLATE_PATH, load_template

BUILD_DIR = ROOT / ".aws-sam" / "build"
SAMCONFIG = ROOT / "samconfig.toml"
PARAMETER = "Architecture"
# ELF e_machine values of Lambda's two architectures.
MACHINES = {62: "x86_64", 183: "arm64"}
ARCHITECTURES = tuple(MACHINES.values())
_ELF_MAGIC = b"\x7fELF"
_ELF_BIG_ENDIAN = 2
_HEADER_SIZE = 20

# SAM CLI's own reading of a parameter_overrides string (samcli/cli/types.py,
# CfnParameterOverridesType): Key=Value pairs separated by spaces (or
# ParameterKey=K,ParameterValue=V), a value quoted with " or ' when it holds a space.
_KEY = r"""([A-Za-z0-9"']+)"""
_VALUE = r"""("(?:\\.|[^"\\]+)*"|'(?:\\.|[^'\\]+)*'|(?:\\.|[^ "\\]+)+)"""
_PATTERNS = (
    re.compile(rf"(?:ParameterKey={_KEY},ParameterValue={_VALUE})"),
    re.compile(rf"(?:(?: ){_KEY}={_VALUE})"),
)
_PLAIN_VALUE = re.compile(r"""[^\s"'\\]+""")


class ConfigError(ValueError):
    """samconfig.toml cannot be read as SAM CLI reads it."""


@dataclass(frozen=True)
class Expected:
    """The architecture to build for, and where it comes from (said in every message)."""

    architecture: str
    source: str
    # Set when samconfig.toml names no Architecture: an existing stack then keeps the one
    # it was deployed with (sam deploy sends UsePreviousValue), not the template's default.
    warning: str | None = None


# -- samconfig.toml, as `sam deploy` reads it --------------------------------------------


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    return text.replace("\\ ", " ").replace('\\"', '"').replace("\\'", "'")


def parse_parameter_overrides(value: object) -> dict[str, str]:
    """parameter_overrides as SAM CLI reads them: a string of Key=Value pairs, a list of
    such strings, or a table (a list value joined with commas)."""
    if isinstance(value, list):
        parsed: dict[str, str] = {}
        for item in value:
            parsed |= parse_parameter_overrides(item)
        return parsed
    if isinstance(value, dict):
        return {str(k): _table_value(v) for k, v in value.items()}
    if not isinstance(value, str):
        raise ConfigError(f"parameter_overrides: not a string, list or table: {value!r}")
    if value.startswith("file://"):
        raise ConfigError(f"parameter_overrides {value}: not followed here; use --architecture")
    if not value.strip():
        return {}
    for pattern in _PATTERNS:
        pairs = pattern.findall(" " + value.strip())
        if pairs:
            return {_unquote(key): _unquote(item) for key, item in pairs}
    raise ConfigError(f"parameter_overrides {value!r}: not Key=Value pairs")


def _table_value(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(item).strip() for item in value if item not in (None, ""))
    return str(value)


def format_parameter_overrides(overrides: Mapping[str, str]) -> str:
    """One string SAM CLI reads back as these overrides (a value quoted when needed)."""

    def quoted(value: str) -> str:
        if _PLAIN_VALUE.fullmatch(value):
            return value
        escaped = value.replace('"', '\\"')
        return f'"{escaped}"'

    return " ".join(f"{key}={quoted(value)}" for key, value in overrides.items())


def deploy_parameter_overrides(
    config_file: Path, config_env: str
) -> tuple[str, dict[str, str]] | None:
    """The parameter_overrides `sam deploy --config-env ENV` reads, and where: the deploy
    section's, else the global section's (a command's own value replaces the global one
    whole); None when neither names any."""
    if not config_file.exists():
        return None
    try:
        config = tomllib.loads(config_file.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{config_file.name}: {error}") from error
    environment = config.get(config_env, {})
    for command in ("deploy", "global"):
        parameters = environment.get(command, {}).get("parameters", {})
        if "parameter_overrides" in parameters:
            section = f"{config_file.name} [{config_env}.{command}.parameters] parameter_overrides"
            return section, parse_parameter_overrides(parameters["parameter_overrides"])
    return None


def template_default(template: Path = TEMPLATE_PATH) -> str:
    parameter = load_template(template).get("Parameters", {}).get(PARAMETER, {})
    return str(parameter.get("Default", "x86_64"))


def expected_architecture(
    config_file: Path = SAMCONFIG, config_env: str = "default", template: Path = TEMPLATE_PATH
) -> Expected:
    """The Architecture `sam deploy` sends with this configuration."""
    section, overrides = deploy_parameter_overrides(config_file, config_env) or (
        f"{config_file.name} [{config_env}.deploy.parameters] parameter_overrides",
        {},
    )
    if PARAMETER in overrides:
        architecture = overrides[PARAMETER]
        if architecture not in ARCHITECTURES:
            raise ConfigError(
                f"{section}: Architecture={architecture} is not one of {ARCHITECTURES}"
            )
        return Expected(architecture, section)
    return Expected(
        template_default(template),
        f"{template.name}'s default ({section} names no Architecture)",
        warning=(
            f"{section} names no Architecture: a new stack takes the template's default, "
            "but an existing one keeps the architecture it was deployed with; name it there"
        ),
    )


# -- the build's native libraries ---------------------------------------------------------


def elf_machine(path: Path) -> int | None:
    """The e_machine of an ELF file's header; None when the file is not ELF."""
    with path.open("rb") as handle:
        header = handle.read(_HEADER_SIZE)
    if len(header) < _HEADER_SIZE or not header.startswith(_ELF_MAGIC):
        return None
    return int.from_bytes(header[18:20], "big" if header[5] == _ELF_BIG_ENDIAN else "little")


def machine_name(machine: int) -> str:
    return MACHINES.get(machine, f"e_machine {machine}")


def native_libraries(build_dir: Path) -> Iterator[tuple[Path, str]]:
    """Every ELF file under the build directory (shared libraries, whatever their name, and
    executables), with its architecture; symbolic links are not followed."""
    for directory, subdirectories, files in os.walk(build_dir):
        subdirectories.sort()
        for name in sorted(files):
            path = Path(directory, name)
            if path.is_symlink() or not path.is_file():
                continue
            machine = elf_machine(path)
            if machine is not None:
                yield path, machine_name(machine)


def mismatches(build_dir: Path, architecture: str) -> tuple[int, list[tuple[Path, str]]]:
    """How many native libraries the build holds, and those not of this architecture."""
    found = list(native_libraries(build_dir))
    return len(found), [(path, arch) for path, arch in found if arch != architecture]


def failure_message(
    build_dir: Path, expected: Expected, wrong: list[tuple[Path, str]], config_env: str
) -> str:
    arch = expected.architecture
    files = "\n".join(f"  {path.relative_to(build_dir)}: {machine}" for path, machine in wrong)
    env = "" if config_env == "default" else f" CONFIG_ENV={config_env}"
    return (
        f"error: native libraries under {build_dir} that are not {arch}, the functions' "
        f"architecture ({expected.source}):\n{files}\n"
        f"The functions would fail to import them. Build for {arch}: `make build{env} "
        f"ARCH={arch}` (without ARCH it builds for samconfig.toml's Architecture) or "
        f"`sam build --parameter-overrides Architecture={arch}`."
    )


def check(
    build_dir: Path, expected: Expected, deployed: Expected, config_env: str = "default"
) -> int:
    """Print the verdict; 1 when any native library is of another architecture."""
    if not build_dir.is_dir():
        print(f"error: no build at {build_dir}: run `make build`", file=sys.stderr)
        return 1
    count, wrong = mismatches(build_dir, expected.architecture)
    if wrong:
        print(failure_message(build_dir, expected, wrong, config_env), file=sys.stderr)
        return 1
    print(
        f"ok: every native library under {build_dir} is {expected.architecture} "
        f"({count} files; {expected.source})"
    )
    if deployed.architecture != expected.architecture:
        print(
            f"note: `sam deploy` would send Architecture={deployed.architecture} "
            f"({deployed.source}): deploy this build with `make deploy "
            f"ARCH={expected.architecture}`, never a plain `sam deploy`",
            file=sys.stderr,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="check_build_architecture", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR)
    parser.add_argument("--config-file", type=Path, default=SAMCONFIG)
    parser.add_argument("--config-env", default="default")
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH)
    parser.add_argument("--architecture", choices=ARCHITECTURES, help="instead of samconfig's")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--print-expected", action="store_true")
    action.add_argument("--deploy-parameter-overrides", action="store_true")
    args = parser.parse_args(argv)
    try:
        _, overrides = deploy_parameter_overrides(args.config_file, args.config_env) or ("", {})
        deployed = expected_architecture(args.config_file, args.config_env, args.template)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    expected = deployed
    if args.architecture and args.architecture != deployed.architecture:
        expected = Expected(args.architecture, "chosen with --architecture, make's ARCH")
    if args.print_expected:
        print(expected.architecture)
        return 0
    if args.deploy_parameter_overrides:
        print(format_parameter_overrides(overrides | {PARAMETER: expected.architecture}))
        return 0
    if deployed.warning:
        print(f"warning: {deployed.warning}", file=sys.stderr)
    return check(args.build_dir, expected, deployed, args.config_env)


if __name__ == "__main__":
    sys.exit(main())
