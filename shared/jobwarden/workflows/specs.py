"""The four report workflows, each declared once as a `ReportSpec`.

A spec says everything the shared paths (`events.handle_event` for Pub/Sub, `ondemand.
handle_request` for `<name>_http`) need to know, and nothing runs a workflow any other way:

- `section`: its typed configuration section (mypy checks every option name);
- `transitions`: the Job transitions it reports on (`accepts` may narrow further);
- `needs`: what it reads from the cluster, from its configuration (logs, events, usage,
  event types, CronJob history), in one `enrich.read` call;
- `key`: what its report id is keyed on, `key(trigger, job_uid)`: once per event
  (`by_event`), once per failed Job run whoever announced it (`by_failed_job`: our exporter,
  kubernetes-event-exporter, any number of redeliveries), or once per Job and Warning
  reason (`by_event_reason`: a relayed Event whose count rose finds the stored report);
- `build`: a pure function of what was read, the analysis and the configuration (no I/O);
- `alert`: for a spec that reports on CronJob transitions (`missed`, `no-success`), the
  pure build of that report from the event alone (there may be no Job to read).
- `streaks`: a CronJob's failed run is recorded and reported under its streak
  (`workflows.streaks`; the failure reporter).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from jobwarden.enrich import Enrichment, Needs
from jobwarden.failure import FailureAnalysis
from jobwarden.history import FamilyHistory
from jobwarden.intake import Trigger
from jobwarden.jobevent import CRONJOB_TRANSITIONS, JOB_TRANSITIONS, Transition
from jobwarden.kube.labels import COMPLETE, RETRY_OF
from jobwarden.names import WorkflowName
from jobwarden.report import CronJobRun, Report, report_id
from jobwarden.workflowconfig import (
    JobEventsEnricher,
    JobFailureReporter,
    JobInfoEnricher,
    JobPodEnricher,
    JobWorkflows,
    WorkflowSection,
)
from jobwarden.workflows import builders, cronalerts, followups

C = TypeVar("C", bound=WorkflowSection)
#: The enrichers report on whatever Job transition their subscription delivers (its filter is
#: the choice); a CronJob's `missed` / `no-success` has no Job for them to read.
EVERY_TRANSITION: frozenset[Transition] = JOB_TRANSITIONS


@dataclass(frozen=True)
class BuildContext:
    """What a build needs besides the facts: the report's id, its source and the time;
    the Job family's recorded history (specs that want it) and `restart.url`."""

    report_id: str
    source_event_id: str
    now: dt.datetime
    cron_run: CronJobRun | None = None  # a CronJob's run: its streak (`workflows.streaks`)
    history: FamilyHistory | None = None
    restart_url: str | None = None


def by_event(trigger: Trigger, job_uid: str) -> str:
    """One report per event (a redelivery of it finds the stored report)."""
    return trigger.event_id


def by_failed_job(trigger: Trigger, job_uid: str) -> str:
    """One report per failed (or stuck) Job run, whoever announced it and how often."""
    return f"{trigger.cluster}/{job_uid}/{'stuck' if trigger.transition == 'stuck' else 'failed'}"


def by_run_end(trigger: Trigger, job_uid: str) -> str:
    """A failed run: `by_failed_job`. A retry's success: once per retried Job run."""
    if trigger.transition == "succeeded":
        return f"{trigger.cluster}/{job_uid}/retry-succeeded"
    return by_failed_job(trigger, job_uid)


def retry_success_only(trigger: Trigger, cfg: JobFailureReporter) -> str | None:
    """`succeeded` is reported only for a Job that a restart made (`jobwarden.dev/retry-of`
    in the labels the event carries): the retry's success, linked to the original."""
    if trigger.transition == "succeeded" and not trigger.labels.get(RETRY_OF):
        return f"a succeeded Job is reported only when it is a restart's retry ({RETRY_OF})"
    return None


def by_failure(trigger: Trigger, job_uid: str) -> str:
    """The failure reporter's key: once per failed or stuck Job run and per retry's success
    (`by_run_end`), or once per CronJob, transition and scheduled time for `missed` /
    `no-success`."""
    if trigger.transition in CRONJOB_TRANSITIONS:
        return cronalerts.alert_key(trigger)
    return by_run_end(trigger, job_uid)


def by_event_reason(trigger: Trigger, job_uid: str) -> str:
    """A relayed Kubernetes Event: one report per Job and reason (a count increment, or the
    same reason on another pod of the Job, finds the stored report). Other transitions:
    one per event."""
    if trigger.transition != "event" or trigger.k8s_event is None:
        return by_event(trigger, job_uid)
    return f"{trigger.cluster}/{job_uid}/event/{trigger.k8s_event.reason}"


@dataclass(frozen=True)
class ReportSpec(Generic[C]):
    """One report workflow, declared (see the module docstring)."""

    name: WorkflowName
    section: Callable[[JobWorkflows], C]
    transitions: frozenset[Transition]
    needs: Callable[[C], Needs]
    build: Callable[[Enrichment, FailureAnalysis | None, C, BuildContext], Report]
    key: Callable[[Trigger, str], str] = by_event
    accepts: Callable[[Trigger, C], str | None] = lambda trigger, cfg: None
    alert: Callable[[Trigger, C, BuildContext], Report] | None = None
    streaks: bool = False  # records CronJob runs and reports failures under their streak
    #: the build quotes the Job family's recorded runs (`BuildContext.history`)
    wants_history: bool = False

    def config(self, workflows: JobWorkflows) -> C:
        return self.section(workflows)

    def ignores(self, trigger: Trigger, cfg: C) -> str | None:
        """Why this workflow does not report on `trigger`, or None when it does."""
        if trigger.transition not in self.transitions:
            wanted = ", ".join(sorted(self.transitions))
            return f"{self.name} reports on {wanted} transitions (got {trigger.transition})"
        return self.accepts(trigger, cfg)

    def report_id(self, trigger: Trigger, job_uid: str) -> str:
        """The deterministic id of this workflow's report on `trigger` (see `key`)."""
        return report_id(self.key(trigger, job_uid), self.name)


# --- the four specs -------------------------------------------------------------------------


def _failure(
    e: Enrichment, analysis: FailureAnalysis | None, cfg: JobFailureReporter, ctx: BuildContext
) -> Report:
    from jobwarden.failure import analyse

    if e.job.condition(COMPLETE) is not None:  # `succeeded`: accepted only for a retry
        return followups.retry_succeeded_report(
            e,
            report_id=ctx.report_id,
            source_event_id=ctx.source_event_id,
            now=ctx.now,
            history=ctx.history,
        )
    analysis = analysis or analyse(e)
    report = builders.failure_report(
        e,
        analysis,
        report_id=ctx.report_id,
        source_event_id=ctx.source_event_id,
        now=ctx.now,
        include_logs=cfg.include_logs,
        include_events=cfg.include_events,
        cron=e.cron,
        cron_run=ctx.cron_run,
    )
    return followups.add_to_failure(
        report, e, analysis, history=ctx.history, restart_url=ctx.restart_url
    )


def _alert(trigger: Trigger, cfg: JobFailureReporter, ctx: BuildContext) -> Report:
    return cronalerts.alert_report(
        "jobFailureReporter", trigger, report_id=ctx.report_id, now=ctx.now
    )


def _info(
    e: Enrichment, analysis: FailureAnalysis | None, cfg: JobInfoEnricher, ctx: BuildContext
) -> Report:
    return builders.info_report(
        e,
        report_id=ctx.report_id,
        source_event_id=ctx.source_event_id,
        now=ctx.now,
        show_details=cfg.show_details,
        analysis=analysis,
    )


def _events(
    e: Enrichment, analysis: FailureAnalysis | None, cfg: JobEventsEnricher, ctx: BuildContext
) -> Report:
    return builders.events_report(
        e,
        report_id=ctx.report_id,
        source_event_id=ctx.source_event_id,
        now=ctx.now,
        analysis=analysis,
    )


def _pods(
    e: Enrichment, analysis: FailureAnalysis | None, cfg: JobPodEnricher, ctx: BuildContext
) -> Report:
    return builders.pods_report(
        e,
        report_id=ctx.report_id,
        source_event_id=ctx.source_event_id,
        now=ctx.now,
        include_logs=cfg.include_logs,
        analysis=analysis,
    )


def _event_type_wanted(trigger: Trigger, cfg: JobEventsEnricher) -> str | None:
    if trigger.transition != "event":
        return None
    kind = trigger.k8s_event.type if trigger.k8s_event else ""
    if kind not in cfg.event_types:
        return f"{kind or 'untyped'} events are not in eventTypes {cfg.event_types}"
    return None


#: A failed Job run, and a CronJob that missed a run or stopped succeeding.
FAILURE_TRANSITIONS: frozenset[Transition] = frozenset(
    {"failed", "stuck", "succeeded", "missed", "no-success"}
)
FAILURE_REPORTER = ReportSpec[JobFailureReporter](
    name="jobFailureReporter",
    section=lambda w: w.job_failure_reporter,
    transitions=FAILURE_TRANSITIONS,
    needs=lambda cfg: Needs(logs=cfg.include_logs, events=True, cron_history=True),
    build=_failure,
    key=by_failure,
    accepts=retry_success_only,
    alert=_alert,
    streaks=True,
    wants_history=True,
)
INFO_ENRICHER = ReportSpec[JobInfoEnricher](
    name="jobInfoEnricher",
    section=lambda w: w.job_info_enricher,
    transitions=EVERY_TRANSITION,
    needs=lambda cfg: Needs(logs=False, events=True, usage=False),
    build=_info,
)
EVENTS_ENRICHER = ReportSpec[JobEventsEnricher](
    name="jobEventsEnricher",
    section=lambda w: w.job_events_enricher,
    transitions=EVERY_TRANSITION,
    needs=lambda cfg: Needs(logs=False, usage=False, event_types=tuple(cfg.event_types)),
    build=_events,
    key=by_event_reason,
    accepts=_event_type_wanted,
)
POD_ENRICHER = ReportSpec[JobPodEnricher](
    name="jobPodEnricher",
    section=lambda w: w.job_pod_enricher,
    transitions=EVERY_TRANSITION,
    needs=lambda cfg: Needs(logs=cfg.include_logs, events=True),
    build=_pods,
)

SPECS: Mapping[WorkflowName, ReportSpec[Any]] = {
    spec.name: spec for spec in (FAILURE_REPORTER, INFO_ENRICHER, EVENTS_ENRICHER, POD_ENRICHER)
}
