"""The container images' contracts, checked without Docker (images cannot be built here).

For the function image: the final stage's environment and command, run exactly as a
container runtime would (Knative/Cloud Run set PORT), against a bundle staged like
`make bundle` does, must serve a real request for both a CloudEvent and an HTTP target.
For the exporter image: its entrypoint is the exporter program and starts as documented.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
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


# --- what the images are built from ------------------------------------------------------------

DIGEST_PINNED = re.compile(r"python:(3\.\d+)[\w.-]*@sha256:[0-9a-f]{64}")


def _bases(dockerfile: Path) -> list[str]:
    """Every FROM of a Dockerfile, with ARG defaults substituted (stage names skipped)."""
    defaults: dict[str, str] = {}
    stages: set[str] = set()
    bases = []
    for keyword, args in instructions(dockerfile):
        if keyword == "ARG" and "=" in args:
            name, _, value = args.partition("=")
            defaults.setdefault(name, value)
        elif keyword == "FROM":
            words = args.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), ""), words[0])
            if image not in stages:
                bases.append(image)
            if len(words) == 3 and words[1].upper() == "AS":
                stages.add(words[2])
    return bases


def test_every_base_image_is_pinned_by_digest_and_is_the_python_the_functions_run() -> None:
    """A tag can be moved to other content; a digest cannot. And the images, Cloud Run's
    runtime and the bundles' smoke test must run one Python."""
    terraform = (ROOT / "infra" / "terraform" / "variables.tf").read_text()
    runtime = re.search(
        r'variable "python_runtime" \{\s*type\s*=\s*string\s*default\s*=\s*"(python3\d+)"',
        terraform,
    )
    assert runtime, "python_runtime has no default in variables.tf"
    smoke = f"python{sys.version_info.major}{sys.version_info.minor}"  # bundle smoke venvs
    assert runtime.group(1) == smoke, "Cloud Run's runtime and the smoke-tested Python differ"
    for dockerfile in (EXPORTER_DOCKERFILE, FUNCTION_DOCKERFILE):
        bases = _bases(dockerfile)
        assert bases, dockerfile
        for base in bases:
            pinned = DIGEST_PINNED.fullmatch(base)
            assert pinned, f"{dockerfile.relative_to(ROOT)}: FROM {base} is not pinned by digest"
            assert f"python{pinned.group(1).replace('.', '')}" == runtime.group(1), base


def _requirement_blocks(text: str) -> list[str]:
    """Each requirement of a requirements file with its continuation lines."""
    blocks: list[str] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith((" ", "\t")) and blocks:
            blocks[-1] += line
        else:
            blocks.append(line)
    return blocks


def test_dependencies_are_installed_only_from_hashes() -> None:
    for dockerfile in (EXPORTER_DOCKERFILE, FUNCTION_DOCKERFILE):
        installs = [a for k, a in instructions(dockerfile) if k == "RUN" and "pip install" in a]
        assert installs, dockerfile
        for run in installs:
            for part in run.split("&&"):
                if "pip install" in part:
                    assert "--require-hashes" in part, f"{dockerfile.name}: {part.strip()}"
    # what those files hold: uv.lock's pins with their hashes, and uv itself hashed
    (export,) = [a for k, a in instructions(EXPORTER_DOCKERFILE) if k == "RUN" and "uv export" in a]
    assert "--no-hashes" not in export
    hashed = {
        "bundle (and, without --prune, the exporter's)": bundle.export_requirements(ROOT),
        "uv": (ROOT / "exporter" / "build-requirements.txt").read_text(),
    }
    assert "--no-hashes" not in bundle.UV_EXPORT_ARGS
    for name, text in hashed.items():
        blocks = _requirement_blocks(text)
        assert blocks, name
        for block in blocks:
            assert "==" in block and "--hash=sha256:" in block, f"{name}: {block[:80]}"


def _ignored(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore matching, for the patterns used here (no `!` exceptions)."""
    parts = path.split("/")
    for pattern in patterns:
        if pattern.startswith("**/"):
            tail = pattern[3:]
            if any(fnmatch.fnmatch(p, tail) for p in parts):
                return True
        else:
            depth = pattern.count("/") + 1
            for i in range(depth, len(parts) + 1):
                if fnmatch.fnmatch("/".join(parts[:i]), pattern) and i == depth:
                    return True
    return False


def test_dockerignore_keeps_environments_and_state_out_and_every_copied_file_in() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert not [p for p in patterns if p.startswith("!")], "the matcher here handles no '!'"
    for unwanted in (
        ".git/config",
        ".venv/bin/python",
        ".jobwarden/local/env",
        "build/.venvs/abc/bin/python",
        "build/.zips/job_restart.zip",
        "reports/index.html",
        "infra/terraform/terraform.tfstate",
        "shared/jobwarden/__pycache__/edge.cpython-311.pyc",
    ):
        assert _ignored(patterns, unwanted), unwanted
    copied = [
        "exporter/build-requirements.txt",
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "shared/jobwarden/edge.py",
        "exporter/jobwarden_exporter/__main__.py",
        "watch/jobwarden_watch/__main__.py",
        "build/job_failure_reporter/requirements.txt",
        "build/job_failure_reporter/main.py",
        "build/job_failure_reporter/jobwarden/edge.py",
    ]
    for dockerfile in (EXPORTER_DOCKERFILE, FUNCTION_DOCKERFILE):
        for keyword, args in instructions(dockerfile):
            if keyword == "COPY" and not args.startswith("--from"):
                source = args.split()[0].replace("${FUNCTION}", "job_failure_reporter")
                assert any(c.startswith(source.rstrip("/")) for c in copied), source
    for path in copied:
        assert not _ignored(patterns, path), f"{path} is copied by an image but ignored"
