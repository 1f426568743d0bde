"""Failure analysis for causes the local stack cannot produce (evictions, lost nodes, config)."""

from __future__ import annotations

from typing import Any

from jobwarden.enrich import Enrichment, PodReport, phase_times
from jobwarden.failure import analyse
from jobwarden.kube.objects import Job, JobRef, Pod

T0 = "2026-11-01T10:00:00Z"


def job(reason: str = "BackoffLimitExceeded", backoff: int = 3, **spec: Any) -> Job:
    return Job.from_json(
        {
            "metadata": {
                "name": "nightly-1",
                "namespace": "prod",
                "uid": "u1",
                "ownerReferences": [{"kind": "CronJob", "name": "nightly"}],
            },
            "spec": {
                "backoffLimit": backoff,
                **spec,
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "worker",
                                "image": "r.example/w:1",
                                "resources": {"limits": {"memory": "2Gi"}},
                            }
                        ]
                    }
                },
            },
            "status": {
                "startTime": T0,
                "failed": 2,
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": reason,
                        "lastTransitionTime": "2026-11-01T10:10:00Z",
                        "message": "Job has reached the specified backoff limit",
                    }
                ],
            },
        }
    )


def pod(name: str, *, status: dict[str, Any]) -> PodReport:
    p = Pod.from_json(
        {
            "metadata": {"name": name, "namespace": "prod", "uid": name, "creationTimestamp": T0},
            "spec": {"nodeName": "n1"},
            "status": status,
        }
    )
    return PodReport(p, phase_times(p))


def enrichment(j: Job, pods: list[PodReport]) -> Enrichment:
    return Enrichment(JobRef("prod-eu", "prod", j.name, j.uid), j, tuple(pods), (), (), "", 3)


def waiting(reason: str, message: str) -> dict[str, Any]:
    return {
        "phase": "Pending",
        "containerStatuses": [
            {"name": "worker", "state": {"waiting": {"reason": reason, "message": message}}}
        ],
    }


def test_missing_secret_is_a_config_error_naming_it() -> None:
    msg = 'secret "db-creds" not found'
    result = analyse(
        enrichment(job(), [pod("p1", status=waiting("CreateContainerConfigError", msg))])
    )
    assert result.headline.code == "CreateContainerConfigError"
    assert any('secret "db-creds" not found' in s for s in result.headline.next_steps)


def test_eviction_is_explained_with_the_kubelet_message() -> None:
    status = {
        "phase": "Failed",
        "reason": "Evicted",
        "message": "The node was low on resource: memory.",
    }
    result = analyse(enrichment(job(), [pod("p1", status=status), pod("p2", status=status)]))
    assert result.headline.code == "Evicted"
    assert "low on resource: memory" in result.headline.evidence[0]
    assert result.identical_retries is False  # two different pods: titles differ by pod name


def test_lost_node_is_recognised_from_the_disruption_condition() -> None:
    status = {
        "phase": "Failed",
        "conditions": [
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
            }
        ],
    }
    result = analyse(enrichment(job(), [pod("p1", status=status)]))
    assert result.headline.code == "NodeLost"
    assert any("podFailurePolicy" in s for s in result.headline.next_steps)


def test_identical_retries_suggest_lowering_backoff_limit() -> None:
    term = {
        "phase": "Failed",
        "containerStatuses": [
            {
                "name": "worker",
                "state": {
                    "terminated": {
                        "exitCode": 3,
                        "reason": "Error",
                        "startedAt": T0,
                        "finishedAt": T0,
                    }
                },
            }
        ],
    }
    pods = [pod(f"p{i}", status=term) for i in range(4)]
    result = analyse(enrichment(job(backoff=3), pods))
    assert result.identical_retries
    assert "All 4 attempts failed the same way" in result.headline.explanation
    assert any(
        "backoffLimit is 3 but every retry fails identically" in s
        for s in result.headline.next_steps
    )


def test_oom_without_limit_says_to_set_one() -> None:
    j = Job.from_json(
        {
            **job().raw,
            "spec": {"template": {"spec": {"containers": [{"name": "worker", "image": "x"}]}}},
        }
    )
    term = {
        "phase": "Failed",
        "containerStatuses": [
            {"name": "worker", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
        ],
    }
    result = analyse(enrichment(j, [pod("p1", status=term)]))
    assert result.headline.code == "OOMKilled"
    assert "limit none" in result.headline.title
    assert "Set a memory request and limit for container `worker`" in result.headline.next_steps[0]


def test_failed_job_with_no_pods_left_says_so() -> None:
    result = analyse(enrichment(job(), []))
    assert "no pod shows why" in result.headline.title
    assert any("ttlSecondsAfterFinished" in s for s in result.headline.next_steps)


def running_job() -> Job:
    j = job()
    raw = {**j.raw, "status": {"startTime": T0, "active": 1}}
    return Job.from_json(raw)


def test_a_crash_loop_is_named_with_its_restarts_exit_code_and_how_to_read_the_log() -> None:
    crashing = pod(
        "p1",
        status={
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": "worker",
                    "restartCount": 7,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}},
                }
            ],
        },
    )
    result = analyse(enrichment(running_job(), [crashing]))
    assert result.severity == "warning"  # stuck, not failed
    assert result.headline.title == (
        "Container `worker` keeps crashing (CrashLoopBackOff, 7 restarts, last exit code 3)"
    )
    assert result.headline.next_steps[0] == (
        "Read the previous log of `worker` in pod p1 (`kubectl logs p1 -c worker --previous`) "
        "for the error"
    )


def test_unschedulable_steps_follow_what_the_scheduler_said() -> None:
    why = "0/4 nodes are available: 2 Insufficient memory, 2 Insufficient nvidia.com/gpu."
    pending = pod(
        "p1",
        status={
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": why,
                }
            ],
        },
    )
    result = analyse(enrichment(running_job(), [pending]))
    assert result.headline.code == "Unschedulable"
    assert result.headline.title == f"Pod p1 could not be scheduled: {why}"
    assert result.headline.next_steps == (
        "Lower the pod's resource requests (memory, nvidia.com/gpu) or add nodes with that "
        "much free",
    )
    assert result.headline.evidence == (why,)


def test_a_stuck_job_whose_pods_show_nothing_says_so() -> None:
    result = analyse(enrichment(running_job(), [pod("p1", status={"phase": "Running"})]))
    assert result.headline.title == "No pod shows why the Job is not progressing"
