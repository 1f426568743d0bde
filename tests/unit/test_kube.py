"""The Kubernetes vocabulary: paths are written in one module, views read the API's JSON."""

from __future__ import annotations

import re
from pathlib import Path

from jobwarden.kube import paths
from jobwarden.kube.events import event_key, event_view

ROOT = Path(__file__).resolve().parents[2]
PATHS_MODULE = ROOT / "shared" / "jobwarden" / "kube" / "paths.py"
# what runs in production: the runtime package, the exporter and the function folders
# (tools/, the development tooling, sets up the clusters the tests talk to: not scanned)
SCANNED = (ROOT / "shared", ROOT / "exporter", ROOT / "functions")
API_PATH_LITERAL = re.compile(r"""["'](/apis?/)""")


def test_no_api_path_string_outside_kube_paths() -> None:
    offenders = []
    for top in SCANNED:
        for file in sorted(top.rglob("*.py")):
            if file == PATHS_MODULE:
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


SCHEDULER_EVENT = {
    "metadata": {"name": "p.17a", "namespace": "batch", "uid": "ev-1"},
    "eventTime": "2026-11-01T10:00:00.123456Z",
    "series": {"count": 4, "lastObservedTime": "2026-11-01T10:05:00.000000Z"},
    "reason": "FailedScheduling",
    "type": "Warning",
    "reportingController": "default-scheduler",
}


def test_an_event_reads_the_same_in_the_core_and_the_events_k8s_io_shape() -> None:
    pod = {"kind": "Pod", "namespace": "batch", "name": "p", "uid": "pod-1"}
    core = event_view({**SCHEDULER_EVENT, "involvedObject": pod, "message": "0/1 nodes"})
    native = event_view({**SCHEDULER_EVENT, "regarding": pod, "note": "0/1 nodes"})
    assert core == native
    assert (core.involved, core.involved_uid, core.message) == ("Pod/p", "pod-1", "0/1 nodes")
    assert (core.count, core.component, core.key) == (4, "default-scheduler", "ev-1")
    assert core.first is not None and core.first.isoformat() == "2026-11-01T10:00:00.123456+00:00"
    assert core.last is not None and core.last.minute == 5
    assert len({core, native}) == 1  # hashable, equal views hash alike


def test_an_event_key_is_its_uid_else_namespace_and_name_with_its_count() -> None:
    assert event_key(SCHEDULER_EVENT) == ("ev-1", 4)
    assert event_key({"metadata": {"namespace": "batch", "name": "e"}}) == ("batch/e", 1)
    assert event_key({"metadata": {}}) == ("", 0)
    assert event_view({"metadata": {"namespace": "batch", "name": "e"}}).key == "batch/e"
