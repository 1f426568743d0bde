"""The short message a CronJob's repeated failure is posted as, instead of the full report.

While a CronJob keeps failing the same way, each later failed run is stored in full but
posted to Slack and Teams as this compact message: which run failed, how many in a row, the
last success, whether the schedule is still active, and a link to the first report of the
streak. Incoming webhooks of Slack and Teams cannot reply in a thread (a Slack incoming
webhook answers a plain `ok`, never the `ts` a reply would need), so the reference is a
link; the `json` webhook posts the full report, whose `cronJob.followUpOf` names the first
report so that a receiver can thread it.
"""

from __future__ import annotations

from jobwarden.render.common import LINK_SCHEMES, fmt_time
from jobwarden.report import FieldItem, FieldsBlock, MarkdownBlock, Report


def follow_up_message(report: Report) -> Report:
    """`report` as its short follow-up (same id), or `report` itself when it is no follow-up."""
    run = report.cron_job
    if run is None or not run.follow_up:
        return report
    state = "unknown" if run.suspended is None else ("suspended" if run.suspended else "active")
    url = run.follow_up_of_url or ""
    first = (
        f"[first report of this streak]({url})"
        if url.lower().startswith(LINK_SCHEMES) and not any(c in url for c in " ()")
        else f"first report of this streak (`{run.follow_up_of}`)"
    )
    return Report(
        id=report.id,
        workflow=report.workflow,
        cluster=report.cluster,
        namespace=report.namespace,
        job=report.job,
        job_uid=report.job_uid,
        created_at=report.created_at,
        severity=report.severity,
        title=f"CronJob {report.namespace}/{run.cronjob} failed again "
        f"({run.failed_runs} runs in a row)",
        summary=f"Run {report.job} failed the same way as the streak began: {run.cause}",
        blocks=[
            FieldsBlock(
                fields=[
                    FieldItem(name="Failed runs in a row", value=str(run.failed_runs)),
                    FieldItem(
                        name="Last success",
                        value=fmt_time(run.last_success) if run.last_success else "never",
                    ),
                    FieldItem(name="Schedule", value=f"{run.schedule or '-'} ({state})"),
                ]
            ),
            MarkdownBlock(text=f"Follow-up of the {first}; this run's full report is stored."),
        ],
        source_event_id=report.source_event_id,
        routing=report.routing,
        cron_job=run,
    )
