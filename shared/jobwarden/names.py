"""The seven Job workflows' names, defined once.

A workflow's name is its key under `workflows.jobWorkflows` in the configuration
(`jobFailureReporter`), its `workflow` in reports and webhook routing, and, in snake
case, the function target that runs it (`job_failure_reporter`) and its configuration
attribute. Everything else derives from `WORKFLOWS`.
"""

from __future__ import annotations

import re
from typing import Final, Literal, TypeGuard, get_args

WorkflowName = Literal[
    "jobFailureReporter",
    "jobInfoEnricher",
    "jobEventsEnricher",
    "jobPodEnricher",
    "jobRestart",
    "jobDelete",
    "jobPerformanceAnalysis",
]
WORKFLOWS: Final[tuple[WorkflowName, ...]] = get_args(WorkflowName)

#: Function targets that are not workflows: pages over what the workflows stored (the
#: index page; the performance digest, which Cloud Scheduler calls per cluster).
PageName = Literal["jobReports", "jobPerformanceDigest"]
#: Every entry in `jobwarden.edge.TARGETS`: the seven workflows and the pages.
TargetName = WorkflowName | PageName


def is_workflow(name: str) -> TypeGuard[WorkflowName]:
    """Whether `name` is one of the seven workflows (and so has a `workflows.*` section)."""
    return name in WORKFLOWS


#: What a reader calls each workflow's reports (headings, index pages, chat).
TITLES: Final[dict[WorkflowName, str]] = {
    "jobFailureReporter": "Job failure report",
    "jobInfoEnricher": "Job info",
    "jobEventsEnricher": "Job events",
    "jobPodEnricher": "Job pods",
    "jobRestart": "Job restart",
    "jobDelete": "Job delete",
    "jobPerformanceAnalysis": "Job performance analysis",
}

#: What a webhook that names no `workflows` receives: one message per failed Job, the
#: outcomes of restart and delete, and performance regressions. The enrichers' reports
#: (info, events, pods) are always stored, and posted only to webhooks that list them.
DEFAULT_ROUTED: Final[frozenset[WorkflowName]] = frozenset(
    {"jobFailureReporter", "jobRestart", "jobDelete", "jobPerformanceAnalysis"}
)

_UPPER = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: WorkflowName) -> str:
    """`jobFailureReporter` -> `job_failure_reporter`: function target and config attribute."""
    return _UPPER.sub("_", name).lower()


def function_name(name: WorkflowName) -> str:
    """The functions-framework target (and `functions/<folder>`) that runs `name`."""
    return snake(name)


def workflow_of_function(function: str) -> WorkflowName | None:
    """The workflow a function target runs (`job_info_enricher_http` -> `jobInfoEnricher`)."""
    base = function.removesuffix("_http")
    return next((w for w in WORKFLOWS if snake(w) == base), None)
