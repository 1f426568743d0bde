"""The words Kubernetes (and jobwarden) write on Jobs and Pods: label and annotation keys,
condition types, reasons. Each is defined here once; compare against these names.

Labels come in pairs where Kubernetes renamed them (1.27): the `batch.kubernetes.io/` key
first, the legacy one second; read both, newest first.
"""

from __future__ import annotations

from typing import Final

# -- labels the job controller puts on a Job's pods (and its pod template) --------------
JOB_NAME_LABELS: Final = ("batch.kubernetes.io/job-name", "job-name")
CONTROLLER_UID_LABELS: Final = ("batch.kubernetes.io/controller-uid", "controller-uid")

# -- annotations ---------------------------------------------------------------------
#: On an Indexed Job's pods: the pod's completion index.
JOB_COMPLETION_INDEX: Final = "batch.kubernetes.io/job-completion-index"
#: On a CronJob's Job: the scheduled time it runs for (RFC 3339, in the CronJob's zone).
CRONJOB_SCHEDULED_TIMESTAMP: Final = "batch.kubernetes.io/cronjob-scheduled-timestamp"
#: kubectl's copy of the applied object (dropped from a restarted Job).
LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
#: jobwarden's, on the new Job of a restart (see `jobwarden.actions.restart`).
RESTARTED_FROM: Final = "jobwarden.dev/restarted-from"
RESTARTED_FROM_UID: Final = "jobwarden.dev/restarted-from-uid"
RESTARTED_BY: Final = "jobwarden.dev/restarted-by"
CONFIRMATION: Final = "jobwarden.dev/confirmation"
MEMORY_RAISED: Final = "jobwarden.dev/memory-raised"
#: On the new Job of a restart: the uid of the Job it retries. Set as an annotation (the
#: contract) and as a label of the same key, so that the JobEvent announcing the retry's end
#: carries it (JobEvents carry labels, not annotations) and the failure reporter links the
#: retry's success or failure to the original without reading the cluster first.
RETRY_OF: Final = "jobwarden.dev/retry-of"
#: On a Job or its CronJob (the Job's wins): webhook names, comma-separated, that receive
#: its reports instead of the webhooks whose `match` rules select it.
NOTIFY: Final = "jobwarden.dev/notify"
#: On a Job or its CronJob: "true", or an RFC 3339 time until which its reports are stored
#: and not posted.
SILENCE: Final = "jobwarden.dev/silence"

# -- condition types -------------------------------------------------------------------
# Job
FAILED: Final = "Failed"
COMPLETE: Final = "Complete"
FAILURE_TARGET: Final = "FailureTarget"
SUCCESS_CRITERIA_MET: Final = "SuccessCriteriaMet"
SUSPENDED: Final = "Suspended"
# Pod
POD_SCHEDULED: Final = "PodScheduled"
CONTAINERS_READY: Final = "ContainersReady"
DISRUPTION_TARGET: Final = "DisruptionTarget"

# -- reasons ---------------------------------------------------------------------------
# of a Job's Failed condition (and of the job controller's Warning Events on the Job)
BACKOFF_LIMIT_EXCEEDED: Final = "BackoffLimitExceeded"
DEADLINE_EXCEEDED: Final = "DeadlineExceeded"
POD_FAILURE_POLICY: Final = "PodFailurePolicy"
MAX_FAILED_INDEXES_EXCEEDED: Final = "MaxFailedIndexesExceeded"
FAILED_INDEXES: Final = "FailedIndexes"
JOB_FAILURE_REASONS: Final = frozenset(
    {
        BACKOFF_LIMIT_EXCEEDED,
        DEADLINE_EXCEEDED,
        POD_FAILURE_POLICY,
        MAX_FAILED_INDEXES_EXCEEDED,
        FAILED_INDEXES,
    }
)
#: The job controller's Normal Event on a Job that completed.
COMPLETED: Final = "Completed"
#: The job controller's Normal Event for each pod it creates ("Created pod: <name>").
SUCCESSFUL_CREATE: Final = "SuccessfulCreate"
CREATED_POD_PREFIX: Final = "Created pod: "
#: ... and for each pod it deletes (a deadline, a suspension, a failed Job's active pods).
SUCCESSFUL_DELETE: Final = "SuccessfulDelete"
DELETED_POD_PREFIX: Final = "Deleted pod: "
# of a container's termination
OOM_KILLED: Final = "OOMKilled"
# of a container's waiting state: the ones a pod does not leave on its own
IMAGE_PULL_WAITING: Final = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
CREATE_CONTAINER_CONFIG_ERROR: Final = "CreateContainerConfigError"
CONFIG_WAITING: Final = frozenset(
    {CREATE_CONTAINER_CONFIG_ERROR, "CreateContainerError", "RunContainerError"}
)
CRASH_LOOP_BACK_OFF: Final = "CrashLoopBackOff"
#: Waiting reasons the exporter announces as `stuck` once a pod has waited long enough.
STUCK_WAITING: Final = IMAGE_PULL_WAITING | {CREATE_CONTAINER_CONFIG_ERROR, CRASH_LOOP_BACK_OFF}
# of Events about pods
FAILED_SCHEDULING: Final = "FailedScheduling"
UNSCHEDULABLE: Final = "Unschedulable"
SCHEDULED: Final = "Scheduled"
STARTED: Final = "Started"
OOM_KILLING: Final = "OOMKilling"
EVICTED: Final = "Evicted"
