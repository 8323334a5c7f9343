"""The documents name tests as evidence; every test they name exists."""

from __future__ import annotations

import re

import pytest

from local_run.template import ROOT

DOCUMENTS = sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md"])
REFERENCE = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_test_a_document_names_exists(document: object) -> None:
    text = document.read_text()  # type: ignore[attr-defined]
    missing = [
        f"{path}::{name}"
        for path, name in REFERENCE.findall(text)
        if not (ROOT / path).exists()
        or re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.MULTILINE) is None
    ]
    assert missing == []
