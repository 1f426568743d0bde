"""checkov for the Terraform checks, in its own virtual environment, installed on first use.

checkov pins dozens of libraries that would clash with the project's lock, so it never goes
into `.venv`. `ensure_checkov()` creates `.jobwarden/tools/checkov-<hash>/` from the hashed pins
in `infra/terraform/checkov-requirements.txt` (compiled from `checkov-requirements.in` with
`uv pip compile --python-version 3.11 --generate-hashes`) with the bootstrapped `uv`, prints
its progress to stderr, and marks the environment complete. Later calls, and other processes,
find the mark and return at once; a changed requirements file gets a new folder. Only PyPI is
contacted, and only on that first install.

`run_checkov()` runs it offline: no Bridgecrew platform, no policy or guideline download, no
version check; a proxy that refuses every connection makes any other attempt fail fast.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "infra" / "terraform" / "checkov-requirements.txt"
TOOLS = ROOT / ".jobwarden" / "tools"
MARKER = ".installed"
INSTALL_TIMEOUT_S = 1200.0
RUN_TIMEOUT_S = 600.0

#: Environment that keeps checkov off the network and strict (names from checkov 3.3.30's
#: `checkov/common/util/env_vars_config.py`).
OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",  # no Bridgecrew mapping / guideline download
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",  # no "new version" request to PyPI
    "CKV_VALIDATE_SECRETS": "false",  # never send found secrets anywhere to validate them
    "CKV_PARSE_ERROR_FAIL": "true",  # a file checkov cannot parse fails the run
    "LOG_LEVEL": "WARNING",
    # Anything that still tries to go out is refused at once instead of hanging.
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
}


class CheckovInstallError(RuntimeError):
    """checkov could not be installed into its environment."""


def _say(message: str) -> None:
    print(f"[checkov] {message}", file=sys.stderr, flush=True)


def _uv() -> str:
    boot = ROOT / ".jobwarden" / "bootstrap" / "bin" / "uv"
    found = str(boot) if boot.is_file() else shutil.which("uv")
    if found is None:
        raise CheckovInstallError("uv not found: run `make setup` (it bootstraps uv)")
    return found


def venv_dir(requirements: Path = REQUIREMENTS) -> Path:
    """The environment for these requirements: `.jobwarden/tools/checkov-<sha256[:16]>`."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    return TOOLS / f"checkov-{digest}"


def _run(argv: Sequence[str], what: str) -> None:
    proc = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise CheckovInstallError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def ensure_checkov(requirements: Path = REQUIREMENTS) -> Path:
    """The `checkov` executable, installing it first if this requirements file is new here."""
    venv = venv_dir(requirements)
    checkov = venv / "bin" / "checkov"
    if (venv / MARKER).is_file() and checkov.is_file():
        return checkov
    TOOLS.mkdir(parents=True, exist_ok=True)
    with (TOOLS / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second test process waits for the first install
        if (venv / MARKER).is_file() and checkov.is_file():
            return checkov
        if venv.exists():
            _say(f"removing the incomplete {venv}")
            shutil.rmtree(venv)
        started = time.monotonic()
        _say(f"first use: installing {requirements.name} into {venv} (cached afterwards) ...")
        uv = _uv()
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], "uv venv")
        _say("  venv created; installing the hashed pins from PyPI ...")
        _run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(venv / "bin" / "python"),
                "--require-hashes",
                "-r",
                str(requirements),
            ],
            f"uv pip install -r {requirements}",
        )
        if not checkov.is_file():
            raise CheckovInstallError(f"{checkov} missing after the install")
        (venv / MARKER).write_text(f"{requirements}\n", encoding="utf-8")
        _say(f"  installed in {time.monotonic() - started:.0f}s")
    return checkov


def run_checkov(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run checkov with `args`, offline, and return the finished process (never raises on
    a non-zero exit: the caller shows the failed checks)."""
    env = {**os.environ, **OFFLINE_ENV}
    return subprocess.run(
        [str(ensure_checkov()), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
