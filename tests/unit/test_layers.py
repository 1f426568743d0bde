"""Every module of the runtime package sits in one layer of the import-linter contract, so a
new module cannot escape the rule that imports only go down."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "shared" / "jobwarden"


def layered_modules() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["name"].startswith("Runtime layers")]
    names: set[str] = set()
    for layer in layers:
        for part in layer.replace("|", ":").split(":"):
            names.add(part.strip())
    return names


def test_every_runtime_module_is_in_a_layer() -> None:
    layered = layered_modules()
    modules = {f"jobwarden.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | {
        f"jobwarden.{p.parent.name}" for p in PACKAGE.glob("*/__init__.py")
    }
    covered = {
        m
        for m in modules
        if m in layered or any(m.startswith(f"{x}.") or x.startswith(f"{m}.") for x in layered)
    }
    assert modules - covered == set(), "add these to the layers contract in pyproject.toml"
