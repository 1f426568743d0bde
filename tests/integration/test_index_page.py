"""The index page (`job_reports`) in a real headless Chromium, served over HTTP, real RBAC.

Reports of three namespaces and two clusters are stored; the caller's token may list
Jobs in one namespace of cluster `local` only. The browser sees exactly that
namespace's Job runs, newest first, each linking to its stored report pages (which
open); filters and paging narrow the rows; the page carries no JavaScript and logs
nothing to the console; a report title full of markup stays text.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from functions_framework import create_app
from werkzeug.serving import make_server

from jobwarden.report import Report
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.browser import chromium, dump_dom
from tests.support.reports import at, oomkilled_report
from tests.support.runtime import make_runtime

ROOT = Path(__file__).resolve().parents[2]
LIST_JOBS = [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["list"]}]
ROW = re.compile(r'<tr class="run[^"]*"[^>]*data-uid="([^"]+)"[^>]*>(.*?)</tr>', re.S)
HREF = re.compile(r'href="([^"]+)"')


def _report(namespace: str, uid: str, minute: int, **change: Any) -> Report:
    base = oomkilled_report(cluster=change.pop("cluster", "local"), uid=uid)
    return base.model_copy(
        update={
            "id": f"{uid}-{change.get('workflow', 'jobFailureReporter')}",
            "namespace": namespace,
            "created_at": at(60 * minute),
            **change,
        }
    )


@pytest.fixture
def runtime(stack: StackInfo, tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(stack, tmp_path / "reports")
    set_default_runtime(rt)
    yield rt
    set_default_runtime(None)


@pytest.fixture
def serve(runtime: Runtime) -> Iterator[Callable[[str], str]]:
    """`job_reports` over real HTTP on loopback, as the caller holding `token` reaches it.

    The browser cannot add a bearer token to a typed URL; the wrapper stands in for what
    does so in front of a real deployment (a proxy, IAP).
    """
    app = create_app("job_reports", str(ROOT / "functions/job_reports/main.py"), "http")
    holder: dict[str, str] = {}

    def with_token(environ: dict[str, Any], start: Any) -> Any:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {holder['token']}"
        return app(environ, start)

    server = make_server("127.0.0.1", 0, with_token, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def url_as(token: str) -> str:
        holder["token"] = token
        return f"http://127.0.0.1:{server.server_port}/"

    yield url_as
    server.shutdown()
    thread.join(5)


def _rows(dom: str) -> dict[str, str]:
    return {uid: cells for uid, cells in ROW.findall(dom)}


def test_the_index_page_shows_the_callers_job_runs_with_working_links_and_filters(
    runtime: Runtime,
    serve: Callable[[str], str],
    namespace: str,
    mint_token: Callable[..., str],
) -> None:
    chromium()  # fail (CI) or skip (no CI) with one line before anything else
    store = runtime.store
    mine = [
        _report(namespace, "run-a", 1),
        _report(namespace, "run-a", 2, workflow="jobInfoEnricher", severity="info", title="a info"),
        _report(namespace, "run-b", 3, title='<script>alert("x")</script> & <b>bold</b>'),
        _report(namespace, "run-c", 5, workflow="jobInfoEnricher", severity="info", title="c ok"),
    ]
    others = [
        _report("someone-elses", "run-x", 4),  # a namespace the caller may not list Jobs in
        _report(namespace, "run-y", 6, cluster="elsewhere"),  # a cluster not configured
    ]
    for report in mine + others:
        store.put_report(report)
    base = serve(mint_token("viewer", LIST_JOBS))

    page = dump_dom(base)
    rows = _rows(page.dom)
    assert list(rows) == ["run-c", "run-b", "run-a"]  # one row per Job run, newest first
    assert "<script" not in page.dom.lower() and not re.search(r"\son\w+=", page.dom)
    assert "javascript:" not in page.dom.lower() and page.console == []
    assert '&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;' in rows["run-b"]
    assert "ERROR" in rows["run-a"] and rows["run-a"].count("<a ") == 2  # worst severity, both

    for uid, cells in rows.items():
        for href in HREF.findall(cells):
            opened = dump_dom(unescape(href))  # each link opens the stored report page
            report = next(r for r in mine if r.job_uid == uid and r.id in href)
            assert report.id in opened.dom and opened.console == []

    assert list(_rows(dump_dom(base + "?severity=info").dom)) == ["run-c", "run-a"]
    assert list(_rows(dump_dom(base + "?" + urlencode({"since": at(150).isoformat()})).dom)) == [
        "run-c",
        "run-b",
    ]
    until = urlencode({"until": at(150).isoformat(), "namespace": namespace})
    assert list(_rows(dump_dom(base + "?" + until).dom)) == ["run-a"]
    first = dump_dom(base + "?runs=2").dom
    assert list(_rows(first)) == ["run-c", "run-b"]
    (older,) = re.findall(r'<a rel="next" href="([^"]+)"', first)
    assert list(_rows(dump_dom(base + unescape(older)).dom)) == ["run-a"]
    assert "elsewhere" not in page.dom and "someone-elses" not in page.dom


def test_a_caller_no_cluster_accepts_gets_401(
    runtime: Runtime, serve: Callable[[str], str]
) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(serve("not-a-token") + "?format=json", timeout=30)  # noqa: S310
    assert refused.value.code == 401
