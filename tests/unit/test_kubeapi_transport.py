"""KubeApi's own code (URLs, error mapping, JSON, call counting) runs over any transport;
recordings keep no credentials and replay names what was not recorded."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from jobwarden.errors import ApiUnavailableError, NotFoundError
from jobwarden.kubeapi import Credentials, KubeApi, Stream
from jobwarden_dev.apirecording import (
    SCRUBBED_SERVER,
    Exchange,
    Recording,
    RecordingTransport,
    ReplayTransport,
)
from jobwarden_dev.errors import NotRecordedError

SERVER = "https://10.9.8.7:6443"
TOKEN = "tok-very-secret"


def _job_body(name: str) -> bytes:
    return json.dumps(
        {
            "kind": "Job",
            "metadata": {
                "name": name,
                "managedFields": [{"manager": "kube-controller-manager"}],
                "annotations": {"seen-at": SERVER, "token": TOKEN},
            },
        }
    ).encode()


class _Scripted:
    """A transport answering from a dict of path -> (status, body); remembers headers."""

    def __init__(self, answers: Mapping[str, tuple[int, bytes]]) -> None:
        self.answers = answers
        self.headers: list[dict[str, str]] = []

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> tuple[int, bytes]:
        self.headers.append(dict(headers))
        if url.endswith("/down"):
            raise ConnectionRefusedError("ConnectionRefused")
        return self.answers[url.removeprefix(SERVER)]

    def stream(
        self, method: str, url: str, *, headers: Mapping[str, str], timeout: float | None
    ) -> Stream:
        raise ConnectionError("no streams here")


def test_replayed_answers_go_through_kubeapis_json_errors_and_call_count() -> None:
    replay = ReplayTransport(
        [
            Exchange("GET", "/apis/batch/v1/namespaces/a/jobs/ok?limit=5", 200, _job_body("ok")),
            Exchange("GET", "/apis/batch/v1/namespaces/a/jobs/gone", 404, b'{"reason":"NotFound"}'),
            Exchange("GET", "/api/v1/namespaces/a/pods/p/log?container=main", 200, b"boom\n"),
        ]
    )
    api = KubeApi(Credentials(server=SERVER, token=TOKEN), transport=replay)
    assert api.get("/apis/batch/v1/namespaces/a/jobs/ok", limit=5)["metadata"]["name"] == "ok"
    assert api.text("/api/v1/namespaces/a/pods/p/log", container="main") == "boom\n"
    with pytest.raises(NotFoundError) as info:
        api.get("/apis/batch/v1/namespaces/a/jobs/gone")
    assert "GET /apis/batch/v1/namespaces/a/jobs/gone: 404 NotFound" in str(info.value)
    assert api.calls == 3


def test_a_request_missing_from_the_recording_names_method_path_and_query() -> None:
    replay = Recording("oomkilled", [Exchange("GET", "/version", 200, b"{}")]).replay()
    api = KubeApi(Credentials(server=SERVER), transport=replay)
    with pytest.raises(NotRecordedError) as info:
        api.get("/api/v1/namespaces/a/pods", labelSelector="controller-uid=1")
    message = str(info.value)
    assert "GET /api/v1/namespaces/a/pods?labelSelector=controller-uid%3D1" in message
    assert "scenario 'oomkilled'" in message and "re-record" in message
    assert replay.missing == ["GET /api/v1/namespaces/a/pods?labelSelector=controller-uid%3D1"]


def test_unreachable_transport_is_a_temporary_error_naming_the_server() -> None:
    api = KubeApi(Credentials(server=SERVER), transport=_Scripted({}))
    with pytest.raises(ApiUnavailableError) as info:
        api.get("/down")
    assert "cannot reach the API server at https://10.9.8.7:6443" in str(info.value)


def test_recording_keeps_no_token_no_server_address_and_no_managed_fields(tmp_path: Path) -> None:
    inner = _Scripted({"/apis/batch/v1/namespaces/a/jobs/ok": (200, _job_body("ok"))})
    recorder = RecordingTransport(inner, server=SERVER, secrets=[TOKEN])
    api = KubeApi(Credentials(server=SERVER, token=TOKEN), transport=recorder)
    assert api.get("/apis/batch/v1/namespaces/a/jobs/ok")["metadata"]["managedFields"]
    assert inner.headers[0]["Authorization"] == f"Bearer {TOKEN}"  # sent, not recorded

    file = tmp_path / "ok.json"
    Recording("ok", recorder.exchanges).save(file)
    text = file.read_text()
    assert TOKEN not in text and "10.9.8.7" not in text and "managedFields" not in text
    assert "Authorization" not in text and "Bearer" not in text
    (saved,) = json.loads(text)["exchanges"]
    assert saved["path"] == "/apis/batch/v1/namespaces/a/jobs/ok"
    assert saved["body"]["metadata"]["annotations"]["seen-at"] == SCRUBBED_SERVER

    replayed = KubeApi(
        Credentials(server="https://elsewhere"), transport=Recording.load(file).replay()
    )
    assert replayed.get("/apis/batch/v1/namespaces/a/jobs/ok")["metadata"]["name"] == "ok"


def test_identical_requests_get_the_recorded_answers_in_order_then_the_last() -> None:
    path = "/apis/batch/v1/namespaces/a/jobs/j"
    replay = ReplayTransport(
        [Exchange("GET", path, 503, b"{}"), Exchange("GET", path, 200, _job_body("j"))]
    )
    api = KubeApi(Credentials(server=SERVER), transport=replay)
    with pytest.raises(ApiUnavailableError):
        api.get(path)
    assert api.get(path)["metadata"]["name"] == "j"
    assert api.get(path)["metadata"]["name"] == "j"


def test_a_replayed_watch_yields_each_recorded_event() -> None:
    lines = b'{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"DELETED","object":{}}\n'
    path = "/apis/batch/v1/jobs?watch=true&timeoutSeconds=5"
    api = KubeApi(
        Credentials(server=SERVER), transport=ReplayTransport([Exchange("GET", path, 200, lines)])
    )
    assert [e["type"] for e in api.watch("/apis/batch/v1/jobs", timeout_seconds=5)] == [
        "ADDED",
        "DELETED",
    ]
