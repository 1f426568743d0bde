"""A function bundle holds the runtime package alone, and everything it imports is installed.

`make bundle` copies `shared/jobwarden` and the function's `main.py` next to a requirements
file pruned of the Pub/Sub client. These tests read every import of those files with `ast`
(module level, inside functions, under `TYPE_CHECKING`: all of them) and prove each one is
the standard library, `jobwarden` itself, or a module shipped by a distribution pinned in
the bundle's requirements. A runtime module that reaches for the exporter, the dev tooling
or `google.cloud.pubsub` fails here, naming the file and line.
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
from collections.abc import Iterator
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest

from jobwarden_dev import bundle

ROOT = bundle.repo_root()
RUNTIME = ROOT / "shared" / "jobwarden"

needs_uv = pytest.mark.skipif(
    shutil.which("uv") is None and not (ROOT / ".jobwarden/bootstrap/bin/uv").is_file(),
    reason="uv is needed to export requirements from uv.lock",
)


def _normal(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def _bundled_sources() -> list[Path]:
    return sorted(RUNTIME.rglob("*.py")) + sorted((ROOT / "functions").glob("*/main.py"))


def _imports(source: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of each absolute import; `from a import b` yields `a.b` and `a`."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


@cache
def _module_owners() -> dict[str, str]:
    """Every module installed by a distribution in this environment -> that distribution."""
    owners: dict[str, str] = {}
    for dist in metadata.distributions():
        for file in dist.files or ():
            parts = list(file.parts)
            if not parts or not parts[-1].endswith((".py", ".so", ".pyd")):
                continue
            parts[-1] = parts[-1].split(".", 1)[0]
            if parts[-1] == "__init__":
                parts.pop()
            if parts and all(p.isidentifier() for p in parts):
                owners.setdefault(".".join(parts), _normal(dist.metadata["Name"]))
    return owners


def _owner(name: str) -> str | None:
    """The distribution that ships `name`, or its nearest parent package, if any does."""
    owners = _module_owners()
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        found = owners.get(".".join(parts[:i]))
        if found:
            return found
    return None


@cache
def _bundle_requirements() -> frozenset[str]:
    text = bundle.export_requirements(ROOT)
    return frozenset(_normal(line.split("==")[0]) for line in text.splitlines() if "==" in line)


@needs_uv
def test_the_pruned_requirements_leave_out_the_pubsub_client() -> None:
    assert "google-cloud-pubsub" in {_normal(d) for d in bundle.PRUNED}
    assert {"functions-framework", "pydantic", "google-cloud-storage"} <= _bundle_requirements()
    assert "google-cloud-pubsub" not in _bundle_requirements()


@needs_uv
def test_every_import_in_a_bundle_is_stdlib_jobwarden_or_a_pinned_requirement() -> None:
    pinned = _bundle_requirements()
    missing: list[str] = []
    for source in _bundled_sources():
        for line, name in _imports(source):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top in {"jobwarden", "__future__"}:
                continue
            dist = _owner(name)
            if dist not in pinned:
                where = f"{source.relative_to(ROOT)}:{line}"
                missing.append(f"{where} imports {name} ({dist or 'no distribution'})")
    assert not missing, "a bundle's requirements lack these:\n" + "\n".join(missing)


def test_the_runtime_never_names_the_pubsub_client_or_the_other_packages() -> None:
    banned = ("google.cloud.pubsub", "jobwarden_exporter", "jobwarden_dev")
    found = [
        f"{source.relative_to(ROOT)}:{line} imports {name}"
        for source in _bundled_sources()
        for line, name in _imports(source)
        if name.startswith(banned)
    ]
    assert not found, "\n".join(found)


def test_a_bundle_holds_main_requirements_and_exactly_the_runtime_package(
    tmp_path: Path,
) -> None:
    staged = bundle.build_bundle(ROOT, "job_failure_reporter", tmp_path, "pinned==1\n")
    assert sorted(p.name for p in staged.path.iterdir()) == [
        "jobwarden",
        "main.py",
        "requirements.txt",
    ]

    def files(top: Path) -> set[str]:
        return {
            str(p.relative_to(top))
            for p in top.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        }

    assert files(staged.path / "jobwarden") == files(RUNTIME)
