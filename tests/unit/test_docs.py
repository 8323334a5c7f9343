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


# `module.name` where module is one of the layer's modules: the name must be defined there.
CODE_REFERENCE = re.compile(r"`([a-z_]+)\.([A-Za-z_]\w*)")
# Python's own modules that a layer module shares a name with.
STANDARD_LIBRARY = {("secrets", "token_urlsafe"), ("secrets", "choice")}
LAYER_MODULES = {
    path.stem: path
    for path in (ROOT / "layers" / "core" / "session_service").rglob("*.py")
    if path.stem != "__init__"
}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_name_of_the_code_a_document_cites_is_where_it_says(document: object) -> None:
    text = document.read_text()  # type: ignore[attr-defined]
    missing = []
    for module, name in CODE_REFERENCE.findall(text):
        path = LAYER_MODULES.get(module)
        if path is None or name == "py" or (module, name) in STANDARD_LIBRARY:
            continue
        defined = re.search(
            rf"^(?:\s*(?:def|class) {name}\b|{name}\s*[:=])", path.read_text(), re.MULTILINE
        )
        if defined is None:
            missing.append(f"{module}.{name}")
    assert missing == []
