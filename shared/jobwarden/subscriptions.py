"""Each event workflow's default subscription filter (ARCHITECTURE.md §3.1), written once.

The filters are Pub/Sub filter text on the message attributes the exporter sets
(`jobwarden.jobevent.pubsub_attributes`): Terraform creates each workflow's subscription
with them, the local push bridge (`jobwarden_dev.bridge`) filters with them, and
`jobwarden watch` (`jobwarden_watch.queue`) evaluates them on its in-process queue, so
that every way of running jobwarden delivers the same transitions to the same workflows.
Data only: nothing here evaluates a filter.
"""

from __future__ import annotations

from typing import Final

from jobwarden.names import WorkflowName

#: The event workflows' subscription filters; teams widen them without code.
FILTERS: Final[dict[WorkflowName, str]] = {
    "jobFailureReporter": (
        'attributes.type = "failed" OR attributes.type = "stuck" OR '
        'attributes.type = "missed" OR attributes.type = "no-success" OR '
        '(attributes.type = "succeeded" AND (attributes:cronjob OR attributes:retryOf))'
    ),
    "jobInfoEnricher": 'attributes.type = "failed" OR attributes.type = "stuck"',
    "jobEventsEnricher": (
        'attributes.type = "failed" OR attributes.type = "stuck" OR '
        '(attributes.type = "event" AND attributes.eventType = "Warning")'
    ),
    "jobPodEnricher": 'attributes.type = "failed" OR attributes.type = "stuck"',
    "jobPerformanceAnalysis": 'attributes.type = "succeeded" OR attributes.type = "failed"',
}
