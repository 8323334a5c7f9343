"""Every environment installs from a lock: each package pinned, transitive ones included,
with its hashes; a lock whose inputs changed since it was written fails (`make lock`);
the layer's requirements.txt, which `sam build` installs, is the runtime lock."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

import pytest

from local_run.template import ROOT

LOCKS = ("runtime", "dev", "tools", "translator")


def _lock_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock", ROOT / "scripts" / "lock.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_lock_is_stale() -> None:
    assert _lock_script().stale() == []


def test_a_changed_input_makes_its_lock_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    script = _lock_script()
    inputs = script.inputs()
    inputs["runtime"] = [*inputs["runtime"], "six==1.16.0"]
    monkeypatch.setattr(script, "inputs", lambda: inputs)
    assert script.stale() == ["runtime"]


@pytest.mark.parametrize("name", LOCKS)
def test_every_package_is_pinned_with_its_hashes(name: str) -> None:
    text = (ROOT / "requirements" / f"{name}.lock").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    entries = re.split(r"\n(?=[A-Za-z0-9])", "\n".join(lines).strip())
    assert len(entries) > 5
    for entry in entries:
        requirement = entry.split(" ", 1)[0]
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[^\s]+", requirement), requirement
        assert "--hash=sha256:" in entry, requirement
    assert "--find-links" not in text


def test_the_layer_installs_the_runtime_lock() -> None:
    layer = (ROOT / "layers" / "core" / "requirements.txt").read_text()
    assert layer == (ROOT / "requirements" / "runtime.lock").read_text()
    runtime = (ROOT / "requirements" / "runtime.lock").read_text()
    for direct in _lock_script().inputs()["runtime"]:
        name, version = direct.split("[")[0].split("==")[0], direct.split("==")[1]
        pinned = rf"^{re.escape(name)}=={re.escape(version)} "
        assert re.search(pinned, runtime, re.IGNORECASE | re.MULTILINE), direct
