"""A pod that cannot pull its image is announced `stuck` within `exporter.stuckPodAfter`,
deadline or not, and the failure reporter's report on it names the image pull and what
to do: the real exporter on the real stack, the message pulled from the Pub/Sub
emulator, the report made by the function from the real cluster."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from functions_framework import create_app

from jobwarden.kubeapi import KubeApi
from jobwarden.runtime import set_default_runtime
from jobwarden_dev.localstack.stack import StackInfo
from jobwarden_exporter.service import Exporter
from tests.support.events import eventarc
from tests.support.exporter import Inbox, make_exporter
from tests.support.kube import job_manifest
from tests.support.runtime import make_runtime

ROOT = Path(__file__).resolve().parents[2]
JOBS = "/apis/batch/v1/namespaces/{ns}/jobs"
IMAGE = "registry.example/batch/feed:2.0"


def test_an_image_pull_under_a_long_deadline_is_stuck_within_stuck_pod_after_and_reported(
    stack: StackInfo,
    admin: KubeApi,
    namespace: str,
    topic: tuple[str, Inbox],
    tmp_path: Path,
) -> None:
    path, inbox = topic
    stuck_pod_after = dt.timedelta(seconds=4)
    exporter: Exporter = make_exporter(
        admin, path, namespace, stuck_after=dt.timedelta(hours=1), stuck_pod_after=stuck_pod_after
    ).start()
    try:
        assert exporter.wait_synced(30), exporter.health()
        manifest = job_manifest(
            "fetch",
            outcome="imagepull",
            containers=[{"name": "feed", "image": IMAGE, "command": ["fetch"]}],
            activeDeadlineSeconds=6 * 3600,  # would be silent for 6 hours without the pod watch
        )
        created = time.monotonic()
        admin.create(JOBS.format(ns=namespace), manifest)
        inbox.wait_for_jobs({"fetch": "stuck"}, timeout=90)
        waited = time.monotonic() - created
        inbox.settle(3)
    finally:
        exporter.stop(timeout=2)

    (stuck,) = inbox.of("fetch", "stuck")  # once per Job
    assert stuck.attributes["reason"] == "ImagePullBackOff"
    assert "(container feed) waiting in ImagePullBackOff for " in stuck.data["message"]
    assert f'Back-off pulling image "{IMAGE}"' in stuck.data["message"]
    # API times are whole seconds, so the wait the exporter counts starts up to 1s early
    assert stuck_pod_after.total_seconds() - 1 <= waited < 60  # not the 1h stuckAfter, nor 6h

    runtime = make_runtime(stack, tmp_path / "reports")
    set_default_runtime(runtime)
    try:
        app = create_app(
            "job_failure_reporter",
            str(ROOT / "functions" / "job_failure_reporter" / "main.py"),
            "cloudevent",
        ).test_client()
        attributes = {k: v for k, v in stuck.attributes.items() if not k.startswith("ce-")}
        headers, body = eventarc(
            json.dumps(stuck.data).encode(), message_id="stuck-1", attributes=attributes
        )
        assert app.post("/", headers=headers, data=body).status_code == 200
    finally:
        set_default_runtime(None)
    (report_file,) = (tmp_path / "reports").rglob("jobFailureReporter/*.md")
    text = report_file.read_text()
    assert text.startswith(
        f"# ⚠️ Job {namespace}/fetch is stuck: Image `{IMAGE}` of container `feed` could not "
        "be pulled (ImagePullBackOff)"
    )
    assert f"- Check that `{IMAGE}` exists (name and tag)" in text
    assert "imagePullSecrets" in text


def test_an_unschedulable_pod_is_stuck_with_the_schedulers_words_and_a_short_wait_is_not(
    admin: KubeApi, namespace: str, topic: tuple[str, Inbox]
) -> None:
    path, inbox = topic
    exporter = make_exporter(
        admin, path, namespace, stuck_pod_after=dt.timedelta(seconds=3)
    ).start()
    try:
        assert exporter.wait_synced(30), exporter.health()
        admin.create(
            JOBS.format(ns=namespace),
            job_manifest("train", node_selector={"cloud.example/gpu": "a100"}),
        )
        admin.create(JOBS.format(ns=namespace), job_manifest("quick", after=1))
        inbox.wait_for_jobs({"train": "stuck", "quick": "succeeded"}, timeout=90)
        inbox.settle(3)
    finally:
        exporter.stop(timeout=2)
    (stuck,) = inbox.of("train", "stuck")
    assert stuck.attributes["reason"] == "Unschedulable"
    assert stuck.data["message"].startswith("pod train-")
    assert "didn't match Pod's node affinity/selector" in stuck.data["message"]
    assert not inbox.of("quick", "stuck")  # a pod that starts on its own is never stuck
