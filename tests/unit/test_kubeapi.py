"""The JSON client maps API answers onto jobwarden's error tree, naming the request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobwarden.errors import (
    ApiUnavailableError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PermanentError,
    TemporaryError,
)
from jobwarden.kubeapi import Credentials, KubeApi
from jobwarden_dev.localstack.processes import free_ports

STATUS_FOR_PATH = {"/missing": 404, "/forbidden": 403, "/conflict": 409, "/busy": 429, "/down": 503}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = STATUS_FOR_PATH.get(self.path.split("?")[0], 200)
        if status == 200:
            body = {
                "kind": "Job",
                "metadata": {"name": "ok"},
                "path": self.path,
                "auth": self.headers.get("Authorization"),
            }
        else:
            body = {"kind": "Status", "reason": "Because", "message": f"no ({status})"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_get_returns_json_and_sends_bearer_token(server: str) -> None:
    api = KubeApi(Credentials(server=server, token="s3cret"))
    body = api.get("/apis/batch/v1/namespaces/a/jobs/ok", limit=5, watch=False)
    assert body["metadata"]["name"] == "ok"
    assert body["auth"] == "Bearer s3cret"
    assert body["path"] == "/apis/batch/v1/namespaces/a/jobs/ok?limit=5&watch=false"


@pytest.mark.parametrize(
    ("path", "error", "family"),
    [
        ("/missing", NotFoundError, PermanentError),
        ("/forbidden", ForbiddenError, PermanentError),
        ("/conflict", ConflictError, PermanentError),
        ("/busy", ApiUnavailableError, TemporaryError),
        ("/down", ApiUnavailableError, TemporaryError),
    ],
)
def test_error_statuses_map_to_typed_errors_naming_the_request(
    server: str, path: str, error: type[Exception], family: type[Exception]
) -> None:
    api = KubeApi(Credentials(server=server))
    with pytest.raises(error) as info:
        api.get(path)
    assert isinstance(info.value, family)
    assert f"GET {path}" in str(info.value)
    assert "no (" in str(info.value)


def test_unreachable_server_is_temporary_and_says_where() -> None:
    (port,) = free_ports(1)
    api = KubeApi(Credentials(server=f"http://127.0.0.1:{port}"))
    with pytest.raises(ApiUnavailableError) as info:
        api.get("/version")
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "cannot reach" in str(info.value)


def test_credentials_never_print_the_token() -> None:
    creds = Credentials(server="https://k", token="very-secret-token")
    assert "very-secret-token" not in repr(creds)
    assert "very-secret-token" not in str(creds)
