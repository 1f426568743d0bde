"""The pages of `jobwarden watch` in a real headless Chromium, and its HTTP functions.

`jobwarden watch` serves the reports index and each report on its port, and the on-demand
report, restart and delete contracts of the functions, with their authentication: the
browser reaches it through a small proxy that adds the caller's bearer token (a browser
cannot add one to a typed URL; in front of a real deployment a proxy or IAP does it), and
`--url` makes the report links point through that proxy.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.browser import chromium, dump_dom
from tests.support.kube import job_manifest
from tests.support.watch import WatchProcess

pytestmark = pytest.mark.stack
OPERATOR = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "create", "delete"]},
    {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]
HREF = re.compile(r'href="([^"]*/files/[^"]+\.html)"')


class TokenProxy:
    """Forwards GETs to `upstream` with `Authorization: Bearer <token>` added."""

    def __init__(self) -> None:
        self.upstream = ""
        self.token = ""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                request = urllib.request.Request(  # noqa: S310 - the test's own loopback URL
                    proxy.upstream.rstrip("/") + self.path,
                    headers={"Authorization": f"Bearer {proxy.token}"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
                        status, body, kind = answer.status, answer.read(), answer.headers
                except urllib.error.HTTPError as err:
                    status, body, kind = err.code, err.read(), err.headers
                self.send_response(status)
                self.send_header("Content-Type", kind.get("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy() -> Iterator[TokenProxy]:
    p = TokenProxy()
    yield p
    p.stop()


def _post(url: str, body: Any, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_watch_serves_the_index_and_each_report_to_a_browser_with_the_callers_rights(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    tmp_path: Path,
    mint_token: Callable[..., str],
    proxy: TokenProxy,
) -> None:
    chromium()  # skip (or fail in CI) before starting anything when there is no browser
    proc = WatchProcess(
        ["--kubeconfig", stack.kubeconfig, "--namespace", namespace, "--port", "0",
         "--reports", str(tmp_path / "reports"), "--url", proxy.url],
        env={"KUBECONFIG": "", "JOBWARDEN_CONFIRM_SECRET": "0123456789abcdef" * 4},
    )  # fmt: skip
    try:
        proxy.upstream = proc.started()
        proxy.token = mint_token("ops", OPERATOR)
        admin.create(
            f"/apis/batch/v1/namespaces/{namespace}/jobs",
            job_manifest("etl", outcome="oomkill"),
        )
        proc.wait_line(lambda ln: f"/{namespace}/etl  jobFailureReporter" in ln)
        proc.wait_line(lambda ln: f"/{namespace}/etl  jobPodEnricher" in ln)

        page = dump_dom(proxy.url)
        assert page.console == []
        text = unescape(re.sub(r"<[^>]+>", " ", page.dom))
        assert "etl" in text and "OOMKilled" in text
        links = HREF.findall(page.dom)
        assert links and all(link.startswith(proxy.url + "files/local/") for link in links)
        failure = next(link for link in links if "/jobFailureReporter/" in link)
        report = dump_dom(unescape(failure))
        assert "OOMKilled" in report.dom and "Next steps" in unescape(report.dom)

        with urllib.request.urlopen(proxy.upstream + "healthz", timeout=30) as health:  # noqa: S310
            assert health.read().decode().startswith("ok: local: watching")

        # without the proxy, no token: the same 401 as the function
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(proxy.upstream, timeout=30)  # noqa: S310
        assert refused.value.code == 401

        # an on-demand report and the restart contract, as the functions answer them
        target = {"cluster": "local", "namespace": namespace, "name": "etl"}
        status, body = _post(proxy.upstream + "job_pod_enricher_http", target, proxy.token)
        assert status == 200 and body["workflow"] == "jobPodEnricher", body
        status, plan = _post(proxy.upstream + "job_restart", target, proxy.token)
        assert status == 200 and plan["status"] == "confirmation_required", plan
        assert plan["plan"]["newName"] == "etl-retry-1"
        status, body = _post(proxy.upstream + "job_delete", target, None)
        assert status == 401 and body["code"], body
    finally:
        proc.stop()
