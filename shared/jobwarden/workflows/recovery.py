"""The failure reporter's `succeeded` transitions: one `recovered` message per ended streak.

`job_failure_reporter` is subscribed to `failed` and to `succeeded` of Jobs a CronJob owns
(`attributes.cronjob`). `handle_failure_reporter_event` sends a failure down the report
spec's straight path (`events.handle_event`) and a success here:

1. a Job that no CronJob owns (as far as the event says) is acknowledged, nothing read;
2. the `recovered` report's id is keyed on the run (`streaks.recovered_report_id`), so a
   redelivery, or the same success announced by kubernetes-event-exporter, finds it stored
   with one read and posts it at most once per webhook (the delivery claims);
3. otherwise the Job and its CronJob are read (`enrich.cron_history`, two calls), and
   `streaks.record_recovery` says which streak of failed runs this success ends: none (a
   success after a success) makes nothing at all; a streak makes one `recovered` report,
   stored and posted like a failure report (same routing).

Other helpers may add `succeeded` handling of their own (a retried Job's outcome, say):
this module is the one place where the failure reporter decides what a success means.
"""

from __future__ import annotations

from jobwarden.enrich import cron_history, get_job
from jobwarden.errors import JobGoneError
from jobwarden.intake import Trigger
from jobwarden.kube.labels import COMPLETE
from jobwarden.kube.objects import JobRef
from jobwarden.runtime import Runtime, job_logger
from jobwarden.sinks.storage import ReportAddress
from jobwarden.workflows.builders import recovered_report
from jobwarden.workflows.events import handle_event, publish, routing_of_cron
from jobwarden.workflows.specs import FAILURE_REPORTER
from jobwarden.workflows.streaks import FAILURE_WORKFLOW, record_recovery, recovered_report_id


def handle_failure_reporter_event(trigger: Trigger, runtime: Runtime) -> str:
    """`job_failure_reporter`'s entry: failures to the report spec, successes to recovery."""
    if trigger.transition == "succeeded":
        return report_recovery(trigger, runtime)
    return handle_event(FAILURE_REPORTER, trigger, runtime)


def report_recovery(trigger: Trigger, runtime: Runtime) -> str:
    """One `recovered` report when a CronJob's run succeeds after failed runs; see above."""
    jlog = job_logger(trigger.cluster, trigger.namespace, trigger.job)
    if not trigger.owner:
        jlog.info(
            "%s ignores event %s: a success is reported only for a CronJob's run "
            "(this event names no CronJob owner)",
            FAILURE_WORKFLOW,
            trigger.event_id,
        )
        return "ignored"
    if trigger.job_uid:
        stored = runtime.store.find_report(_address(trigger, trigger.job_uid))
        if stored is not None:
            return publish(stored, runtime, jlog, already=True)
    api = runtime.clusters.client(trigger.cluster)
    ref = JobRef(trigger.cluster, trigger.namespace, trigger.job, trigger.job_uid)
    try:
        job = get_job(api, ref)
    except JobGoneError as err:
        jlog.warning("%s; no recovered report (its CronJob's runs cannot be read)", err)
        return "job gone"
    if job.condition(COMPLETE) is None:
        jlog.info(
            "event %s: %s has not succeeded (%s); nothing to report",
            trigger.event_id,
            ref,
            job.state,
        )
        return "ignored"
    history = cron_history(api, job)
    if history is None:
        return "ignored"
    if not trigger.job_uid:
        stored = runtime.store.find_report(_address(trigger, job.uid))
        if stored is not None:
            return publish(stored, runtime, jlog, already=True)
    run = record_recovery(runtime.store, cluster=trigger.cluster, job=job, history=history)
    if run is None:
        jlog.info(
            "CronJob %s: run %s succeeded with no failed run before it; nothing to report",
            history.cronjob,
            job.name,
        )
        return "nothing to report"
    report = recovered_report(
        job,
        run,
        cluster=trigger.cluster,
        report_id=recovered_report_id(trigger.cluster, job.uid),
        source_event_id=trigger.event_id,
        now=runtime.clock(),
    )
    report = report.model_copy(update={"routing": routing_of_cron(job, history)})
    return publish(report, runtime, jlog)


def _address(trigger: Trigger, job_uid: str) -> ReportAddress:
    return ReportAddress(
        workflow=FAILURE_WORKFLOW,
        cluster=trigger.cluster,
        namespace=trigger.namespace,
        job=trigger.job,
        job_uid=job_uid,
        report_id=recovered_report_id(trigger.cluster, job_uid),
    )
