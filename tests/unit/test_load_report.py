"""`make load`'s page: one column per DynamoDB backend, each run replacing only its own."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from bench.load import SECTION_END, SECTION_START, LoadResult, saved_results, write_docs

MOTO = LoadResult(
    clients=32,
    seconds=60.0,
    requests=4000,
    flows=570,
    requests_per_second=66.7,
    p50_ms=340.0,
    p95_ms=1200.0,
    p99_ms=2700.0,
    max_ms=4600.0,
    errors={},
    commit="aaaaaaa",
    measured_at="2026-12-01 05:55 UTC",
)


def table_rows(docs: Path) -> list[str]:
    page = (docs / "performance.md").read_text()
    section = page.split(SECTION_START, 1)[1].split(SECTION_END, 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_each_backend_keeps_its_column_and_a_rerun_replaces_only_its_own(
    tmp_path: Path,
) -> None:
    (tmp_path / "performance.md").write_text("# Performance\n\nbefore\n")
    local = dataclasses.replace(MOTO, backend="dynamodb-local", requests_per_second=101.2)
    write_docs(MOTO, tmp_path)
    write_docs(local, tmp_path)
    write_docs(dataclasses.replace(MOTO, requests_per_second=70.0), tmp_path)
    rows = table_rows(tmp_path)
    assert rows[0] == "| DynamoDB | moto's server | DynamoDB Local |"
    assert "| requests/s | 70.0 | 101.2 |" in rows
    assert [r.backend for r in saved_results(tmp_path)] == ["moto", "dynamodb-local"]
    assert "before" in (tmp_path / "performance.md").read_text()


def test_a_result_saved_before_backends_reads_as_moto_s(tmp_path: Path) -> None:
    legacy = {k: v for k, v in dataclasses.asdict(MOTO).items() if k != "backend"}
    (tmp_path / "load.json").write_text(json.dumps(legacy))
    assert saved_results(tmp_path) == [MOTO]
