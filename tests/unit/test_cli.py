"""The `jobwarden` command line: list and show stored reports; confirm actions with a prompt."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from jobwarden import cli
from jobwarden.sinks.storage import open_store
from jobwarden_dev import cli as console
from tests.support.reports import oomkilled_report, performance_report


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"file://{tmp_path / 'reports'}"
    store = open_store(url)
    store.put_report(oomkilled_report())
    store.put_report(performance_report())
    return url


def test_reports_lists_newest_first_and_filters(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["reports", "--store", store_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert cli.main(["reports", "--store", store_url, "--workflow", "jobFailureReporter"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert oomkilled_report().id in line
    assert "OOMKilled" in line or "memory" in line


def test_a_store_from_before_the_listed_index_is_migrated_by_a_command(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "reports"
    for entry in (root / "index").rglob("*.json"):
        entry.unlink()
    (root / "index.json").write_text("[]\n")  # what an older jobwarden left
    assert cli.main(["reports", "--store", store_url]) == 0
    assert "--migrate-index" in capsys.readouterr().err
    assert cli.main(["reports", "--store", store_url, "--migrate-index"]) == 0
    assert "wrote 2 index entries" in capsys.readouterr().err
    assert cli.main(["reports", "--store", store_url]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert cli.main(["show", oomkilled_report().id, "--store", store_url]) == 0


def test_the_console_command_offers_run_and_every_user_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        console.main(["--help"])
    assert exited.value.code == 0
    listed = capsys.readouterr().out
    for command in ("run", "reports", "show", "restart", "delete"):
        assert command in listed
    assert cli.build_parser(console.add_run).parse_args(["run"]).func is console.cmd_run
    with pytest.raises(SystemExit):  # the runtime's own parser has no demo to run
        cli.build_parser().parse_args(["run"])


def test_show_prints_a_report_in_markdown(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report = oomkilled_report()
    assert cli.main(["show", report.id, "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# ")
    assert report.cluster in out
    assert cli.main(["show", "nope", "--store", store_url]) == 1


class _Function(BaseHTTPRequestHandler):
    calls: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Function.calls.append(
            {
                "body": body,
                "auth": self.headers.get("Authorization"),
                "iam": self.headers.get("X-Serverless-Authorization"),
            }
        )
        if "confirmationToken" in body:
            answer = {"status": "restarted", "newJob": "etl-retry-1"}
        else:
            answer = {
                "status": "confirmation_required",
                "confirmationToken": "tok",
                "expiresAt": "2026-11-01T10:05:00Z",
                "plan": {"newJob": "etl-retry-1"},
            }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def function_url() -> Iterator[str]:
    _Function.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Function)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


ARGS = ["restart", "--cluster", "prod", "--namespace", "batch", "--name", "etl", "--token", "t0k"]


def test_restart_shows_the_plan_and_does_nothing_unless_confirmed(
    function_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    namespace = cli.build_parser().parse_args([*ARGS, "--url", function_url])
    assert cli.cmd_action(namespace, ask=lambda _: "n") == 1
    assert len(_Function.calls) == 1
    assert "etl-retry-1" in capsys.readouterr().out
    assert cli.cmd_action(namespace, ask=lambda _: "y") == 0
    assert _Function.calls[-1]["body"]["confirmationToken"] == "tok"
    assert _Function.calls[-1]["auth"] == "Bearer t0k"
    assert _Function.calls[-1]["iam"] is None  # no Google identity unless given


def test_behind_cloud_run_iam_both_tokens_travel_in_their_own_headers(
    function_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBWARDEN_ID_TOKEN", "google-id")
    namespace = cli.build_parser().parse_args([*ARGS, "--url", function_url, "--yes"])
    assert cli.cmd_action(namespace) == 0
    assert [(c["auth"], c["iam"]) for c in _Function.calls] == [
        ("Bearer t0k", "Bearer google-id"),
        ("Bearer t0k", "Bearer google-id"),
    ]


def test_the_restart_command_an_oom_report_prints_reaches_the_function_named_in_the_env(
    function_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobwarden.kube.objects import Job
    from jobwarden.workflows.followups import restart_command

    job = Job.from_json({"metadata": {"name": "etl", "namespace": "batch", "uid": "u-1"}})
    printed = restart_command("prod", job, None)  # what the report prints without restart.url
    monkeypatch.setenv("JOBWARDEN_RESTART_URL", function_url)
    words = printed.split()
    assert words[:2] == ["jobwarden", "restart"]
    namespace = cli.build_parser().parse_args([*words[1:], "--token", "t0k", "--yes"])
    assert cli.cmd_action(namespace) == 0
    assert _Function.calls[0]["body"] == {
        "cluster": "prod",
        "namespace": "batch",
        "name": "etl",
        "increaseMemory": True,
    }


def test_restart_without_a_url_says_where_to_give_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("JOBWARDEN_RESTART_URL", raising=False)
    assert cli.main(ARGS) == 2
    assert "give --url (the job_restart function's URL) or set $JOBWARDEN_RESTART_URL" in (
        capsys.readouterr().err
    )
