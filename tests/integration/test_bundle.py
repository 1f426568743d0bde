"""`make bundle` staging: layout, the runtime package alone, pinned requirements from uv.lock.

What a bundle's modules import is checked in tests/unit/test_bundle_contents.py.

The smoke run (a clean venv with the pinned requirements, then functions-framework per target)
stays out of the suite: the venv install alone takes about 65-70 s on two cores. Run it with
`make bundle`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jobwarden_dev import bundle

ROOT = bundle.repo_root()

pytestmark = pytest.mark.skipif(
    shutil.which("uv") is None and not (ROOT / ".jobwarden/bootstrap/bin/uv").is_file(),
    reason="uv is needed to export requirements from uv.lock",
)


def test_bundle_layout_and_pinned_requirements(tmp_path: Path) -> None:
    assert bundle.main(["--out", str(tmp_path), "job_failure_reporter"]) == 0

    out = tmp_path / "job_failure_reporter"
    assert sorted(p.name for p in out.iterdir()) == ["jobwarden", "main.py", "requirements.txt"]
    assert (out / "main.py").read_bytes() == (
        ROOT / "functions/job_failure_reporter/main.py"
    ).read_bytes()

    pkg = out / "jobwarden"
    for needed in (
        "__init__.py",
        "edge.py",
        "workflows/events.py",
        "runtime.py",
        "config.schema.json",
    ):
        assert (pkg / needed).is_file(), needed
    for sub in ("workflows", "actions", "performance", "sinks", "render"):
        assert (pkg / sub / "__init__.py").is_file(), sub
    for elsewhere in ("localstack", "exporter", "bundle.py", "bridge.py", "helmschema.py"):
        assert not (pkg / elsewhere).exists(), elsewhere  # jobwarden_dev, jobwarden_exporter
    assert not list(pkg.rglob("__pycache__"))
    assert not list(pkg.rglob("*.yaml"))

    lines = (out / "requirements.txt").read_text().splitlines()
    pins = {ln.split("==")[0].lower(): ln for ln in lines if "==" in ln and not ln.startswith("#")}
    for dist in ("functions-framework", "pydantic", "kubernetes", "google-cloud-storage"):
        assert dist in pins, dist
    # Pub/Sub pushes to a function over HTTP: its client and the gRPC stack stay out
    for pruned in ("google-cloud-pubsub", "grpcio", "grpcio-status", "grpc-google-iam-v1"):
        assert pruned not in pins, pruned
    assert "jobwarden" not in pins  # the project itself travels as source, not as a dependency
    for dev in ("pytest", "ruff", "mypy", "hypothesis"):
        assert dev not in pins, dev


def test_targets_of_every_function() -> None:
    for name in bundle.discover_functions(ROOT):
        main_py = ROOT / "functions" / name / "main.py"
        targets = {t.name: t.signature for t in bundle.targets_of(main_py)}
        http_only = {"job_restart", "job_delete", "job_reports"}
        assert targets[name] == ("http" if name in http_only else "cloudevent")
        for target, signature in targets.items():
            if target.endswith("_http"):
                assert signature == "http"


def test_unknown_function_is_refused(tmp_path: Path) -> None:
    assert bundle.main(["--out", str(tmp_path), "no_such_function"]) == 2
    assert not any(tmp_path.iterdir())
