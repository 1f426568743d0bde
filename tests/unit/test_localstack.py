"""Pure parts of the local stack: tool cache keys, PKI, CRI log lines, process control."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from jobwarden_dev.localstack.logagent import cri_lines
from jobwarden_dev.localstack.pki import create_pki
from jobwarden_dev.localstack.processes import (
    Process,
    free_ports,
    process_gone,
    process_start_time,
    stop_pid,
)
from jobwarden_dev.localstack.tools import TOOLS, repo_root, tool_key


def test_tool_cache_key_changes_when_a_pin_changes(tmp_path: Path) -> None:
    root = repo_root()
    copy = tmp_path / "repo"
    shutil.copytree(root / "infra" / "local", copy / "infra" / "local")
    apiserver = next(t for t in TOOLS if t.name == "kube-apiserver")
    before = tool_key(apiserver, copy, "go1.26.8")
    assert before.startswith("kube-apiserver-v1.37.2-")
    assert tool_key(apiserver, copy, "go1.26.8") == before
    assert tool_key(apiserver, copy, "go1.27.0") != before
    gosum = copy / "infra" / "local" / "k8s" / "go.sum"
    gosum.write_text(gosum.read_text() + "example.invalid/x v1.0.0 h1:abc=\n")
    assert tool_key(apiserver, copy, "go1.26.8") != before


def test_every_tool_has_a_pinned_module() -> None:
    root = repo_root()
    for tool in TOOLS:
        module = root / "infra" / "local" / tool.module
        assert (module / "go.mod").is_file(), tool.name
        assert (module / "go.sum").is_file(), tool.name
        assert tool.version.startswith("v")


def test_pki_admin_is_system_masters_and_signed_by_the_ca(tmp_path: Path) -> None:
    pki = create_pki(tmp_path)
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    admin = x509.load_pem_x509_certificate(pki.admin_cert.read_bytes())
    server = x509.load_pem_x509_certificate(pki.apiserver_cert.read_bytes())
    orgs = [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    admin.verify_directly_issued_by(ca)
    server.verify_directly_issued_by(ca)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert oct(pki.admin_key.stat().st_mode & 0o777) == "0o600"


def test_cri_lines_are_one_stdout_line_per_text_line() -> None:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC)
    out = cri_lines("starting\nError: boom", when)
    assert out == (
        "2026-01-02T03:04:05.600000Z stdout F starting\n"
        "2026-01-02T03:04:05.600000Z stdout F Error: boom\n"
    )


def test_free_ports_are_distinct() -> None:
    ports = free_ports(8)
    assert len(set(ports)) == 8


def test_stop_pid_stops_the_whole_process_group(tmp_path: Path) -> None:
    proc = Process(
        "sleeper",
        ["/bin/sh", "-c", "sleep 60 & sleep 60; wait"],
        tmp_path / "sleeper.log",
        detach=True,
    )
    time.sleep(0.2)
    children = subprocess.run(
        ["pgrep", "-g", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert len(children) >= 2
    assert process_start_time(proc.pid) is not None
    stop_pid(proc.pid, timeout=5)
    assert not proc.alive()
    deadline = time.monotonic() + 5
    while not all(process_gone(int(c)) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(process_gone(int(c)) for c in children)


def test_a_child_of_a_test_run_dies_with_its_launcher_and_is_started_without_a_fork_hook(
    tmp_path: Path,
) -> None:
    """The death signal comes from `setpriv` in front of the command, not a preexec_fn (a
    preexec_fn forces fork(), whose grpcio handlers can abort the child: grpc#43055)."""
    log = tmp_path / "s.log"
    launcher = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from jobwarden_dev.localstack.processes import Process\n"
        f"p = Process('sleeper', ['sleep', '60'], Path({str(log)!r}), detach=False)\n"
        "print(p.pid, p.popen.args[:4], flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", launcher], stdout=subprocess.PIPE, text=True, cwd=repo_root()
    )
    assert parent.stdout is not None
    pid_text, _, args = parent.stdout.readline().partition(" ")
    child = int(pid_text)
    assert "'--pdeathsig', 'KILL'" in args
    # setpriv sets the signal, then execs: once the child is `sleep`, the signal is set
    deadline = time.monotonic() + 5
    comm = Path(f"/proc/{child}/comm")
    while comm.read_text().strip() != "sleep" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert comm.read_text().strip() == "sleep"
    parent.kill()
    parent.wait(5)
    deadline = time.monotonic() + 5
    while not process_gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_gone(child), "the child outlived its launcher"


def test_kubeconfig_keeps_yaml_boolean_like_names_as_strings(tmp_path: Path) -> None:
    import yaml

    from jobwarden_dev.localstack.stack import _kubeconfig

    text = _kubeconfig("no", "https://127.0.0.1:1", tmp_path / "ca", tmp_path / "c", tmp_path / "k")
    config = yaml.safe_load(text)
    assert config["current-context"] == "no"
    assert config["clusters"][0]["name"] == "no"
    assert config["users"][0]["name"] == "no-admin"


def _without_go(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    assert shutil.which("go", path=env["PATH"]) is None
    return {**env, **extra}


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=repo_root(), env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_without_go_the_stack_tiers_skip_in_one_line_and_with_ci_they_fail() -> None:
    a_stack_test = "tests/integration/test_local_stack.py::test_pod_logs_are_served_through_the_api"
    pytest_argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", a_stack_test]
    tools_argv = [sys.executable, "-m", "jobwarden_dev.localstack", "tools", "--unless-no-go"]

    skipped = _run(pytest_argv, _without_go())
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped" in skipped.stdout
    assert "integration and e2e tests skipped: the Go toolchain is not on PATH" in skipped.stdout
    tools = _run(tools_argv, _without_go())
    assert tools.returncode == 0, tools.stderr
    assert "not building the local stack: the Go toolchain is not on PATH" in tools.stdout

    failed = _run(pytest_argv, _without_go(CI="true"))
    assert failed.returncode != 0
    assert "1 error" in failed.stdout
    assert "the Go toolchain is not on PATH" in failed.stdout
    tools = _run(tools_argv, _without_go(CI="true"))
    assert tools.returncode == 1
    assert "error: the Go toolchain is not on PATH" in tools.stderr


def test_a_stack_json_from_before_prometheus_still_loads_for_make_down(tmp_path: Path) -> None:
    import json
    from dataclasses import asdict

    from jobwarden_dev.localstack.stack import StackInfo

    info = StackInfo("local", str(tmp_path), "https://127.0.0.1:1", "k", "ca", "c", "k", "", "", "")
    old = {k: v for k, v in asdict(info).items() if k != "prometheus_url"}
    (tmp_path / "stack.json").write_text(json.dumps(old))
    loaded = StackInfo.load(tmp_path)
    assert loaded.prometheus_url == ""
    assert "JOBWARDEN_LOCAL_PROMETHEUS_URL" not in loaded.env()
    loaded.prometheus_url = "http://127.0.0.1:9090"
    assert loaded.env()["JOBWARDEN_LOCAL_PROMETHEUS_URL"] == "http://127.0.0.1:9090"
