"""The seed's `workflows.jobWorkflows` block: exactly its keys, its values as defaults.

The seven Job workflows each have a switch (`enabled`) and one or two options; the
functions read them from `Settings.workflows.job_workflows`. Kept apart from
`jobwarden.config` so that the seed's contract is one short page.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from jobwarden.configtypes import ConfigModel, Duration
from jobwarden.quantities import parse_duration


class JobFailureReporter(ConfigModel):
    """Reports on failed Jobs."""

    enabled: bool = Field(default=True, description="Report on Jobs that enter the Failed state.")
    include_logs: bool = Field(
        default=True, description="Add the log tail of each failed container."
    )
    include_events: bool = Field(default=True, description="Add the Job's and its pods' events.")


class JobInfoEnricher(ConfigModel):
    """Job status and configuration reports."""

    enabled: bool = Field(default=True, description="Report a Job's status, conditions and spec.")
    show_details: bool = Field(
        default=True,
        description="Include the pod template: containers, images, commands, resources.",
    )


class JobEventsEnricher(ConfigModel):
    """Event timelines of a Job and its pods."""

    enabled: bool = Field(default=True, description="Report the events of a Job and its pods.")
    event_types: list[Literal["Warning", "Normal"]] = Field(
        default=["Warning", "Normal"], description="Which Kubernetes event types to show."
    )


class JobPodEnricher(ConfigModel):
    """Pod-by-pod analysis of a Job."""

    enabled: bool = Field(
        default=True, description="Report each pod of a Job: phase, node, states."
    )
    include_logs: bool = Field(
        default=True, description="Add the log tail of each failed container."
    )


class JobRestart(ConfigModel):
    """Restart over HTTP."""

    enabled: bool = Field(default=True, description="Serve restart requests (`job_restart`).")
    require_confirmation: bool = Field(
        default=True,
        description="Answer a first request with a plan and a signed confirmation token.",
    )


class JobDelete(ConfigModel):
    """Delete over HTTP."""

    enabled: bool = Field(default=True, description="Serve delete requests (`job_delete`).")
    require_confirmation: bool = Field(
        default=True,
        description="Answer a first request with a plan and a signed confirmation token.",
    )


class JobPerformanceAnalysis(ConfigModel):
    """Run records and performance reports."""

    enabled: bool = Field(
        default=True, description="Record finished runs and report on performance."
    )
    default_duration: Duration = Field(
        default="24h", description="Window analysed when a request names none (30m, 24h, 7d, 2w)."
    )

    @property
    def default_window(self) -> timedelta:
        return parse_duration(self.default_duration)


class JobWorkflows(ConfigModel):
    """The seven Job workflows of the seed."""

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


class Workflows(ConfigModel):
    """Holds the seed's `jobWorkflows` block."""

    job_workflows: JobWorkflows = Field(
        default_factory=JobWorkflows, description="Switches and options of each Job workflow."
    )
