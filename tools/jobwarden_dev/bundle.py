"""Stage and smoke-test one deployable bundle per function (`make bundle`).

    python -m jobwarden_dev.bundle [--out build] [--smoke] [FUNCTION...]

For each folder in `functions/` this writes `<out>/<function>/` with:

- `main.py`, copied from `functions/<function>/main.py`;
- `jobwarden/`, a copy of the runtime package `shared/jobwarden` without `__pycache__` (the
  exporter and the development tooling are packages of their own and never travel; a unit
  test proves every import in the runtime resolves to the standard library, `jobwarden` or a
  distribution of the pruned requirements below);
- `requirements.txt`, the runtime dependencies pinned from `uv.lock` by `uv export`.

`--smoke` installs each bundle's requirements into a clean virtual environment (one per
distinct requirements.txt, kept under `<out>/.venvs/<sha256>`), starts functions-framework
from that environment with only the bundle on `PYTHONPATH`, checks that `jobwarden` resolves
from the bundle, and posts a real request to every target of `main.py`: a binary-mode
Eventarc Pub/Sub CloudEvent whose message data is not JSON (expects 200: acknowledged as
malformed, nothing written) or, for HTTP targets, a POST with a malformed body and no
credentials (expects 400, or 401 from a page that reads no body).

Only the standard library is imported here, so this runs before anything is installed.
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "jobwarden"
# Distributions no function imports, pruned from bundles with what only they pull in. Pub/Sub
# reaches a function over HTTP (push / Eventarc); only the exporter and the local bridge use
# the client library. Pruning it also drops grpcio, which google-api-core imports whenever it
# is installed: measured with callgrind, `import google.cloud.storage` (gs:// reports) costs
# 699M instructions with it and 626M without, on every cold start.
PRUNED = ("google-cloud-pubsub",)
UV_EXPORT_ARGS = (
    "export",
    "--frozen",
    "--no-dev",
    "--no-emit-project",
    # hashes kept: pip installs the bundle in hash-checking mode (Cloud Build, the function
    # image, the smoke test), so nothing altered, unpinned or left out gets in
    "--format",
    "requirements-txt",
    *(arg for dist in PRUNED for arg in ("--prune", dist)),
)
PUBSUB_CLOUDEVENT_TYPE = "google.cloud.pubsub.topic.v1.messagePublished"
START_TIMEOUT_S = 90.0
REQUEST_TIMEOUT_S = 60.0


class BundleError(Exception):
    """A bundle could not be built or failed its smoke test."""


@dataclass(frozen=True)
class Target:
    name: str
    signature: str  # "cloudevent" or "http"


@dataclass(frozen=True)
class Bundle:
    function: str
    path: Path
    targets: tuple[Target, ...]


def repo_root() -> Path:
    """The checkout this module lives in (shared/jobwarden/bundle.py -> repo)."""
    return Path(__file__).resolve().parents[2]


def discover_functions(root: Path) -> list[str]:
    return sorted(p.parent.name for p in (root / "functions").glob("*/main.py"))


def targets_of(main_py: Path) -> tuple[Target, ...]:
    """The functions-framework targets `main.py` declares, read from its decorators."""
    tree = ast.parse(main_py.read_text(encoding="utf-8"), filename=str(main_py))
    found: list[Target] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            attr = dec.attr if isinstance(dec, ast.Attribute) else getattr(dec, "id", "")
            if attr == "cloud_event":
                found.append(Target(node.name, "cloudevent"))
            elif attr == "http":
                found.append(Target(node.name, "http"))
    if not found:
        raise BundleError(f"{main_py} declares no functions-framework target")
    return tuple(found)


def export_requirements(root: Path) -> str:
    """Runtime dependencies pinned from uv.lock (bootstrap uv first, then uv on PATH)."""
    boot = root / ".jobwarden" / "bootstrap" / "bin" / "uv"
    uv = str(boot) if boot.is_file() else shutil.which("uv")
    if uv is None:
        raise BundleError("uv not found: run `make setup` or install uv")
    proc = subprocess.run(
        [uv, *UV_EXPORT_ARGS, "--project", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BundleError(f"uv export failed: {proc.stderr.strip()}")
    return proc.stdout


def build_bundle(root: Path, function: str, out: Path, requirements: str) -> Bundle:
    src = root / "functions" / function / "main.py"
    if not src.is_file():
        raise BundleError(f"no functions/{function}/main.py")
    pkg_dir = root / "shared" / PACKAGE
    dest = out / function
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copy2(src, dest / "main.py")
    shutil.copytree(pkg_dir, dest / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / "requirements.txt").write_text(requirements, encoding="utf-8")
    return Bundle(function, dest, targets_of(src))


# --- smoke test ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env(bundle: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "JOBWARDEN_CONFIG"}
        and not k.startswith("JOBWARDEN_")
    }
    env["PYTHONPATH"] = str(bundle)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def ensure_venv(out: Path, requirements: Path) -> Path:
    """A clean venv with `requirements` installed, shared by bundles with identical ones."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    venv = out / ".venvs" / digest
    python = venv / "bin" / "python"
    if (venv / ".installed").is_file():
        print(f"  venv {venv} (reused)", flush=True)
        return python
    if venv.exists():
        shutil.rmtree(venv)
    started = time.monotonic()
    print(f"  venv {venv}: installing {requirements} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise BundleError(f"pip install -r {requirements} failed:\n{tail}")
    (venv / ".installed").write_text(digest + "\n", encoding="utf-8")
    print(f"  venv installed in {time.monotonic() - started:.0f}s", flush=True)
    return python


def _pubsub_cloudevent() -> tuple[bytes, dict[str, str]]:
    """A binary-mode Eventarc Pub/Sub CloudEvent whose message data is not JSON."""
    body = {
        "message": {
            "data": base64.b64encode(b"this is not json {").decode(),
            "attributes": {"cluster": "smoke"},
            "messageId": "smoke-1",
            "publishTime": "2024-01-01T00:00:00Z",
        },
        "subscription": "projects/smoke/subscriptions/job-events-smoke",
    }
    headers = {
        "Content-Type": "application/json",
        "ce-id": "smoke-1",
        "ce-specversion": "1.0",
        "ce-type": PUBSUB_CLOUDEVENT_TYPE,
        "ce-source": "//pubsub.googleapis.com/projects/smoke/topics/job-events",
        "ce-time": "2024-01-01T00:00:00Z",
    }
    return json.dumps(body).encode(), headers


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_S) as resp:  # noqa: S310
            return int(resp.status), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode("utf-8", "replace")


def _wait_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BundleError(f"functions-framework exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise BundleError(f"functions-framework did not listen on {port} within {START_TIMEOUT_S:.0f}s")


def _log_tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return "\n".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def smoke_target(python: Path, bundle: Bundle, target: Target, work: Path) -> str:
    """Start one target from the bundle alone and post a real request; returns a summary."""
    env = _clean_env(bundle.path)
    cwd = work / f"cwd-{target.name}"  # storage default file://./reports lands here, if at all
    cwd.mkdir()
    log = work / f"{target.name}.log"
    port = _free_port()
    ff = python.parent / "functions-framework"
    argv = [
        str(ff),
        "--target",
        target.name,
        "--source",
        str(bundle.path / "main.py"),
        "--signature-type",
        target.signature,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_listening(proc, port)
            url = f"http://127.0.0.1:{port}/"
            if target.signature == "cloudevent":
                body, headers = _pubsub_cloudevent()
                expected: tuple[int, ...] = (200,)
            else:
                # valid JSON, but not the object any of the HTTP targets accepts, and no
                # credentials: refused as a bad request, or (a page that reads no body) as
                # unauthenticated; either way the bundle loaded and its edge answered
                body, headers = b'["not", "a", "request"]', {"Content-Type": "application/json"}
                expected = (400, 401)
            status, text = _post(url, body, headers)
        except BundleError as err:
            raise BundleError(f"{bundle.function}:{target.name}: {err}\n{_log_tail(log)}") from None
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if status not in expected:
        raise BundleError(
            f"{bundle.function}:{target.name}: expected {' or '.join(map(str, expected))}, "
            f"got {status} {text[:300]!r}\n"
            f"{_log_tail(log)}"
        )
    # A rejected event writes nothing; the actions audit every call, rejected ones included.
    written = sorted(str(p.relative_to(cwd)) for p in cwd.rglob("*") if p.is_file())
    allowed = "reports/audit/" if target.signature == "http" else None
    stray = [w for w in written if allowed is None or not w.startswith(allowed)]
    if stray:
        raise BundleError(f"{bundle.function}:{target.name}: wrote {stray} for a rejected request")
    if target.signature == "cloudevent" and "malformed" not in _log_tail(log, 200):
        raise BundleError(
            f"{bundle.function}:{target.name}: 200 but no 'malformed' in the log\n{_log_tail(log)}"
        )
    audit = f", {len(written)} audit record" if written else ""
    return f"{target.name} ({target.signature}) -> {status}{audit}"


def check_resolves_from_bundle(python: Path, bundle: Bundle, work: Path) -> str:
    """`import jobwarden` from the venv with only the bundle on the path must hit the bundle.

    The gs:// report store's client is imported too: the bundle's requirements are pruned
    (`PRUNED`), and a function must still reach Cloud Storage without them.
    """
    code = (
        "import jobwarden, main, google.cloud.storage, jobwarden.sinks.gcsstore; "
        "print(jobwarden.__file__)"
    )
    proc = subprocess.run(
        [str(python), "-c", code],
        cwd=work,
        env=_clean_env(bundle.path),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BundleError(f"{bundle.function}: importing the bundle failed:\n{proc.stderr[-2000:]}")
    where = Path(proc.stdout.strip()).resolve()
    if not where.is_relative_to(bundle.path.resolve()):
        raise BundleError(f"{bundle.function}: jobwarden resolved from {where}, not the bundle")
    return str(where)


def smoke(out: Path, bundle: Bundle) -> list[str]:
    python = ensure_venv(out, bundle.path / "requirements.txt")
    with tempfile.TemporaryDirectory(prefix=f"jobwarden-smoke-{bundle.function}-") as tmp:
        work = Path(tmp)
        results = [f"jobwarden from {check_resolves_from_bundle(python, bundle, work)}"]
        results += [smoke_target(python, bundle, t, work) for t in bundle.targets]
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobwarden_dev.bundle", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", default="build", help="output directory (default: build)")
    parser.add_argument("--smoke", action="store_true", help="smoke-test each bundle")
    parser.add_argument("functions", nargs="*", metavar="FUNCTION", help="default: all")
    args = parser.parse_args(argv)
    root = repo_root()
    available = discover_functions(root)
    wanted: list[str] = args.functions or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        print(f"unknown function(s): {', '.join(unknown)} (have: {', '.join(available)})")
        return 2
    out = Path(args.out).resolve()
    started = time.monotonic()
    failures: list[str] = []
    try:
        requirements = export_requirements(root)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    pins = sum(1 for line in requirements.splitlines() if "==" in line)
    for function in wanted:
        try:
            bundle = build_bundle(root, function, out, requirements)
            print(f"{function}: staged {bundle.path} ({pins} pinned requirements)", flush=True)
            if args.smoke:
                for line in smoke(out, bundle):
                    print(f"  ok {line}", flush=True)
        except (BundleError, OSError, subprocess.CalledProcessError) as err:
            failures.append(function)
            print(f"FAIL {function}: {err}", file=sys.stderr, flush=True)
    took = time.monotonic() - started
    done = len(wanted) - len(failures)
    what = "built and smoke-tested" if args.smoke else "built"
    print(f"{done}/{len(wanted)} bundles {what} in {out} ({took:.0f}s)")
    if failures:
        print(f"failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
