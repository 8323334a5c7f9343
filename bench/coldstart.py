"""Cold-start imports: the time to import each function's handler module in a fresh
interpreter, as a multiple of `import boto3; boto3.client("dynamodb")` in the same run.

Each measurement is a new `python -I -S` process whose sys.path is Lambda's: the
function's code, then the layer (layers/core and its dependencies, installed from
layers/core/requirements.txt into .venv/bench-layer exactly as the layer pins them, so
that nothing from the development environment is importable). The environment is the
one template.yaml gives the function. Runs of the functions and of the reference are
interleaved, after one untimed round that leaves every bytecode cache written."""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_run.expansion import artifact_path, deployed_template
from local_run.functions import function_environment
from local_run.template import ROOT, Template

RUNS = 15
PROBE = Path(__file__).resolve().parent / "import_probe.py"
LAYER_REQUIREMENTS = ROOT / "layers" / "core" / "requirements.txt"
# Inside .venv: ignored by git, ruff and mypy, and removed by `make clean`.
LAYER_DEPENDENCIES = ROOT / ".venv" / "bench-layer"
# Goals for the ratio (handler import / boto3 + client), by function folder.
GOALS = {"authorizer": 1.0, "api": 2.0}
# Modules the authorizer should never need.
AUTHORIZER_UNWANTED = ("argon2", "pyotp", "pydantic", "aws_xray_sdk", "boto3", "webauthn")
WATCHED = (*AUTHORIZER_UNWANTED, "jwt", "cryptography")


@dataclass(frozen=True)
class ImportFigures:
    folder: str
    seconds: tuple[float, ...]
    modules: int
    imported: dict[str, bool]
    # From one extra run under -X importtime: the heaviest top-level packages
    # (cumulative ms; one package's figure may include another's) and, for each watched
    # module that was imported, the chain of imports that brought it in.
    heaviest: list[tuple[str, float]] = field(default_factory=list)
    chains: dict[str, list[str]] = field(default_factory=dict)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000


@dataclass(frozen=True)
class DocumentCheck:
    """What the authorizer's first request adds for the published keys' signature, in
    fresh processes after its import: the KMS client, and the document key's public part
    loaded and one document verified (GetPublicKey's network round trip not included)."""

    kms_client_seconds: tuple[float, ...]
    check_seconds: tuple[float, ...]
    # The first request's DynamoDB client, made the same way in the same processes: scale.
    dynamodb_client_seconds: tuple[float, ...] = ()

    @property
    def kms_client_ms(self) -> float:
        return statistics.median(self.kms_client_seconds) * 1000

    @property
    def dynamodb_client_ms(self) -> float:
        return statistics.median(self.dynamodb_client_seconds) * 1000

    @property
    def check_ms(self) -> float:
        return statistics.median(self.check_seconds) * 1000


@dataclass(frozen=True)
class ColdStart:
    runs: int
    reference: ImportFigures
    functions: list[ImportFigures]
    document_check: DocumentCheck | None = None

    def ratio(self, figures: ImportFigures) -> float:
        return figures.median_ms / self.reference.median_ms

    def ratio_of_fastest(self, figures: ImportFigures) -> float:
        """The same ratio between the fastest runs: a check on noise."""
        return min(figures.seconds) / min(self.reference.seconds)


def layer_dependencies() -> Path:
    """The layer's pinned dependencies installed on their own, rebuilt when the pins change."""
    digest = hashlib.sha256(LAYER_REQUIREMENTS.read_bytes()).hexdigest()[:16]
    stamp = LAYER_DEPENDENCIES / f".installed-{digest}"
    if not stamp.exists():
        shutil.rmtree(LAYER_DEPENDENCIES, ignore_errors=True)
        LAYER_DEPENDENCIES.mkdir(parents=True)
        print(f"installing the layer's dependencies into {LAYER_DEPENDENCIES.relative_to(ROOT)}")
        installed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(LAYER_DEPENDENCIES),
                "-r",
                str(LAYER_REQUIREMENTS),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if installed.returncode != 0:
            raise RuntimeError(f"could not install the layer's dependencies:\n{installed.stderr}")
        stamp.touch()
    return LAYER_DEPENDENCIES


def _function_folders(template: Template) -> dict[str, str]:
    """Function folder (functions/<folder>) → logical id, from the template."""
    folders = {}
    for logical_id, function in template.functions().items():
        folders[artifact_path(function["Properties"]["Code"]).name] = logical_id
    return dict(sorted(folders.items()))


def _environment(template: Template, logical_id: str, code_dir: Path) -> dict[str, str]:
    """What Lambda sets, plus the template's variables for the function."""
    base = {
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "LAMBDA_TASK_ROOT": str(code_dir),
        # Lambda has no AWS config files; neither should the probe read this machine's.
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }
    return function_environment(template, logical_id, base)


def _probe(
    arguments: list[str], env: dict[str, str], flags: tuple[str, ...] = ()
) -> tuple[dict[str, Any], str]:
    """The probe's JSON answer, and its stderr (where -X importtime writes)."""
    answer = subprocess.run(
        [sys.executable, "-I", "-S", *flags, str(PROBE), *arguments],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"import probe {arguments[:2]} failed:\n{answer.stderr}")
    result: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    return result, answer.stderr


def _import_times(stderr: str) -> list[tuple[int, str, float]]:
    """-X importtime lines as (depth, module, cumulative ms), in the order printed."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self_us, cumulative_us, name = line.split(":", 1)[1].split("|", 2)
        indent = len(name) - len(name.lstrip(" ")) - 1
        rows.append((indent // 2, name.strip(), int(cumulative_us) / 1000))
    return rows


def _heaviest(rows: list[tuple[int, str, float]], count: int = 6) -> list[tuple[str, float]]:
    packages: dict[str, float] = {}
    for _depth, name, cumulative in rows:
        if "." not in name and name != "app":
            packages[name] = max(packages.get(name, 0.0), cumulative)
    return sorted(packages.items(), key=lambda item: item[1], reverse=True)[:count]


def _chain(rows: list[tuple[int, str, float]], module: str) -> list[str]:
    """The imports that led to `module`'s first import, outermost first. -X importtime
    prints a module after everything it imported, so its importers follow it."""
    for index, (depth, name, _) in enumerate(rows):
        if name == module:
            chain, level = [name], depth
            for later_depth, later_name, _ in rows[index + 1 :]:
                if later_depth < level:
                    chain.append(later_name)
                    level = later_depth
            return chain[::-1]
    return []


def run(runs: int = RUNS) -> ColdStart:
    layer = layer_dependencies()
    template = deployed_template()
    folders = _function_folders(template)
    targets: dict[str, tuple[list[str], dict[str, str]]] = {}
    for folder, logical_id in folders.items():
        code_dir = ROOT / "functions" / folder
        paths = [str(code_dir), str(ROOT / "layers" / "core"), str(layer)]
        targets[folder] = (["handler", *paths], _environment(template, logical_id, code_dir))
    api_env = targets["api"][1] if "api" in targets else next(iter(targets.values()))[1]
    targets["boto3"] = (["boto3", str(layer)], api_env)

    seconds: dict[str, list[float]] = {name: [] for name in targets}
    last: dict[str, dict[str, Any]] = {}
    for round_number in range(runs + 1):  # round 0 writes bytecode caches, untimed
        for name, (arguments, env) in targets.items():
            result, _ = _probe(arguments, env)
            if round_number:
                seconds[name].append(result["seconds"])
            last[name] = result

    figures: dict[str, ImportFigures] = {}
    for name, (arguments, env) in targets.items():
        _, stderr = _probe(arguments, env, flags=("-X", "importtime"))
        rows = _import_times(stderr)
        imported: dict[str, bool] = last[name]["imported"]
        figures[name] = ImportFigures(
            folder=name,
            seconds=tuple(seconds[name]),
            modules=int(last[name]["modules"]),
            imported=imported,
            heaviest=_heaviest(rows),
            chains={m: _chain(rows, m) for m in WATCHED if imported.get(m)},
        )
    reference = figures.pop("boto3")
    return ColdStart(
        runs=runs,
        reference=reference,
        functions=list(figures.values()),
        document_check=_document_check(targets, runs),
    )


def _document_check(
    targets: dict[str, tuple[list[str], dict[str, str]]], runs: int
) -> DocumentCheck | None:
    if "authorizer" not in targets:
        return None
    arguments, env = targets["authorizer"]
    answers = [_probe(["document", *arguments[1:]], env)[0] for _ in range(runs)]
    return DocumentCheck(
        kms_client_seconds=tuple(a["kms_client_seconds"] for a in answers),
        check_seconds=tuple(a["document_check_seconds"] for a in answers),
        dynamodb_client_seconds=tuple(a["dynamodb_client_seconds"] for a in answers),
    )
