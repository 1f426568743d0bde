"""The `workflows.jobWorkflows` block: one typed section per Job workflow.

The seven Job workflows each have a switch (`enabled`) and one or two options; handlers
read their own section (`Settings.workflow(name)`, or a spec's typed `section`). Kept apart
from `jobwarden.config` so that this contract is one short page.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from jobwarden.configtypes import ConfigModel, Duration
from jobwarden.names import WorkflowName, snake
from jobwarden.quantities import parse_duration


class WorkflowSection(ConfigModel):
    """What every workflow's section has: its switch."""

    enabled: bool = True


class JobFailureReporter(WorkflowSection):
    """Reports on failed Jobs."""

    enabled: bool = Field(default=True, description="Report on Jobs that enter the Failed state.")
    include_logs: bool = Field(
        default=True, description="Add the log tail of each failed container."
    )
    include_events: bool = Field(default=True, description="Add the Job's and its pods' events.")


class JobInfoEnricher(WorkflowSection):
    """Job status and configuration reports."""

    enabled: bool = Field(default=True, description="Report a Job's status, conditions and spec.")
    show_details: bool = Field(
        default=True,
        description="Include the pod template: containers, images, commands, resources.",
    )


class JobEventsEnricher(WorkflowSection):
    """Event timelines of a Job and its pods."""

    enabled: bool = Field(default=True, description="Report the events of a Job and its pods.")
    event_types: list[Literal["Warning", "Normal"]] = Field(
        default=["Warning", "Normal"], description="Which Kubernetes event types to show."
    )


class JobPodEnricher(WorkflowSection):
    """Pod-by-pod analysis of a Job."""

    enabled: bool = Field(
        default=True, description="Report each pod of a Job: phase, node, states."
    )
    include_logs: bool = Field(
        default=True, description="Add the log tail of each failed container."
    )


class JobRestart(WorkflowSection):
    """Restart over HTTP."""

    enabled: bool = Field(default=True, description="Serve restart requests (`job_restart`).")
    require_confirmation: bool = Field(
        default=True,
        description="Answer a first request with a plan and a signed confirmation token.",
    )


class JobDelete(WorkflowSection):
    """Delete over HTTP."""

    enabled: bool = Field(default=True, description="Serve delete requests (`job_delete`).")
    require_confirmation: bool = Field(
        default=True,
        description="Answer a first request with a plan and a signed confirmation token.",
    )


class Regressions(ConfigModel):
    """When a finished run is a performance regression (README: Performance)."""

    enabled: bool = Field(
        default=True,
        description="Compare every finished run with its family's history; report regressions.",
    )
    history: Duration = Field(
        default="14d", description="How far back a family's history reaches (runs that ended)."
    )
    min_runs: int = Field(
        default=5, ge=2, le=1000, description="Runs of history a family needs before it is judged."
    )
    max_runs: int = Field(
        default=200,
        ge=5,
        le=5000,
        description="Most recent runs of the history read per finished run (reads per event).",
    )
    p95_factor: float = Field(
        default=1.5,
        gt=1.0,
        le=100.0,
        description="A run that took longer than the family's p95 times this is a regression.",
    )
    deadline_fraction: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="A run that used this share of its activeDeadlineSeconds or more is one.",
    )
    success_rate_below: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="A failed run that brings the family's success rate below this is one.",
    )


class Digest(ConfigModel):
    """The scheduled digest of a cluster's families (`job_performance_digest`)."""

    duration: Duration = Field(default="7d", description="Window the digest covers.")
    top: int = Field(
        default=5, ge=1, le=50, description="How many slowest and least reliable families it lists."
    )


class JobPerformanceAnalysis(WorkflowSection):
    """Run records and performance reports."""

    enabled: bool = Field(
        default=True, description="Record finished runs and report on performance."
    )
    default_duration: Duration = Field(
        default="24h", description="Window analysed when a request names none (30m, 24h, 7d, 2w)."
    )
    regressions: Regressions = Field(
        default_factory=Regressions,
        description="Regression reports on finished runs (posted by default).",
    )
    digest: Digest = Field(default_factory=Digest, description="The scheduled per-cluster digest.")

    @property
    def default_window(self) -> timedelta:
        return parse_duration(self.default_duration)


class JobWorkflows(ConfigModel):
    """The seven Job workflows."""

    job_failure_reporter: JobFailureReporter = Field(
        default_factory=JobFailureReporter, description="Failure reports (`job_failure_reporter`)."
    )
    job_info_enricher: JobInfoEnricher = Field(
        default_factory=JobInfoEnricher, description="Job information (`job_info_enricher`)."
    )
    job_events_enricher: JobEventsEnricher = Field(
        default_factory=JobEventsEnricher, description="Job events (`job_events_enricher`)."
    )
    job_pod_enricher: JobPodEnricher = Field(
        default_factory=JobPodEnricher, description="Pod analysis (`job_pod_enricher`)."
    )
    job_restart: JobRestart = Field(
        default_factory=JobRestart, description="Restart (`job_restart`)."
    )
    job_delete: JobDelete = Field(default_factory=JobDelete, description="Delete (`job_delete`).")
    job_performance_analysis: JobPerformanceAnalysis = Field(
        default_factory=JobPerformanceAnalysis,
        description="Performance analysis (`job_performance_analysis`).",
    )

    def section(self, name: WorkflowName) -> WorkflowSection:
        """The section of workflow `name` (`jobFailureReporter` -> `job_failure_reporter`)."""
        value = getattr(self, snake(name))
        assert isinstance(value, WorkflowSection)
        return value


class Workflows(ConfigModel):
    """Holds the `jobWorkflows` block."""

    job_workflows: JobWorkflows = Field(
        default_factory=JobWorkflows, description="Switches and options of each Job workflow."
    )
