"""The new Job of a restart: cleaned of what the system set, renamed, memory raised after OOM."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jobwarden.actions.common import BadRequestError, parse_request
from jobwarden.actions.newjob import base_name, clean_manifest, next_name, raise_memory
from jobwarden.config import RestartConfig

UID = "0f0e-uid"
OLD: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {
        "name": "nightly-28744",
        "namespace": "batch",
        "uid": UID,
        "resourceVersion": "4711",
        "generation": 1,
        "creationTimestamp": "2025-03-01T00:00:00Z",
        "managedFields": [{"manager": "kube-controller-manager"}],
        "labels": {
            "team": "data",
            "batch.kubernetes.io/controller-uid": UID,
            "controller-uid": UID,
            "batch.kubernetes.io/job-name": "nightly-28744",
            "job-name": "nightly-28744",
        },
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{...}",
            "owner": "data-team",
        },
        "ownerReferences": [
            {"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly", "uid": "c1"},
            {"apiVersion": "x/v1", "kind": "Workflow", "name": "wf", "uid": "w1"},
        ],
    },
    "spec": {
        "backoffLimit": 0,
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}},
        "template": {
            "metadata": {
                "labels": {
                    "app": "etl",
                    "batch.kubernetes.io/controller-uid": UID,
                    "controller-uid": UID,
                    "batch.kubernetes.io/job-name": "nightly-28744",
                    "job-name": "nightly-28744",
                }
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "worker",
                        "image": "r/w:1",
                        "resources": {
                            "requests": {"memory": "256Mi"},
                            "limits": {"memory": "512Mi"},
                        },
                    },
                    {"name": "sidecar", "image": "r/s:1"},
                ],
            },
        },
    },
    "status": {"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]},
}


def oom_pod(container: str = "worker", resources: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "nightly-28744-abcde"},
        "spec": {"containers": [{"name": container, "resources": resources or {}}]},
        "status": {
            "containerStatuses": [
                {"name": container, "state": {"terminated": {"reason": "OOMKilled"}}},
                {"name": "sidecar", "state": {"terminated": {"reason": "Completed"}}},
            ]
        },
    }


def test_clean_manifest_strips_what_the_system_set_and_keeps_the_cronjob_owner() -> None:
    new = clean_manifest(OLD, new_name="nightly-28744-retry-1")
    meta = new["metadata"]
    assert meta["name"] == "nightly-28744-retry-1"
    for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"):
        assert key not in meta
    assert meta["labels"] == {"team": "data"}
    assert meta["annotations"] == {"owner": "data-team"}
    assert [o["kind"] for o in meta["ownerReferences"]] == ["CronJob"]
    assert "status" not in new and "selector" not in new["spec"]
    assert new["spec"]["template"]["metadata"]["labels"] == {"app": "etl"}
    assert OLD["metadata"]["labels"]["job-name"] == "nightly-28744"  # the input is not changed


@pytest.mark.parametrize(
    ("old", "taken", "expected"),
    [
        ("etl", set(), "etl-retry-1"),
        ("etl", {"etl-retry-1"}, "etl-retry-2"),
        ("etl-retry-1", {"etl", "etl-retry-1"}, "etl-retry-2"),
        ("a" * 63, set(), "a" * 55 + "-retry-1"),
        ("ab-" + "c" * 60, set(), "ab-" + "c" * 52 + "-retry-1"),
    ],
)
def test_new_name_counts_restarts_from_the_original_and_fits_63(
    old: str, taken: set[str], expected: str
) -> None:
    name = next_name(old, "{name}-retry-{n}", taken)
    assert name == expected and len(name) <= 63


def test_base_name_of_a_custom_pattern() -> None:
    assert base_name("rerun-7-of-etl", "rerun-{n}-of-{name}") == "etl"
    assert next_name("rerun-7-of-etl", "rerun-{n}-of-{name}", set()) == "rerun-1-of-etl"


def test_memory_of_the_oomkilled_container_grows_by_the_step() -> None:
    new = clean_manifest(OLD, new_name="x")
    changes = raise_memory(new, [oom_pod()], RestartConfig(), "batch/nightly-28744")
    worker, sidecar = new["spec"]["template"]["spec"]["containers"]
    assert worker["resources"] == {"requests": {"memory": "384Mi"}, "limits": {"memory": "768Mi"}}
    assert "resources" not in sidecar
    assert [(c.field, c.before, c.after) for c in changes] == [
        ("limit", "512Mi", "768Mi"),
        ("request", "256Mi", "384Mi"),
    ]


def test_memory_is_capped_and_refused_at_the_cap() -> None:
    cfg = RestartConfig(memory_step="2x", memory_cap="640Mi")
    new = clean_manifest(OLD, new_name="x")
    raise_memory(new, [oom_pod()], cfg, "batch/nightly-28744")
    assert new["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "memory": "640Mi"
    }
    again = copy.deepcopy(new)
    with pytest.raises(BadRequestError, match=r"already has memory limit 640Mi.*memoryCap 640Mi"):
        raise_memory(again, [oom_pod()], cfg, "batch/nightly-28744")


def test_memory_base_is_what_the_pod_ran_with_when_the_template_sets_none() -> None:
    new = clean_manifest(OLD, new_name="x")
    new["spec"]["template"]["spec"]["containers"][0].pop("resources")
    ran = {"limits": {"memory": "1Gi"}}  # a LimitRange default
    raise_memory(new, [oom_pod(resources=ran)], RestartConfig(), "batch/nightly-28744")
    resources = new["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {"memory": "1536Mi"}}


def test_increase_memory_without_an_oomkill_is_refused() -> None:
    new = clean_manifest(OLD, new_name="x")
    pod = oom_pod()
    pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] = "Error"
    with pytest.raises(BadRequestError, match="no container of job batch/nightly-28744"):
        raise_memory(new, [pod], RestartConfig(), "batch/nightly-28744")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (None, "not a JSON object"),
        ({"cluster": "a", "namespace": "b"}, "`name` must be a non-empty string"),
        ({"cluster": "a", "namespace": "../x", "name": "j"}, "not a Kubernetes namespace"),
        ({"cluster": "a", "namespace": "b", "name": "j", "force": True}, "unknown key(s) 'force'"),
        ({"cluster": "a", "namespace": "b", "name": "j", "dryRun": "yes"}, "`dryRun` must be"),
        (
            {"cluster": "a", "namespace": "b", "name": "j", "propagationPolicy": "orphan"},
            "is not one of Background, Foreground, Orphan",
        ),
    ],
)
def test_malformed_requests_name_the_offending_key(body: object, words: str) -> None:
    with pytest.raises(BadRequestError) as info:
        parse_request("delete", body)
    assert words in str(info.value)


def test_orphan_is_never_a_default() -> None:
    plain = parse_request("delete", {"cluster": "a", "namespace": "b", "name": "j"})
    assert plain.effective_options() == {"propagationPolicy": "Background"}
    assert plain.options == {}
