"""The container images' contracts, checked without Docker (images cannot be built here).

For the function image: the final stage's environment and command, run exactly as a
container runtime would (Knative/Cloud Run set PORT), against a bundle staged like
`make bundle` does, must serve a real request for both a CloudEvent and an HTTP target.
For the exporter image: its entrypoint is the exporter program and starts as documented.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobwarden_dev import bundle
from tests.support.checkov import run_checkov
from tests.support.dockerfile import Stage, final_stage, instructions

ROOT = bundle.repo_root()
FUNCTION_DOCKERFILE = ROOT / "functions" / "Dockerfile"
EXPORTER_DOCKERFILE = ROOT / "exporter" / "Dockerfile"
NOBODY = "65532:65532"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_container(stage: Stage, app: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """The stage's argv and environment, with the image's /app mapped onto `app`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JOBWARDEN_", "FUNCTION_")) and k not in {"PYTHONPATH", "PORT"}
    }
    for name, value in stage.env.items():
        env[name] = value.replace(stage.workdir, str(app)) if stage.workdir != "/" else value
    env["PORT"] = str(port)  # what Knative and Cloud Run do
    env["PYTHONPATH"] = str(app)  # the image installs the bundle's code in /app
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return stage.argv, env


@pytest.mark.parametrize(
    ("function", "build_args", "signature"),
    [
        ("job_failure_reporter", {}, "cloudevent"),
        ("job_restart", {"SIGNATURE": "http"}, "http"),
        (
            "job_info_enricher",
            {"TARGET": "job_info_enricher_http", "SIGNATURE": "http"},
            "http",
        ),
    ],
)
def test_the_function_image_command_serves_its_target_on_port(
    function: str, build_args: dict[str, str], signature: str, tmp_path: Path
) -> None:
    stage = final_stage(FUNCTION_DOCKERFILE, {"FUNCTION": function, **build_args})
    target = build_args.get("TARGET", function)
    assert stage.env["FUNCTION_TARGET"] == target
    assert stage.env["FUNCTION_SIGNATURE_TYPE"] == signature
    assert stage.user == NOBODY
    assert stage.exposed == [stage.env["PORT"]] == ["8080"]
    assert stage.argv == ["functions-framework"]  # exec form: SIGTERM reaches the server

    requirements = bundle.export_requirements(ROOT)
    staged = bundle.build_bundle(ROOT, function, tmp_path / "build", requirements)
    # every file the Dockerfile copies exists in a staged bundle
    for copied in ("requirements.txt", "main.py", "jobwarden/__init__.py"):
        assert (staged.path / copied).is_file(), copied
    assert target in {t.name for t in staged.targets}

    port = _free_port()
    argv, env = _as_container(stage, staged.path, port)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log.read_text()
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                assert time.monotonic() < deadline, f"not listening on {port}:\n{log.read_text()}"
                time.sleep(0.2)
            if signature == "cloudevent":
                body, headers = bundle._pubsub_cloudevent()
                status, _ = bundle._post(f"http://127.0.0.1:{port}/", body, headers)
                assert status == 200  # a malformed event is acknowledged, never retried
            else:
                status, text = bundle._post(
                    f"http://127.0.0.1:{port}/", b"[]", {"Content-Type": "application/json"}
                )
                assert status == 400, text
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    text = log.read_text()
    if signature == "cloudevent":
        assert "malformed" in text


def test_the_function_image_refuses_to_build_without_a_function() -> None:
    (guard,) = [
        args
        for keyword, args in instructions(FUNCTION_DOCKERFILE)
        if "FUNCTION}" in args and keyword == "RUN"
    ]
    outcomes = {}
    for value in ("", "job_delete"):
        proc = subprocess.run(
            ["sh", "-c", guard],
            env={"PATH": os.environ["PATH"], "FUNCTION": value},
            capture_output=True,
            text=True,
            check=False,
        )
        outcomes[value] = (proc.returncode, proc.stderr.strip())
    assert outcomes[""] == (1, "set --build-arg FUNCTION=<folder under functions/>")
    assert outcomes["job_delete"] == (0, "")


def test_the_exporter_image_runs_the_exporter_program(tmp_path: Path) -> None:
    stage = final_stage(EXPORTER_DOCKERFILE)
    assert stage.entrypoint == ["python", "-m", "jobwarden_exporter"]
    assert stage.user == NOBODY
    assert stage.exposed == ["8080"]
    assert stage.env["PATH"].startswith("/venv/bin:")
    argv = [sys.executable, *stage.entrypoint[1:]]
    shown = subprocess.run([*argv, "--help"], capture_output=True, text=True, check=False)
    assert shown.returncode == 0
    for flag in ("--in-cluster", "--topic", "--lease-name", "--port"):
        assert flag in shown.stdout
    # without its required flags it stops at once and says what is missing
    bad = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert bad.returncode == 2
    assert "--cluster" in bad.stderr and "--topic" in bad.stderr


def test_checkov_passes_on_both_dockerfiles_with_each_skip_justified() -> None:
    proc = run_checkov(
        "-f",
        str(EXPORTER_DOCKERFILE),
        "-f",
        str(FUNCTION_DOCKERFILE),
        "--framework",
        "dockerfile",
        "--compact",
        "--skip-download",
        "-o",
        "json",
    )
    reports = json.loads(proc.stdout)
    report = reports[0] if isinstance(reports, list) else reports
    failed = [
        f"{c['check_id']} {c['check_name']} ({c['file_path']})"
        for c in report["results"]["failed_checks"]
    ]
    assert proc.returncode == 0 and not failed, "checkov failed:\n" + "\n".join(failed)
    assert report["summary"]["passed"] > 100  # both files were really checked
    assert report["summary"]["parsing_errors"] == 0
    for check in report["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert reason.strip(), f"{check['check_id']} skipped without a reason"
    # the checks a platform team asks about first
    passed = {c["check_id"] for c in report["results"]["passed_checks"]}
    assert {"CKV_DOCKER_3", "CKV_DOCKER_8"} <= passed  # a non-root USER, and not root last
