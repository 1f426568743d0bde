"""`jobwarden watch` on the command line: routing, flags, and the errors before any cluster."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from jobwarden import cli
from jobwarden.sinks.storage import StoreResult
from jobwarden_watch.cli import report_line
from tests.support.reports import oomkilled_report


def _kubeconfig(path: Path, *contexts: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {"name": c, "context": {"cluster": "c", "user": "u"}} for c in contexts
                ],
                "current-context": contexts[0],
            }
        )
    )
    return path


def test_the_jobwarden_command_offers_watch_from_the_watch_package(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    listed = capsys.readouterr().out
    assert "watch" in listed and "run" in listed
    with pytest.raises(SystemExit):
        cli.main(["watch", "--help"])
    flags = capsys.readouterr().out
    for flag in ("--kubeconfig", "--context", "--cluster-name", "--config", "--reports",
                 "--namespace", "--port", "--host", "--in-cluster", "--url"):  # fmt: skip
        assert flag in flags


def test_a_missing_kubeconfig_is_named_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    assert cli.main(["watch", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"error: kubeconfig {tmp_path / 'nope'} does not exist" in err
    assert "--kubeconfig (or $KUBECONFIG)" in err


def test_a_context_that_is_no_dns_label_asks_for_a_cluster_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eks = "arn:aws:eks:eu-west-1:123456789012:cluster/prod"
    kubeconfig = _kubeconfig(tmp_path / "kc", eks)
    assert cli.main(["watch", "--kubeconfig", str(kubeconfig), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"cluster name {eks!r} (from context {eks})" in err
    assert "name it with --cluster-name (a DNS label, like prod-eu)" in err


def test_cluster_name_names_one_cluster_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = _kubeconfig(tmp_path / "kc", "a", "b")
    argv = ["watch", "--kubeconfig", str(kubeconfig), "--context", "a", "--context", "b"]
    assert cli.main([*argv, "--cluster-name", "x", "--port", "0"]) == 2
    assert "with several --context each cluster is named after its context" in (
        capsys.readouterr().err
    )


def test_a_port_in_use_says_to_pick_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kubeconfig = _kubeconfig(tmp_path / "kc", "a")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["watch", "--kubeconfig", str(kubeconfig), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot serve the pages on 127.0.0.1:{port}" in err
    assert "pick another --port (0 picks a free one)" in err


def test_one_report_is_one_terminal_line_with_time_job_cause_and_path() -> None:
    report = oomkilled_report(cluster="prod-eu")
    key = f"prod-eu/{report.namespace}/{report.job}/{report.job_uid}/{report.workflow}/{report.id}"
    result = StoreResult(report.id, True, key, "http://127.0.0.1:8080/files/" + key + ".html")
    line = report_line(report, result, "file:///home/me/reports")
    when, where, workflow, cause, path = line.split("  ")
    assert when == report.created_at.strftime("%Y-%m-%d %H:%M:%S")
    assert where == f"prod-eu/{report.namespace}/{report.job}"
    assert (workflow, cause) == ("jobFailureReporter", report.title)
    assert path == f"/home/me/reports/{key}.html"
    in_bucket = report_line(report, result, "gs://bucket/jw")
    assert in_bucket.endswith("  " + result.url)
