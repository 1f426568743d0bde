"""Build the local stack's binaries from pinned Go modules, once per machine.

Each tool is built from a small Go module under `infra/local/<module>/` whose
go.mod/go.sum pin every version. The result is cached outside the repo at
`$JOBWARDEN_CACHE/bin/<name>-<version>-<hash>/<name>` (default cache
`~/.cache/jobwarden`), where the hash covers the module files, the build flags
and the Go version, so a changed pin or toolchain builds again and nothing else does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jobwarden_dev.errors import LocalStackError

K8S_VERSION = "v1.37.2"
ETCD_VERSION = "v3.7.3"
KWOK_VERSION = "v0.8.0"
PUBSUB_VERSION = "v2.9.0"
FAKE_GCS_VERSION = "v1.55.1"
HELM_VERSION = "v4.3.1"
TOFU_VERSION = "v1.12.6"
#: The Go module proxy serves this exact version (listing versions and @latest are refused).
KUBERNETES_EVENT_EXPORTER_VERSION = "v1.6.1"
#: Prometheus 3.16.0 (its Go module tags releases as v0.<major><minor>.<patch>); the proxy
#: serves this exact version while listings and @latest may be refused.
PROMETHEUS_VERSION = "v0.316.0"
PROMETHEUS_RELEASE = "3.16.0"


def _k8s_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


@dataclass(frozen=True)
class GoTool:
    """One binary built from one package of a pinned Go module under infra/local."""

    name: str
    module: str
    package: str
    version: str
    ldflags: str = "-s -w"
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: "stack": the local stack runs it; "checks": only `make test` (and bench/) use it
    purpose: str = "stack"


TOOLS: tuple[GoTool, ...] = (
    GoTool("etcd", "etcd", "go.etcd.io/etcd/server/v3", ETCD_VERSION),
    GoTool(
        "kube-apiserver",
        "k8s",
        "k8s.io/kubernetes/cmd/kube-apiserver",
        K8S_VERSION,
        _k8s_ldflags(K8S_VERSION),
        ("selinux", "notest"),
    ),
    GoTool(
        "kube-controller-manager",
        "k8s",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        K8S_VERSION,
        _k8s_ldflags(K8S_VERSION),
        ("selinux", "notest"),
    ),
    GoTool(
        "kube-scheduler",
        "k8s",
        "k8s.io/kubernetes/cmd/kube-scheduler",
        K8S_VERSION,
        _k8s_ldflags(K8S_VERSION),
        ("selinux", "notest"),
    ),
    GoTool(
        "kwok",
        "kwok",
        "sigs.k8s.io/kwok/cmd/kwok",
        KWOK_VERSION,
        f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={KWOK_VERSION.lstrip('v')}",
    ),
    GoTool("pstestd", "pstest", ".", PUBSUB_VERSION),
    # Scrapes KWOK's emulated cAdvisor metrics. `remove_all_sd` keeps only the file, http
    # and static discovery (the cloud SDKs are most of its build); without `builtinassets`
    # the web UI is not embedded (no npm): the HTTP API, which the tests use, is complete.
    GoTool(
        "prometheus",
        "prometheus",
        "github.com/prometheus/prometheus/cmd/prometheus",
        PROMETHEUS_VERSION,
        f"-s -w -X github.com/prometheus/common/version.Version={PROMETHEUS_RELEASE}",
        ("remove_all_sd",),
    ),
    GoTool("fake-gcs-server", "gcs", "github.com/fsouza/fake-gcs-server", FAKE_GCS_VERSION),
    # Not part of the running stack: they check infra/helm and infra/terraform in `make test`.
    GoTool(
        "helm",
        "helm",
        "helm.sh/helm/v4/cmd/helm",
        HELM_VERSION,
        f"-s -w -X helm.sh/helm/v4/internal/version.version={HELM_VERSION}",
        purpose="checks",
    ),
    GoTool(
        "tofu",
        "tofu",
        "github.com/opentofu/opentofu/cmd/tofu",
        TOFU_VERSION,
        "-s -w -X github.com/opentofu/opentofu/version.dev=no",
        purpose="checks",
    ),
    # The other exporter users run: raced against ours (bench/exporter_race.py) and fed
    # through the functions (tests/integration/test_kubernetes_event_exporter.py).
    GoTool(
        "kubernetes-event-exporter",
        "kubernetes-event-exporter",
        "github.com/resmoio/kubernetes-event-exporter",
        KUBERNETES_EVENT_EXPORTER_VERSION,
        "-s -w -X github.com/resmoio/kubernetes-event-exporter/pkg/version.Version="
        + KUBERNETES_EVENT_EXPORTER_VERSION,
        purpose="checks",
    ),
)

Progress = Callable[[str], None]


def repo_root() -> Path:
    """The checkout this package runs from (the folder holding infra/local)."""
    env = os.environ.get("JOBWARDEN_REPO")
    candidates = [Path(env)] if env else []
    candidates += [Path(__file__).resolve().parents[3], Path.cwd()]
    for candidate in candidates:
        if (candidate / "infra" / "local" / "k8s" / "go.mod").is_file():
            return candidate
    raise LocalStackError(
        "cannot find the jobwarden checkout (no infra/local/k8s/go.mod above "
        f"{Path(__file__).resolve()} or in {Path.cwd()}); "
        "run from the repository or set JOBWARDEN_REPO"
    )


def cache_root() -> Path:
    """Where built binaries live, outside the repo (JOBWARDEN_CACHE, default ~/.cache/jobwarden)."""
    env = os.environ.get("JOBWARDEN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "jobwarden"


def go_missing() -> str | None:
    """Why the local stack's binaries cannot be built here (no Go on PATH), or None."""
    if shutil.which("go") is None:
        return (
            "the Go toolchain is not on PATH; the local stack's binaries are built from Go "
            "modules (install Go 1.26+ and run `make tools` again)"
        )
    return None


def _go() -> str:
    missing = go_missing()
    if missing:
        raise LocalStackError(missing)
    return str(shutil.which("go"))


def _go_version() -> str:
    out = subprocess.run(
        [_go(), "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout
    return out.strip()


def _module_files(module_dir: Path) -> Iterable[Path]:
    yield module_dir / "go.mod"
    yield module_dir / "go.sum"
    yield from sorted(module_dir.glob("*.go"))


def tool_key(tool: GoTool, root: Path, go_version: str) -> str:
    """Cache key: name, pinned version and a hash of everything that shapes the binary."""
    digest = hashlib.sha256()
    for path in _module_files(root / "infra" / "local" / tool.module):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(f"{tool.package}|{tool.ldflags}|{','.join(tool.tags)}|{go_version}".encode())
    return f"{tool.name}-{tool.version}-{digest.hexdigest()[:12]}"


def binary_path(tool: GoTool, root: Path, go_version: str) -> Path:
    return cache_root() / "bin" / tool_key(tool, root, go_version) / tool.name


def _build(tool: GoTool, root: Path, target: Path, progress: Progress) -> None:
    module_dir = root / "infra" / "local" / tool.module
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        out = Path(tmp) / tool.name
        cmd = [_go(), "build", "-v", "-trimpath", f"-ldflags={tool.ldflags}", "-o", str(out)]
        if tool.tags:
            cmd.append(f"-tags={','.join(tool.tags)}")
        cmd.append(tool.package)
        env = {**os.environ, "CGO_ENABLED": "0"}
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=module_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        tail: list[str] = []
        problems: list[str] = []  # compiler errors scroll by among the package names of -v
        last_report = started
        for compiled, line in enumerate(proc.stdout, start=1):
            tail = [*tail[-19:], line.rstrip()]
            if ".go:" in line or line.startswith(("go: ", "# ")):
                problems = [*problems[-29:], line.rstrip()]
            now = time.monotonic()
            if now - last_report >= 15:
                progress(
                    f"  {tool.name}: {compiled} packages compiled, {now - started:.0f}s elapsed"
                )
                last_report = now
        if proc.wait() != 0:
            raise LocalStackError(
                f"building {tool.name} {tool.version} ({tool.package}) in {module_dir} failed; "
                "errors:\n" + "\n".join(problems or tail)
            )
        os.replace(out, target)
        progress(f"  {tool.name}: built in {time.monotonic() - started:.0f}s -> {target}")


STACK_TOOLS = tuple(t.name for t in TOOLS if t.purpose == "stack")


def cached_binary(name: str) -> Path | None:
    """The tool's binary if this machine has built it (no build), else None (also without Go)."""
    tool = next((t for t in TOOLS if t.name == name), None)
    if tool is None:
        raise LocalStackError(f"unknown tool {name}; known: {', '.join(t.name for t in TOOLS)}")
    if go_missing():
        return None
    path = binary_path(tool, repo_root(), _go_version())
    return path if path.is_file() else None


def ensure_tools(
    progress: Progress | None = None, only: Iterable[str] | None = None
) -> dict[str, Path]:
    """Build every missing binary (with progress) and return name -> path; a no-op when cached.

    `only` limits it to those tools (the stack asks for STACK_TOOLS, so `make run` never
    builds helm or tofu); an unknown name is an error.
    """
    say: Progress = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
    wanted = list(TOOLS)
    if only is not None:
        names = set(only)
        unknown = names - {t.name for t in TOOLS}
        if unknown:
            raise LocalStackError(
                f"unknown tool(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(t.name for t in TOOLS)}"
            )
        wanted = [t for t in TOOLS if t.name in names]
    root = repo_root()
    go_version = _go_version()
    paths: dict[str, Path] = {}
    missing = [t for t in wanted if not binary_path(t, root, go_version).is_file()]
    if missing:
        say(
            f"building {len(missing)} binaries with {go_version} "
            f"(first time on this machine takes a while; cached in {cache_root() / 'bin'})"
        )
    for index, tool in enumerate(wanted, start=1):
        path = binary_path(tool, root, go_version)
        if not path.is_file():
            say(f"[{index}/{len(wanted)}] {tool.name} {tool.version}")
            _build(tool, root, path, say)
        paths[tool.name] = path
    return paths
