"""argon2id hashing at the service's parameters and at OWASP's minimum, and what a
million logins cost on Lambda at the API function's memory size."""

from __future__ import annotations

from dataclasses import dataclass

from bench.timing import Timing, measure
from harness.domain import CHEAP_ARGON2
from local_run.expansion import deployed_template
from session_service.domain.accounts.passwords import (
    DEFAULT_PARAMETERS,
    Argon2Parameters,
    Passwords,
)

OWASP_MINIMUM = Argon2Parameters(time_cost=2, memory_cost_kib=19_456, parallelism=1)
PASSWORD = "correct horse battery"

# AWS Lambda, x86_64: price per GB-second and per request.
PRICE_PER_GB_SECOND = 0.0000166667
PRICE_PER_MILLION_REQUESTS = 0.20
# Lambda allocates CPU in proportion to memory: one full vCPU at 1,769 MB.
MB_PER_VCPU = 1769


@dataclass(frozen=True)
class Argon2Figures:
    label: str
    parameters: Argon2Parameters
    hash: Timing
    verify: Timing


@dataclass(frozen=True)
class LambdaCost:
    """What `single_core_ms` of work per login costs on Lambda at `memory_mb`."""

    memory_mb: int
    single_core_ms: float

    @property
    def vcpu_share(self) -> float:
        return min(1.0, self.memory_mb / MB_PER_VCPU)

    @property
    def lambda_ms(self) -> float:
        return self.single_core_ms / self.vcpu_share

    @property
    def gb_seconds_per_million(self) -> float:
        return 1e6 * self.lambda_ms / 1000 * self.memory_mb / 1024

    @property
    def compute_dollars_per_million(self) -> float:
        return self.gb_seconds_per_million * PRICE_PER_GB_SECOND

    @property
    def dollars_per_million(self) -> float:
        return self.compute_dollars_per_million + PRICE_PER_MILLION_REQUESTS


def api_memory_mb() -> int:
    """The API function's MemorySize in template.yaml (it runs login)."""
    properties = deployed_template().functions()["ApiFunction"]["Properties"]
    return int(properties.get("MemorySize", 128))


def measure_parameters(label: str, parameters: Argon2Parameters) -> Argon2Figures:
    passwords = Passwords(parameters)
    stored = passwords.hash(PASSWORD)
    return Argon2Figures(
        label=label,
        parameters=parameters,
        hash=measure(lambda: passwords.hash(PASSWORD), min_runs=20, min_seconds=1.0),
        verify=measure(lambda: passwords.verify(stored, PASSWORD), min_runs=20, min_seconds=1.0),
    )


def run() -> list[Argon2Figures]:
    return [
        measure_parameters("service default", DEFAULT_PARAMETERS),
        measure_parameters("OWASP minimum", OWASP_MINIMUM),
        measure_parameters("unit tests' cheap", CHEAP_ARGON2),
    ]
