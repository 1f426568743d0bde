"""Store a report and post it where it is routed: the last two steps every report shares.

The event path (`workflows.events`), the actions' outcome reports (`actions.outcome`) and
the performance regressions and digests (`performance.regression`, `performance.digest`)
all end here, so a report is stored create-only (a redelivery or a retried call finds it)
and each webhook gets it at most once (`sinks.webhooks.deliver` claims each post
create-only) whichever path made it. `routing_of` is what webhook routing needs of a Job.
"""

from __future__ import annotations

from typing import Literal

from jobwarden.enrich import CronHistory, Enrichment
from jobwarden.errors import ConfigError
from jobwarden.kube.labels import NOTIFY, SILENCE
from jobwarden.kube.objects import Job
from jobwarden.redact import redact_mapping
from jobwarden.report import Report, Routing
from jobwarden.runtime import JobLogger, Runtime
from jobwarden.sinks.webhooks import deliver, webhooks_for

Published = Literal["reported", "already reported"]


def routing_of_metadata(
    labels: dict[str, str],
    annotations: dict[str, str],
    cron_labels: dict[str, str] | None = None,
    cron_annotations: dict[str, str] | None = None,
) -> Routing:
    """Routing from a Job's labels and annotations over its CronJob's (values redacted)."""
    merged_labels = redact_mapping({**(cron_labels or {}), **labels})
    merged = {**(cron_annotations or {}), **annotations}
    notify = merged.get(NOTIFY)
    return Routing(
        labels={k: str(v) for k, v in merged_labels.items()},
        notify=[n.strip() for n in notify.split(",") if n.strip()] if notify is not None else None,
        silence=merged.get(SILENCE),
    )


def routing_of(facts: Enrichment) -> Routing:
    """What webhook routing needs of the Job: its labels and annotations over its CronJob's
    (when this workflow read the CronJob); never a read of its own. Label values are
    redacted like everything a report carries."""
    return routing_of_cron(facts.job, facts.cron)


def routing_of_cron(job: Job, cron: CronHistory | None) -> Routing:
    """`routing_of` from the Job and what was read of its CronJob (None: not read)."""
    return routing_of_metadata(
        dict(job.labels),
        dict(job.annotations),
        dict(cron.labels) if cron else None,
        dict(cron.annotations) if cron else None,
    )


def publish(
    report: Report, runtime: Runtime, jlog: JobLogger, *, already: bool = False
) -> Published:
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
