"""One architecture for build and deploy: the check after `sam build` reads every native
library's ELF header and fails on one of another machine than `sam deploy` gives the
functions (samconfig.toml's deploy parameter_overrides, else the template's default), and
`make build` / `make deploy` build and deploy for that one architecture."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pytest

from local_run.template import ROOT
from scripts.check_build_architecture import (
    SAMCONFIG,
    elf_machine,
    expected_architecture,
    main,
    parse_parameter_overrides,
)

X86_64, AARCH64 = 62, 183
SECTION = "samconfig.toml [default.deploy.parameters] parameter_overrides"


def elf_header(machine: int, *, big_endian: bool = False) -> bytes:
    """The first 20 bytes of a 64-bit ELF shared object: e_ident, e_type, e_machine."""
    order: Literal["big", "little"] = "big" if big_endian else "little"
    ident = b"\x7fELF" + bytes([2, 2 if big_endian else 1, 1, 0]) + bytes(8)
    return ident + (3).to_bytes(2, order) + machine.to_bytes(2, order)


def write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content + bytes(64))
    return path


def samconfig(tmp_path: Path, body: str) -> Path:
    return write(tmp_path / "samconfig.toml", f"version = 0.1\n{body}")


def deploy_overrides(tmp_path: Path, overrides: str) -> Path:
    return samconfig(tmp_path, f"[default.deploy.parameters]\nparameter_overrides = {overrides}\n")


def template_with_default(tmp_path: Path, default: str) -> Path:
    text = f"Parameters:\n  Architecture:\n    Type: String\n    Default: {default}\n"
    return write(tmp_path / "template.yaml", text)


def test_elf_machine_reads_either_byte_order_and_skips_what_is_not_elf(tmp_path: Path) -> None:
    assert elf_machine(write(tmp_path / "a.so", elf_header(AARCH64))) == AARCH64
    assert elf_machine(write(tmp_path / "b.so", elf_header(X86_64, big_endian=True))) == X86_64
    assert elf_machine(write(tmp_path / "script.so", "INPUT(libc.so.6)\n")) is None
    assert elf_machine(write(tmp_path / "short.so", "\x7fELF")) is None


def test_a_build_whose_native_libraries_match_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build = tmp_path / "build"
    write(
        build / "CoreLayer/python/_cffi_backend.cpython-313-aarch64-linux-gnu.so",
        elf_header(AARCH64),
    )
    write(build / "CoreLayer/python/pydantic_core/_pydantic_core.so.1", elf_header(AARCH64))
    write(build / "CoreLayer/python/linker-script.so", "INPUT(libfoo.so.1)\n")
    write(build / "ApiFunction/app.py", "def lambda_handler(event, context): ...\n")
    config = deploy_overrides(tmp_path, '"Architecture=arm64 LogLevel=INFO"')

    assert main(["--build-dir", str(build), "--config-file", str(config)]) == 0

    assert capsys.readouterr() == (
        f"ok: every native library under {build} is arm64 (2 files; {SECTION})\n",
        "",
    )


def test_an_x86_64_library_in_an_arm64_build_is_named_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build = tmp_path / "build"
    write(build / "CoreLayer/python/_argon2_cffi_bindings/_ffi.abi3.so", elf_header(X86_64))
    write(build / "CoreLayer/python/cryptography/_rust.abi3.so", elf_header(AARCH64))
    # Any ELF file counts, whatever its name: a function's bundled executable too.
    write(build / "ApiFunction/bin/helper", elf_header(X86_64))
    config = deploy_overrides(tmp_path, '"Architecture=arm64"')

    assert main(["--build-dir", str(build), "--config-file", str(config)]) == 1

    assert capsys.readouterr() == (
        "",
        f"error: native libraries under {build} that are not arm64, the functions' "
        f"architecture ({SECTION}):\n"
        "  ApiFunction/bin/helper: x86_64\n"
        "  CoreLayer/python/_argon2_cffi_bindings/_ffi.abi3.so: x86_64\n"
        "The functions would fail to import them. Build for arm64: `make build ARCH=arm64` "
        "(without ARCH it builds for samconfig.toml's Architecture) or "
        "`sam build --parameter-overrides Architecture=arm64`.\n",
    )


def test_architecture_overrides_samconfig_and_notes_that_deploy_differs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build = tmp_path / "build"
    write(build / "CoreLayer/python/_cffi_backend.so", elf_header(AARCH64))
    config = deploy_overrides(tmp_path, '"Architecture=x86_64"')

    argv = ["--build-dir", str(build), "--config-file", str(config), "--architecture", "arm64"]
    assert main(argv) == 0

    out, err = capsys.readouterr()
    assert out == (
        f"ok: every native library under {build} is arm64 "
        "(1 files; chosen with --architecture, make's ARCH)\n"
    )
    assert err == (
        f"note: `sam deploy` would send Architecture=x86_64 ({SECTION}): deploy this build "
        "with `make deploy ARCH=arm64`, never a plain `sam deploy`\n"
    )


def test_parameter_overrides_are_read_as_sam_cli_reads_them() -> None:
    quoted = (
        'Architecture="arm64" TotpIssuer="Example Corp" '
        "AllowedOrigins='https://a.example.com,https://b.example.com' LogLevel=INFO"
    )
    assert parse_parameter_overrides(quoted) == {
        "Architecture": "arm64",
        "TotpIssuer": "Example Corp",
        "AllowedOrigins": "https://a.example.com,https://b.example.com",
        "LogLevel": "INFO",
    }
    long_form = "ParameterKey=Architecture,ParameterValue=arm64 ParameterKey=A,ParameterValue=b"
    assert parse_parameter_overrides(long_form) == {"Architecture": "arm64", "A": "b"}
    assert parse_parameter_overrides(["Architecture=arm64", 'Name="a b"']) == {
        "Architecture": "arm64",
        "Name": "a b",
    }
    assert parse_parameter_overrides({"Architecture": "arm64", "Origins": ["a", "b"]}) == {
        "Architecture": "arm64",
        "Origins": "a,b",
    }
    assert parse_parameter_overrides("") == {}


def test_samconfig_quoted_architecture_is_expected(tmp_path: Path) -> None:
    config = deploy_overrides(tmp_path, "\"Architecture='arm64' TotpIssuer='Example Corp'\"")

    expected = expected_architecture(config, template=template_with_default(tmp_path, "x86_64"))

    assert (expected.architecture, expected.source, expected.warning) == ("arm64", SECTION, None)


def test_without_architecture_in_samconfig_the_templates_default_is_expected_with_a_warning(
    tmp_path: Path,
) -> None:
    config = deploy_overrides(tmp_path, '"JwtAlgorithm=ES256"')

    expected = expected_architecture(config, template=template_with_default(tmp_path, "arm64"))

    assert expected.architecture == "arm64"
    assert expected.source == f"template.yaml's default ({SECTION} names no Architecture)"
    assert expected.warning == (
        f"{SECTION} names no Architecture: a new stack takes the template's default, but an "
        "existing one keeps the architecture it was deployed with; name it there"
    )


def test_deploys_own_overrides_replace_the_global_ones_and_env_selects_a_section(
    tmp_path: Path,
) -> None:
    config = samconfig(
        tmp_path,
        '[default.global.parameters]\nparameter_overrides = "Architecture=arm64"\n'
        '[prod.global.parameters]\nparameter_overrides = "Architecture=arm64"\n'
        '[prod.deploy.parameters]\nparameter_overrides = "LogLevel=INFO"\n',
    )
    template = template_with_default(tmp_path, "x86_64")

    from_global = expected_architecture(config, "default", template)
    assert (from_global.architecture, from_global.source) == (
        "arm64",
        "samconfig.toml [default.global.parameters] parameter_overrides",
    )
    assert expected_architecture(config, "prod", template).architecture == "x86_64"


def test_an_architecture_lambda_does_not_run_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = deploy_overrides(tmp_path, '"Architecture=x86"')

    assert main(["--config-file", str(config), "--print-expected"]) == 2

    assert capsys.readouterr().err == (
        f"error: {SECTION}: Architecture=x86 is not one of ('x86_64', 'arm64')\n"
    )


def test_deploy_overrides_keep_samconfigs_others_and_set_the_architecture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A TOML literal string: SAM reads TotpIssuer's value as Example "Corp".
    config = deploy_overrides(
        tmp_path, r"""'Architecture=x86_64 TotpIssuer="Example \"Corp\"" LogLevel=INFO'"""
    )
    argv = ["--config-file", str(config), "--architecture", "arm64"]

    assert main([*argv, "--deploy-parameter-overrides"]) == 0

    printed = capsys.readouterr().out
    assert printed == r'Architecture=arm64 TotpIssuer="Example \"Corp\"" LogLevel=INFO' + "\n"
    assert parse_parameter_overrides(printed.strip()) == {
        "Architecture": "arm64",
        "TotpIssuer": 'Example "Corp"',
        "LogLevel": "INFO",
    }


def test_the_projects_samconfig_names_the_architecture_it_deploys() -> None:
    expected = expected_architecture()

    assert expected.architecture in ("x86_64", "arm64")
    assert expected.warning is None
    assert "the one `make build` builds for" in SAMCONFIG.read_text()


MAKE_VARIABLES = (
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
    "ARCH",
    "CONFIG_ENV",
    "GUIDED",
)


def _without_make(environment: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in environment.items() if key not in MAKE_VARIABLES}


def make_dry_run(*arguments: str, environment: dict[str, str] | None = None) -> list[str]:
    """The commands `make -n` would run (prerequisites' included), one a line."""
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", *arguments],
        cwd=ROOT,
        # Not the enclosing make's variables (`make test ARCH=arm64` passes its own down).
        env={**_without_make(os.environ), **(environment or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def test_make_build_builds_for_samconfigs_architecture_then_checks() -> None:
    arch = expected_architecture().architecture

    # An ARCH of the environment (a toolchain's amd64) is not the project's.
    commands = make_dry_run("build", environment={"ARCH": "amd64"})

    build = ".tools/bin/sam build --config-env default --parallel --parameter-overrides "
    check = ".venv/bin/python -m scripts.check_build_architecture --config-env default"
    assert commands[-2:] == [f"{build}Architecture={arch}", f"{check} --architecture {arch}"]
    assert make_dry_run("build", "ARCH=arm64")[-2:] == [
        f"{build}Architecture=arm64",
        f"{check} --architecture arm64",
    ]


def test_make_deploy_builds_then_deploys_with_the_same_architecture() -> None:
    commands = make_dry_run("deploy", "ARCH=arm64")

    check = ".venv/bin/python -m scripts.check_build_architecture --config-env default"
    assert commands[-4:] == [
        ".tools/bin/sam build --config-env default --parallel --parameter-overrides "
        "Architecture=arm64",
        f"{check} --architecture arm64",
        f"overrides=$({check} --architecture arm64 --deploy-parameter-overrides) && \\",
        '  .tools/bin/sam deploy --config-env default --parameter-overrides "$overrides"',
    ]
