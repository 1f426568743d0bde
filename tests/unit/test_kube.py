"""The Kubernetes vocabulary: paths are written in one module, views read the API's JSON."""

from __future__ import annotations

import re
from pathlib import Path

from jobwarden.kube import paths

ROOT = Path(__file__).resolve().parents[2]
PATHS_MODULE = ROOT / "shared" / "jobwarden" / "kube" / "paths.py"
# the runtime: the shared package(s) and the edges (exporter, functions); the local-stack
# tooling is dev tooling (it sets up the clusters the tests talk to) and may say what it likes
SCANNED = (ROOT / "shared", ROOT / "exporter", ROOT / "functions")
API_PATH_LITERAL = re.compile(r"""["'](/apis?/)""")


def test_no_api_path_string_outside_kube_paths() -> None:
    offenders = []
    for top in SCANNED:
        for file in sorted(top.rglob("*.py")):
            if file == PATHS_MODULE or "localstack" in file.relative_to(ROOT).parts:
                continue
            for number, line in enumerate(file.read_text().splitlines(), 1):
                if API_PATH_LITERAL.search(line):
                    offenders.append(f"{file.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "API paths belong in jobwarden.kube.paths:\n" + "\n".join(offenders)


def test_scan_sees_the_paths_module_itself() -> None:
    # guards the test above against scanning nothing (a moved tree, a wrong root)
    assert API_PATH_LITERAL.search(PATHS_MODULE.read_text())


def test_collection_paths_are_namespaced_or_cluster_wide() -> None:
    assert paths.jobs("batch") == "/apis/batch/v1/namespaces/batch/jobs"
    assert paths.jobs(None) == paths.jobs("") == "/apis/batch/v1/jobs"
    assert paths.events(None) == "/api/v1/events"
    assert paths.events("batch") == "/api/v1/namespaces/batch/events"
    assert paths.events_k8s_io("batch") == "/apis/events.k8s.io/v1/namespaces/batch/events"


def test_object_paths_name_the_object() -> None:
    assert paths.job("batch", "nightly-1") == "/apis/batch/v1/namespaces/batch/jobs/nightly-1"
    assert paths.cronjob("batch", "nightly") == "/apis/batch/v1/namespaces/batch/cronjobs/nightly"
    assert paths.pod_log("batch", "p-1") == "/api/v1/namespaces/batch/pods/p-1/log"
    assert paths.lease("ops", "exporter") == (
        "/apis/coordination.k8s.io/v1/namespaces/ops/leases/exporter"
    )
    assert paths.pod_metrics("batch") == "/apis/metrics.k8s.io/v1beta1/namespaces/batch/pods"


def test_job_pod_selector_uses_the_controller_uid_label() -> None:
    assert paths.job_pod_selector("u-1") == "batch.kubernetes.io/controller-uid=u-1"
    assert paths.job_pod_selector("u-1", "controller-uid") == "controller-uid=u-1"
