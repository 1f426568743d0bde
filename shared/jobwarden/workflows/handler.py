"""The shared path of every event-triggered report workflow.

decode the trigger -> honour `enabled` -> read the Job's live state -> build the report
once (its id is deterministic, so a redelivery finds it stored) -> store -> deliver to
the routed webhooks (at most once each). Malformed input and permanent problems are
logged with the event id and acknowledged; temporary ones raise so the platform retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

from jobwarden.cluster import UnknownClusterError
from jobwarden.enrich import Enrichment, JobGoneError, cron_history, enrich
from jobwarden.errors import ConfigError, PermanentError, TemporaryError
from jobwarden.failure import analyse
from jobwarden.intake import MalformedEventError, Trigger, parse_cloudevent
from jobwarden.kube.objects import JobRef
from jobwarden.report import Report, report_id
from jobwarden.runtime import Runtime, job_logger
from jobwarden.workflows import builders

log = logging.getLogger("jobwarden")

ReportWorkflow = Literal[
    "jobFailureReporter", "jobInfoEnricher", "jobEventsEnricher", "jobPodEnricher"
]
Outcome = Literal[
    "reported", "already reported", "disabled", "malformed", "ignored", "job gone", "rejected"
]


def _config(runtime: Runtime, workflow: ReportWorkflow) -> Any:
    flows = runtime.settings.workflows.job_workflows
    return {
        "jobFailureReporter": flows.job_failure_reporter,
        "jobInfoEnricher": flows.job_info_enricher,
        "jobEventsEnricher": flows.job_events_enricher,
        "jobPodEnricher": flows.job_pod_enricher,
    }[workflow]


def relevant(workflow: ReportWorkflow, trigger: Trigger, cfg: Any) -> str | None:
    """Why this workflow ignores the trigger, or None if it handles it."""
    if workflow == "jobFailureReporter" and trigger.transition != "failed":
        return f"the failure reporter only reports failed Jobs (got {trigger.transition})"
    if workflow == "jobEventsEnricher" and trigger.transition == "event":
        kind = trigger.k8s_event.type if trigger.k8s_event else ""
        if kind not in cfg.event_types:
            return f"{kind or 'untyped'} events are not in eventTypes {cfg.event_types}"
    return None


def build(
    workflow: ReportWorkflow,
    e: Enrichment,
    cfg: Any,
    rid: str,
    trigger: Trigger,
    runtime: Runtime,
) -> Report:
    now, source = runtime.clock(), trigger.event_id
    if workflow == "jobFailureReporter":
        api = runtime.clusters.client(trigger.cluster)
        return builders.failure_report(
            e,
            analyse(e),
            report_id=rid,
            source_event_id=source,
            now=now,
            include_logs=cfg.include_logs,
            include_events=cfg.include_events,
            cron=cron_history(api, e.job),
        )
    if workflow == "jobInfoEnricher":
        analysis = analyse(e) if e.job.failed_condition else None
        return builders.info_report(
            e,
            report_id=rid,
            source_event_id=source,
            now=now,
            show_details=cfg.show_details,
            analysis=analysis,
        )
    if workflow == "jobEventsEnricher":
        return builders.events_report(e, report_id=rid, source_event_id=source, now=now)
    return builders.pods_report(
        e, report_id=rid, source_event_id=source, now=now, include_logs=cfg.include_logs
    )


def enrich_for(workflow: ReportWorkflow, runtime: Runtime, ref: JobRef, cfg: Any) -> Enrichment:
    api = runtime.clusters.client(ref.cluster)
    if workflow == "jobFailureReporter":
        return enrich(api, ref, include_logs=cfg.include_logs, include_events=True)
    if workflow == "jobInfoEnricher":
        return enrich(api, ref, include_logs=False, include_usage=False)
    if workflow == "jobEventsEnricher":
        return enrich(
            api, ref, include_logs=False, include_usage=False, event_types=cfg.event_types
        )
    return enrich(api, ref, include_logs=cfg.include_logs)


def source_key(workflow: ReportWorkflow, trigger: Trigger, job_uid: str) -> str:
    """What makes two events 'the same' for this workflow's report.

    A failed Job is reported once whoever announced it (our exporter or
    kubernetes-event-exporter, any number of redeliveries): key on the Job's uid.
    The enrichers report once per event.
    """
    if workflow == "jobFailureReporter":
        return f"{trigger.cluster}/{job_uid}/failed"
    return trigger.event_id


def gone_report(workflow: ReportWorkflow, trigger: Trigger, runtime: Runtime) -> Report:
    """What can be said of a Job deleted before it could be read: what the event carried."""
    uid = trigger.job_uid or "unknown-uid"
    rid = report_id(source_key(workflow, trigger, uid), workflow)
    what = f"{trigger.reason}: {trigger.message}".strip(": ") or trigger.transition
    return Report.model_validate(
        {
            "id": rid,
            "workflow": workflow,
            "cluster": trigger.cluster,
            "namespace": trigger.namespace,
            "job": trigger.job,
            "job_uid": trigger.job_uid or "",
            "created_at": runtime.clock(),
            "severity": "error" if trigger.transition == "failed" else "warning",
            "title": f"Job {trigger.namespace}/{trigger.job} {trigger.transition} "
            f"({trigger.reason or '-'}); it was deleted before jobwarden could read it",
            "summary": f"{what}. Keep finished Jobs longer (ttlSecondsAfterFinished) to get pods, "
            "logs and events in this report.",
            "blocks": [
                {"type": "markdown", "text": f"**Event**: `{what}` (id {trigger.event_id})"}
            ],
            "source_event_id": trigger.event_id,
        }
    )


def handle_event(
    workflow: ReportWorkflow,
    attributes: Mapping[str, Any],
    data: Any,
    runtime: Runtime,
    *,
    webhooks: Callable[[ReportWorkflow, Runtime], list[Any]] | None = None,
) -> Outcome:
    """Handle one delivery of one event for one report workflow; see the module docstring."""
    event_id = str(attributes.get("id", "?"))
    cfg = _config(runtime, workflow)
    if not cfg.enabled:
        log.info("%s is disabled in the configuration; event %s acknowledged", workflow, event_id)
        return "disabled"
    try:
        trigger = parse_cloudevent(attributes, data)
    except MalformedEventError as err:
        log.error("%s: acknowledged a malformed event: %s", workflow, err)
        return "malformed"
    jlog = job_logger(trigger.cluster, trigger.namespace, trigger.job)
    why = relevant(workflow, trigger, cfg)
    if why:
        jlog.info("%s ignores event %s: %s", workflow, trigger.event_id, why)
        return "ignored"
    try:
        return _report(workflow, trigger, runtime, cfg, jlog, webhooks)
    except TemporaryError as err:
        # one clear line naming the Job and the event; raising asks the platform to retry
        jlog.warning(
            "%s: event %s will be retried (temporary failure): %s",
            workflow,
            trigger.event_id,
            err,
        )
        raise


def _report(
    workflow: ReportWorkflow,
    trigger: Trigger,
    runtime: Runtime,
    cfg: Any,
    jlog: logging.LoggerAdapter[logging.Logger],
    webhooks: Callable[[ReportWorkflow, Runtime], list[Any]] | None,
) -> Outcome:
    if trigger.job_uid:
        # A redelivery, or the same failure announced again (an exporter restart republishes
        # every finished Job): answer from storage without reading the cluster at all.
        rid = report_id(source_key(workflow, trigger, trigger.job_uid), workflow)
        key = _key(trigger.cluster, trigger.namespace, trigger.job, trigger.job_uid, workflow, rid)
        stored = runtime.store.get_report(key)
        if stored is not None:
            return _publish(stored, runtime, jlog, webhooks, already=True)
    ref = JobRef(trigger.cluster, trigger.namespace, trigger.job, trigger.job_uid)
    try:
        enrichment = enrich_for(workflow, runtime, ref, cfg)
    except JobGoneError as err:
        jlog.warning("%s", err)
        report = gone_report(workflow, trigger, runtime)
        return _publish(report, runtime, jlog, webhooks, gone=True)
    except (UnknownClusterError, PermanentError) as err:
        jlog.error("%s: event %s acknowledged, not reported: %s", workflow, trigger.event_id, err)
        return "rejected"
    rid = report_id(source_key(workflow, trigger, enrichment.job.uid), workflow)
    e = enrichment
    stored = runtime.store.get_report(
        _key(e.ref.cluster, e.job.namespace, e.job.name, e.job.uid, workflow, rid)
    )
    report = stored or build(workflow, enrichment, cfg, rid, trigger, runtime)
    return _publish(report, runtime, jlog, webhooks, already=stored is not None)


def _key(cluster: str, namespace: str, job: str, uid: str, workflow: str, rid: str) -> str:
    from jobwarden.sinks.storage import report_key

    return report_key(cluster, namespace, job, uid, workflow, rid)


def configured_webhooks(workflow: ReportWorkflow, runtime: Runtime) -> list[Any]:
    from jobwarden.sinks.webhooks import Webhook

    hooks = []
    for w in runtime.settings.webhooks_for(workflow):
        secret = w.secret(runtime.env)
        hooks.append(
            Webhook(
                name=w.name,
                type=w.type,
                url=w.url(runtime.env).get_secret_value(),
                secret=secret.get_secret_value() if secret else None,
                workflows=frozenset(w.workflows) if w.workflows else None,
                timeout_s=float(w.timeout_seconds),
            )
        )
    return hooks


def _publish(
    report: Report,
    runtime: Runtime,
    jlog: logging.LoggerAdapter[logging.Logger],
    webhooks: Callable[[ReportWorkflow, Runtime], list[Any]] | None,
    *,
    already: bool = False,
    gone: bool = False,
) -> Outcome:
    from jobwarden.sinks.webhooks import deliver

    result = runtime.store.put_report(report)
    try:
        hooks = (webhooks or configured_webhooks)(report.workflow, runtime)  # type: ignore[arg-type]
    except ConfigError as err:
        jlog.error("report %s stored, but webhooks are misconfigured: %s", report.id, err)
        return "reported"
    deliveries = deliver(report, hooks, runtime.store, report_url=result.url)
    sent = [d.webhook for d in deliveries if d.status == "delivered"]
    jlog.info(
        "%s report %s %s at %s%s",
        report.workflow,
        report.id,
        "already stored" if already or not result.stored else "stored",
        result.key,
        f"; posted to {', '.join(sent)}" if sent else "",
    )
    if gone:
        return "job gone"
    return "already reported" if already or not result.stored else "reported"
