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
4. `failure.analyse` (pure) when the Job failed; for a spec that keeps CronJob streaks (the
   failure reporter) and a CronJob's run, `streaks.record_failure` records the run and
   decides whether it is a follow-up of its streak's first report; then `spec.build` (pure).
5. `store.put_report` (idempotent by id), then `webhooks.deliver` (at most once per
   webhook; a webhook that refuses for good is recorded, and the event is acknowledged)
   to the webhooks `Settings.route` picks from the report: its workflow, cluster,
   namespace and severity, and its `routing` (the Job's labels and jobwarden.dev/notify and
   /silence annotations, over its CronJob's), which the report carries so that a report
   answered from storage is routed the same way without reading the cluster.

A CronJob's `missed` / `no-success` (no Job to read) takes the short line instead: find a
stored report -> build from the event (`spec.alert`) -> store -> post.
"""

from __future__ import annotations

from typing import Any, Literal

from jobwarden.enrich import CronHistory, Enrichment, read
from jobwarden.errors import ConfigError, JobGoneError
from jobwarden.failure import analyse
from jobwarden.intake import Trigger
from jobwarden.jobevent import CRONJOB_TRANSITIONS
from jobwarden.kube.labels import NOTIFY, SILENCE
from jobwarden.kube.objects import Job, JobRef
from jobwarden.redact import redact_mapping
from jobwarden.report import Report, Routing
from jobwarden.runtime import JobLogger, Runtime, job_logger
from jobwarden.sinks.storage import ReportAddress
from jobwarden.sinks.webhooks import deliver, webhooks_for
from jobwarden.workflows.builders import gone_report
from jobwarden.workflows.specs import BuildContext, C, ReportSpec
from jobwarden.workflows.streaks import record_failure

Outcome = Literal["reported", "already reported", "ignored", "job gone"]


def handle_event(spec: ReportSpec[C], trigger: Trigger, runtime: Runtime) -> Outcome:
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
        facts = read(api, ref, spec.needs(cfg))
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
    return publish(_build(spec, cfg, facts, trigger, runtime), runtime, jlog)


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
    spec: ReportSpec[C], cfg: C, facts: Enrichment, trigger: Trigger, runtime: Runtime
) -> Report:
    analysis = analyse(facts) if facts.job.failed_condition else None
    now = runtime.clock()
    cron_run = None
    if spec.streaks and facts.cron is not None and analysis is not None:
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
    )
    report = spec.build(facts, analysis, cfg, ctx)
    return report.model_copy(update={"routing": routing_of(facts)})


def routing_of(facts: Enrichment) -> Routing:
    """What webhook routing needs of the Job: its labels and annotations over its CronJob's
    (when this workflow read the CronJob); never a read of its own. Label values are
    redacted like everything a report carries."""
    return routing_of_cron(facts.job, facts.cron)


def routing_of_cron(job: Job, cron: CronHistory | None) -> Routing:
    """`routing_of` from the Job and what was read of its CronJob (None: not read)."""
    labels = redact_mapping({**(cron.labels if cron else {}), **job.labels})
    annotations = {**(cron.annotations if cron else {}), **job.annotations}
    notify = annotations.get(NOTIFY)
    return Routing(
        labels={k: str(v) for k, v in labels.items()},
        notify=[n.strip() for n in notify.split(",") if n.strip()] if notify is not None else None,
        silence=annotations.get(SILENCE),
    )


def publish(report: Report, runtime: Runtime, jlog: JobLogger, *, already: bool = False) -> Outcome:
    """Store `report` (a no-op when stored) and post it where it is routed (once each)."""
    result = runtime.store.put_report(report)
    already = already or not result.stored
    route = runtime.settings.route(report, runtime.clock())
    if route.unknown:
        jlog.warning(
            "%s names webhooks that are not configured: %s (ignored)",
            NOTIFY,
            ", ".join(route.unknown[:5]),
        )
    try:
        hooks = webhooks_for(route.webhooks, runtime.env)
    except ConfigError as err:
        jlog.error("report %s stored, but webhooks are misconfigured: %s", report.id, err)
        return "already reported" if already else "reported"
    deliveries = deliver(report, hooks, runtime.store, report_url=result.url)
    sent = [d.webhook for d in deliveries if d.status == "delivered"]
    refused = [f"{d.webhook} ({d.http_status})" for d in deliveries if d.status == "refused"]
    jlog.info(
        "%s report %s %s at %s%s%s%s",
        report.workflow,
        report.id,
        "already stored" if already else "stored",
        result.key,
        f"; posted to {', '.join(sent)}" if sent else "",
        f"; refused for good by {', '.join(refused)} (recorded, not retried)" if refused else "",
        f"; not posted: silenced by {SILENCE}" if route.silenced else "",
    )
    return "already reported" if already else "reported"
