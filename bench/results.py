"""Everything one run measured, and each timed operation set beside its floor: the least
that operation could cost given the cryptography it must do."""

from __future__ import annotations

from dataclasses import dataclass

from bench.argon2_cost import Argon2Figures
from bench.aws_calls import OperationCalls
from bench.backchannel_timing import BackchannelTiming
from bench.coldstart import ColdStart
from bench.email_timing import EmailTiming
from bench.jwt_signing import JwtFigures
from bench.login_wall import EmulatedRoundTrips, LoginWallTime
from bench.machine import Machine
from bench.operations import OperationFigures


@dataclass(frozen=True)
class Results:
    machine: Machine
    cold_start: ColdStart
    operations: list[OperationFigures]
    argon2: list[Argon2Figures]
    jwt: list[JwtFigures]
    aws_calls: list[OperationCalls]  # the e-mail operations' among them (settings set)
    email_timing: EmailTiming
    sso_calls: list[OperationCalls]
    backchannel: BackchannelTiming
    login_wall: LoginWallTime
    login_round_trips: EmulatedRoundTrips

    def argon2_named(self, label: str) -> Argon2Figures:
        return next(figures for figures in self.argon2 if figures.label == label)

    def jwt_for(self, algorithm: str) -> JwtFigures:
        return next(figures for figures in self.jwt if figures.algorithm == algorithm)

    def operation(self, name: str) -> OperationFigures:
        return next(figures for figures in self.operations if figures.name == name)


@dataclass(frozen=True)
class Comparison:
    group: str
    name: str
    measured_ms: float
    floor_ms: float
    floor: str

    @property
    def ratio(self) -> float:
        return self.measured_ms / self.floor_ms if self.floor_ms else float("inf")


def comparisons(results: Results) -> list[Comparison]:
    """Median CPU time of each operation and of its floor, in ms."""
    rows: list[Comparison] = []
    for jwt in results.jwt:
        rows.append(
            Comparison(
                "JWT",
                f"{jwt.algorithm} mint",
                jwt.mint.median_cpu_ms,
                jwt.floor_sign.median_cpu_ms,
                f"cryptography {jwt.algorithm} sign",
            )
        )
    for jwt in results.jwt:
        rows.append(
            Comparison(
                "JWT",
                f"{jwt.algorithm} verify",
                jwt.verify.median_cpu_ms,
                jwt.floor_verify.median_cpu_ms,
                f"cryptography {jwt.algorithm} verify",
            )
        )
    rs256 = results.jwt_for("RS256")
    sign, verify = rs256.floor_sign.median_cpu_ms, rs256.floor_verify.median_cpu_ms
    default = results.argon2_named("service default").verify.median_cpu_ms
    cheap = results.argon2_named("unit tests' cheap").verify.median_cpu_ms
    floors = {
        "authorize": (verify, "RS256 verify"),
        "refresh": (sign, "RS256 sign"),
        "login, cheap argon2": (cheap + sign, "cheap argon2 verify + RS256 sign"),
        "login, real argon2": (default + sign, "argon2 verify + RS256 sign"),
    }
    for operation in results.operations:
        floor_ms, floor = floors[operation.name]
        rows.append(
            Comparison("in-memory", operation.name, operation.timing.median_cpu_ms, floor_ms, floor)
        )
    owasp = results.argon2_named("OWASP minimum").hash.median_cpu_ms
    rows.append(
        Comparison(
            "argon2",
            "argon2id hash, service default",
            results.argon2_named("service default").hash.median_cpu_ms,
            owasp,
            "argon2id hash at OWASP's minimum",
        )
    )
    return rows
