"""One event, one report workflow, in a straight line.

    find a stored report -> read the cluster once -> analyse -> build (pure) -> store -> post

The edge (`jobwarden.edge`) has already decoded the CloudEvent into a `Trigger` and checked
that the workflow is enabled; it turns what this raises into ack or retry. Here:

1. `spec.ignores(trigger)`: a transition this workflow does not report on is acknowledged.
2. The report id is deterministic (`spec.report_id`). When the trigger names the Job's uid,
   one store call answers a redelivery (or an exporter restart's re-announcement) without
   reading the cluster; otherwise the uid comes from the read and the same one call follows.
3. `enrich.read` reads everything the spec needs in one go (Job, pods, events, logs,
   CronJob history). A Job already deleted gets a report of what its event carried.
4. `failure.analyse` (pure) when the Job failed or is stuck (announced so, or a pod waits
   in a state that will not fix itself); for a spec that keeps CronJob streaks (the
   failure reporter) and a CronJob's failed run, `streaks.record_failure` records the run
   and decides whether it is a follow-up of its streak's first report; then `spec.build`
   (pure; a spec that `wants_history` gets the Job family's recorded runs from the
   `history` lookup).
5. `jobwarden.publish`: `store.put_report` (idempotent by id), then `webhooks.deliver`
   (at most once per webhook; a webhook that refuses for good is recorded, and the event
   is acknowledged) to the webhooks `Settings.route` picks from the report: its workflow, cluster,
   namespace and severity, and its `routing` (the Job's labels and jobwarden.dev/notify and
   /silence annotations, over its CronJob's), which the report carries so that a report
   answered from storage is routed the same way without reading the cluster.

A CronJob's `missed` / `no-success` (no Job to read) takes the short line instead: find a
stored report -> build from the event (`spec.alert`) -> store -> post.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from jobwarden.enrich import Enrichment, read
from jobwarden.errors import JobGoneError
from jobwarden.failure import analyse, needs_analysis
from jobwarden.history import FamilyHistory
from jobwarden.intake import Trigger
from jobwarden.jobevent import CRONJOB_TRANSITIONS
from jobwarden.kube.objects import JobRef
from jobwarden.publish import publish, routing_of
from jobwarden.redact import redact_mapping
from jobwarden.report import Report, Routing
from jobwarden.runtime import JobLogger, Runtime, job_logger
from jobwarden.sinks.storage import ReportAddress
from jobwarden.workflows.builders import gone_report
from jobwarden.workflows.specs import BuildContext, C, ReportSpec
from jobwarden.workflows.streaks import record_failure

Outcome = Literal["reported", "already reported", "ignored", "job gone"]


#: The Job family's recorded history, for specs that quote it (`ReportSpec.wants_history`);
#: the edge passes `jobwarden.performance.history.history_of` (this package may not import it).
HistoryLookup = Callable[[Runtime, Enrichment], FamilyHistory | None]


def handle_event(
    spec: ReportSpec[C], trigger: Trigger, runtime: Runtime, history: HistoryLookup | None = None
) -> Outcome:
    """Report on `trigger` with `spec`; see the module docstring. Raises to be retried."""
    cfg = spec.config(runtime.settings.workflows.job_workflows)
    jlog = job_logger(trigger.cluster, trigger.namespace, trigger.job)
    why = spec.ignores(trigger, cfg)
    if why:
        jlog.info("%s ignores event %s: %s", spec.name, trigger.event_id, why)
        return "ignored"
    if trigger.transition in CRONJOB_TRANSITIONS and spec.alert is not None:
        return _cronjob_alert(spec, cfg, trigger, runtime, jlog)
    if trigger.job_uid:
        stored = runtime.store.find_report(_address(spec, trigger, trigger.job_uid))
        if stored is not None:
            return publish(stored, runtime, jlog, already=True)
    api = runtime.clusters.client(trigger.cluster)
    ref = JobRef(trigger.cluster, trigger.namespace, trigger.job, trigger.job_uid)
    try:
        facts = read(api, ref, spec.needs(cfg), runtime.usage_source(trigger.cluster))
    except JobGoneError as err:
        jlog.warning("%s", err)
        uid = trigger.job_uid or "unknown-uid"
        rid = spec.report_id(trigger, uid)
        report = gone_report(spec.name, trigger, report_id=rid, now=runtime.clock())
        labels = redact_mapping(trigger.labels)
        routing = Routing(labels={k: str(v) for k, v in labels.items()})
        report = report.model_copy(update={"routing": routing})
        publish(report, runtime, jlog)
        return "job gone"
    if not trigger.job_uid:
        stored = runtime.store.find_report(_address(spec, trigger, facts.job.uid))
        if stored is not None:
            return publish(stored, runtime, jlog, already=True)
    return publish(_build(spec, cfg, facts, trigger, runtime, history), runtime, jlog)


def _cronjob_alert(
    spec: ReportSpec[C], cfg: C, trigger: Trigger, runtime: Runtime, jlog: JobLogger
) -> Outcome:
    """A CronJob transition: the report is built from the event, without the cluster."""
    assert spec.alert is not None
    uid = trigger.job_uid or "unknown-uid"
    stored = runtime.store.find_report(_address(spec, trigger, uid))
    if stored is not None:
        return publish(stored, runtime, jlog, already=True)
    ctx = BuildContext(
        report_id=spec.report_id(trigger, uid),
        source_event_id=trigger.event_id,
        now=runtime.clock(),
    )
    return publish(spec.alert(trigger, cfg, ctx), runtime, jlog)


def _address(spec: ReportSpec[Any], trigger: Trigger, job_uid: str) -> ReportAddress:
    return ReportAddress(
        workflow=spec.name,
        cluster=trigger.cluster,
        namespace=trigger.namespace,
        job=trigger.job,
        job_uid=job_uid,
        report_id=spec.report_id(trigger, job_uid),
    )


def _build(
    spec: ReportSpec[C],
    cfg: C,
    facts: Enrichment,
    trigger: Trigger,
    runtime: Runtime,
    history: HistoryLookup | None = None,
) -> Report:
    stuck = trigger.transition == "stuck"
    analysis = analyse(facts) if stuck or needs_analysis(facts) else None
    now = runtime.clock()
    cron_run = None
    failed = facts.job.failed_condition is not None
    if spec.streaks and facts.cron is not None and analysis is not None and failed:
        cron_run = record_failure(
            runtime.store,
            cluster=trigger.cluster,
            job=facts.job,
            history=facts.cron,
            cause=analysis.headline,
            cause_title=analysis.headline.title,
            now=now,
        )
    ctx = BuildContext(
        report_id=spec.report_id(trigger, facts.job.uid),
        source_event_id=trigger.event_id,
        now=now,
        cron_run=cron_run,
        history=history(runtime, facts) if history and spec.wants_history else None,
        restart_url=runtime.settings.restart.url,
    )
    report = spec.build(facts, analysis, cfg, ctx)
    return report.model_copy(update={"routing": routing_of(facts)})
