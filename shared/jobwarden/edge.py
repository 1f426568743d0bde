"""The one function edge: a CloudEvent or an HTTP request in, a call, an answer out.

Every `functions/<name>/main.py` calls `on_cloudevent(workflow, event)` or
`on_request(workflow, request)` here, and nothing else. This module

- builds the process's runtime on first use (`default_runtime`) and sets up logging;
- with `security.pushAuth`, refuses (401) a CloudEvent without Pub/Sub's signed OIDC token
  for the configured push service account (`jobwarden.pushauth`);
- answers `enabled: false` (an event is acknowledged with one line; a request gets 403);
- decodes a CloudEvent into a `Trigger` (a malformed one is acknowledged with its id);
- believes the cluster a message names only when it came from that cluster's Pub/Sub
  topic, once clusters declare theirs (`clusters[].pubsubTopic`): a message for cluster X
  from cluster Y's topic is logged, acknowledged and not reported;
- runs the workflow's handler, looked up in `TARGETS` (the registry of the seven workflows'
  entry points and of the pages that are no workflow, such as `jobReports`, the index
  page; imported lazily so that a function loads only what it runs);
- turns an exception into an answer: a `TemporaryError` is raised again for a CloudEvent
  (the platform answers 500 and redelivers) and is 503 for a request; a `PermanentError`
  is acknowledged with one log line naming the Job, the event id and the fix; an HTTP
  target answers `status_for(error)` with `{"error", "code"}` (see `jobwarden.errors`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from jobwarden.errors import (
    DisabledError,
    JobwardenError,
    MalformedEventError,
    PermanentError,
    TemporaryError,
    UnauthenticatedError,
    status_for,
)
from jobwarden.httpapi import Answer, HttpRequest
from jobwarden.names import TargetName, WorkflowName, is_workflow

if TYPE_CHECKING:
    from jobwarden.actions.common import Action
    from jobwarden.intake import Trigger
    from jobwarden.runtime import Runtime

log = logging.getLogger("jobwarden")
FlaskAnswer = tuple[str, int, dict[str, str]]


class EventHandler(Protocol):
    """A workflow's CloudEvent entry: handle one decoded trigger; returns what it did."""

    def __call__(self, trigger: Trigger, runtime: Runtime) -> str: ...


class RequestHandler(Protocol):
    """A workflow's HTTP entry: answer one request (or raise a JobwardenError)."""

    def __call__(self, request: HttpRequest, runtime: Runtime) -> Answer: ...


# --- the registry of entry points (lazy: a function imports only the workflow it runs) ---


def _report_event(name: WorkflowName) -> Callable[[], EventHandler]:
    def load() -> EventHandler:
        from jobwarden.workflows.events import handle_event
        from jobwarden.workflows.specs import SPECS

        spec = SPECS[name]
        return lambda trigger, runtime: handle_event(spec, trigger, runtime)

    return load


def _report_request(name: WorkflowName) -> Callable[[], RequestHandler]:
    def load() -> RequestHandler:
        from jobwarden.workflows.ondemand import handle_request
        from jobwarden.workflows.specs import SPECS

        spec = SPECS[name]
        return lambda request, runtime: handle_request(spec, request, runtime)

    return load


def _failure_reporter_event() -> EventHandler:
    """Failures through the failure report spec; a CronJob run's `succeeded` to the recovery
    check (`workflows.recovery`, the failure reporter's one place for successes)."""
    from jobwarden.workflows.recovery import handle_failure_reporter_event

    return handle_failure_reporter_event


def _performance_event() -> EventHandler:
    from jobwarden.performance.handler import record_run

    return record_run


def _performance_request() -> RequestHandler:
    from jobwarden.performance.handler import analyse_request

    return analyse_request


def _action(action: Action) -> Callable[[], RequestHandler]:
    def load() -> RequestHandler:
        from jobwarden.actions.http import serve

        return lambda request, runtime: serve(action, request, runtime)

    return load


@dataclass(frozen=True)
class Target:
    """A workflow's entry points: what its CloudEvent and its HTTP functions run."""

    event: Callable[[], EventHandler] | None = None
    request: Callable[[], RequestHandler] | None = None


def _index_page() -> RequestHandler:
    from jobwarden.workflows.reportindex import serve_index

    return serve_index


TARGETS: dict[TargetName, Target] = {
    "jobFailureReporter": Target(event=_failure_reporter_event),
    "jobInfoEnricher": Target(_report_event("jobInfoEnricher"), _report_request("jobInfoEnricher")),
    "jobEventsEnricher": Target(
        _report_event("jobEventsEnricher"), _report_request("jobEventsEnricher")
    ),
    "jobPodEnricher": Target(_report_event("jobPodEnricher"), _report_request("jobPodEnricher")),
    "jobPerformanceAnalysis": Target(_performance_event, _performance_request),
    "jobRestart": Target(request=_action("restart")),
    "jobDelete": Target(request=_action("delete")),
    # Not a workflow: no `workflows.*` section, no `enabled` switch; deployed or not.
    "jobReports": Target(request=_index_page),
}


# --- logging -------------------------------------------------------------------------------


class RetryWithoutTraceback(logging.Filter):
    """Shorten the framework's "Exception on / [POST]" record for a TemporaryError to one line.

    Raising is how a CloudEvent function asks for redelivery; the handler has already logged
    which Job and event will be retried and why, so a 100-line traceback per attempt only
    buries that line. Other exceptions (bugs) keep their traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, TemporaryError):
            original = record.getMessage()
            record.msg = "%s; answered 500 so that the event is redelivered (%s: %s)"
            record.args = (original, type(exc).__name__, exc)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def setup_logging() -> None:
    """INFO for jobwarden's lines; one line (no traceback) per retried event."""
    ours = logging.getLogger("jobwarden")
    if ours.level == logging.NOTSET:
        ours.setLevel(logging.INFO)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s %(message)s"
        )
    for handler in root.handlers:
        if not any(isinstance(f, RetryWithoutTraceback) for f in handler.filters):
            handler.addFilter(RetryWithoutTraceback())


# --- the two contracts ---------------------------------------------------------------------


PUBSUB_SOURCE_PREFIX = "//pubsub.googleapis.com/"


def pubsub_topic(attributes: Mapping[str, Any]) -> str | None:
    """`projects/P/topics/T` of a Pub/Sub CloudEvent (its `source`), None for any other."""
    source = attributes.get("source")
    if isinstance(source, str) and source.startswith(PUBSUB_SOURCE_PREFIX):
        return source.removeprefix(PUBSUB_SOURCE_PREFIX)
    return None


def handle_cloudevent(
    workflow: WorkflowName,
    attributes: Mapping[str, Any],
    data: Any,
    runtime: Runtime,
    *,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Run `workflow` for one CloudEvent delivery; returns the outcome, raises to be retried.

    Outcomes: what the handler did ("reported", "already reported", "recorded", "ignored",
    "job gone", ...), or "disabled", "malformed", "rejected" (a permanent error, logged).
    """
    from jobwarden.intake import parse_cloudevent
    from jobwarden.runtime import job_logger

    target = TARGETS[workflow].event
    event_id = str(attributes.get("id", "?")) if isinstance(attributes, Mapping) else "?"
    push_auth = runtime.settings.security.push_auth
    if push_auth is not None:
        from jobwarden.pushauth import verify_push

        try:
            verify_push(headers or {}, push_auth)
        except UnauthenticatedError as err:
            log.error("%s: refused event %s (401): %s", workflow, event_id, err)
            return "unauthenticated"
    if target is None:
        log.error("%s has no CloudEvent target; event %s acknowledged", workflow, event_id)
        return "rejected"
    if not runtime.settings.workflow(workflow).enabled:
        log.info("%s is disabled in the configuration; event %s acknowledged", workflow, event_id)
        return "disabled"
    try:
        trigger = parse_cloudevent(attributes, data)
    except MalformedEventError as err:
        log.error("%s: acknowledged a malformed event: %s", workflow, err)
        return "malformed"
    jlog = job_logger(trigger.cluster, trigger.namespace, trigger.job)
    foreign = runtime.settings.channel_problem(trigger.cluster, pubsub_topic(attributes))
    if foreign:
        jlog.error(
            "%s: event %s acknowledged, not reported: %s", workflow, trigger.event_id, foreign
        )
        return "rejected"
    try:
        return target()(trigger, runtime)
    except TemporaryError as err:
        jlog.warning(
            "%s: event %s will be retried (temporary failure): %s", workflow, trigger.event_id, err
        )
        raise
    except PermanentError as err:
        jlog.error(
            "%s: event %s acknowledged, not retried (%s): %s",
            workflow,
            trigger.event_id,
            err.code,
            err,
        )
        return "rejected"


def handle_http(workflow: TargetName, request: HttpRequest, runtime: Runtime) -> Answer:
    """Answer one HTTP request for `workflow` (or a page); every error is `status_for(error)`."""
    target = TARGETS[workflow].request
    if target is None:
        return Answer.json(404, {"error": f"{workflow} has no HTTP target", "code": "not_found"})
    try:
        if is_workflow(workflow) and not runtime.settings.workflow(workflow).enabled:
            raise DisabledError(
                f"{workflow} is disabled in the configuration "
                f"(workflows.jobWorkflows.{workflow}.enabled)"
            )
        return target()(request, runtime)
    except JobwardenError as err:
        cluster = request.body.get("cluster") if isinstance(request.body, dict) else None
        level = logging.WARNING if status_for(err) >= 500 else logging.INFO
        log.log(level, "%s: answered %d (%s): %s", workflow, status_for(err), err.code, err)
        return Answer.error(err, cluster=cluster if isinstance(cluster, str) else None)


def on_cloudevent(workflow: WorkflowName, event: Any) -> str:
    """The functions-framework CloudEvent edge; raising means 'retry me'."""
    from flask import abort
    from flask import request as flask_request

    from jobwarden.runtime import default_runtime

    setup_logging()
    outcome = handle_cloudevent(
        workflow,
        event.get_attributes(),
        event.get_data(),
        default_runtime(),
        headers=dict(flask_request.headers.items()),
    )
    if outcome == "unauthenticated":
        abort(401)
    return outcome


def on_request(workflow: TargetName, request: Any) -> FlaskAnswer:
    """The functions-framework HTTP edge: a Flask request in, (text, status, headers) out."""
    from jobwarden.runtime import default_runtime

    setup_logging()
    answer = handle_http(
        workflow,
        HttpRequest(
            method=str(request.method),
            body=request.get_json(silent=True),
            query=dict(request.args),
            headers=dict(request.headers.items()),
        ),
        default_runtime(),
    )
    return answer.text, answer.status, {"Content-Type": answer.content_type, **answer.headers}
