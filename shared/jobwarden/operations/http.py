"""`job_restart` and `job_delete` over HTTP (DESIGN §3.5), as one plain function.

    400 malformed body / unknown cluster      401 no or invalid token
    403 RBAC says no / protected namespace / workflow disabled
    404 job not found                          409 token stale (job changed) or expired
    200 {"status": "confirmation_required", "confirmationToken", "expiresAt", "plan"}
    200 {"status": "dry_run", "plan", "object"}   200 {"status": "restarted" | "deleted", ...}

Every outcome, refusals included, writes an audit record (who, what, when, result) to
storage under `audit/<yyyy>/<mm>/<dd>/<id>.json`. A confirmed call retried with the same
token returns the first result instead of acting twice.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any, Literal

from jobwarden.cluster import UnknownClusterError
from jobwarden.enrich import list_pods
from jobwarden.errors import ConfigError, ForbiddenError, NotFoundError, TemporaryError
from jobwarden.operations import confirm, delete, restart
from jobwarden.operations.auth import ActionError, authenticate, authorize
from jobwarden.runtime import Runtime
from jobwarden.views import Job

log = logging.getLogger("jobwarden")
Action = Literal["restart", "delete"]
JSON = dict[str, Any]


def _audit(runtime: Runtime, record: JSON) -> None:
    now = runtime.clock()
    key = f"audit/{now:%Y/%m/%d}/{now:%H%M%S}-{secrets.token_hex(6)}.json"
    try:
        runtime.store.put_json(key, {**record, "when": now.isoformat().replace("+00:00", "Z")})
    except TemporaryError as err:  # the action's answer matters more; say it loudly
        log.error("audit record for %s could not be written: %s", record.get("action"), err)


def handle_action(
    action: Action, body: Any, headers: Mapping[str, str], runtime: Runtime
) -> tuple[int, JSON]:
    """Authenticate, authorize, plan, confirm and act; see the module docstring."""
    record: JSON = {"action": action, "who": None, "result": None}
    try:
        status, answer = _handle(action, body, headers, runtime, record)
    except ActionError as err:
        status, answer = err.status, {"error": str(err), **err.details}
    except ForbiddenError as err:  # the function's own credentials lack a permission
        status, answer = 403, {"error": f"jobwarden's own access was refused: {err}"}
    record["result"] = answer.get("status") or f"refused {status}: {answer.get('error', '')}"[:300]
    record["httpStatus"] = status
    _audit(runtime, record)
    return status, answer


def _handle(
    action: Action, body: Any, headers: Mapping[str, str], runtime: Runtime, record: JSON
) -> tuple[int, JSON]:
    flows = runtime.settings.workflows.job_workflows
    cfg = flows.job_restart if action == "restart" else flows.job_delete
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) and body.get(k) for k in ("cluster", "namespace", "name")
    ):
        raise ActionError(400, 'send JSON {"cluster": ..., "namespace": ..., "name": ...}')
    cluster, namespace, name = body["cluster"], body["namespace"], body["name"]
    record.update(cluster=cluster, namespace=namespace, name=name)
    if action == "delete":
        delete.policy_of(body)  # a bad option is a malformed body: say so before anything else
    if not cfg.enabled:
        raise ActionError(403, f"job {action} is disabled in the configuration")
    try:
        api = runtime.clusters.client(cluster)
    except UnknownClusterError as err:
        raise ActionError(400, str(err)) from err
    security = runtime.settings.security
    if namespace in security.protected_namespaces:
        raise ActionError(403, f"namespace {namespace} is protected (security.protectedNamespaces)")
    caller = authenticate(api, headers, security.authentication, cluster)
    record["who"] = caller.username
    authorize(api, caller, namespace, restart.NEEDS if action == "restart" else delete.NEEDS)
    try:
        job_json = api.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")
    except NotFoundError as err:
        raise ActionError(404, f"job {namespace}/{name} not found in cluster {cluster}") from err
    job = Job.from_json(job_json)
    record["uid"] = job.uid
    pods = list_pods(api, job)
    the_plan: restart.RestartPlan | delete.DeletePlan
    if action == "restart":
        the_plan = restart.plan(
            api,
            job_json,
            pods,
            runtime.settings.restart,
            user=caller.username,
            increase_memory=bool(body.get("increaseMemory")),
        )
    else:
        the_plan = delete.plan(job_json, pods, body)
    described = the_plan.describe()
    if body.get("dryRun"):
        extra = {"object": the_plan.manifest} if isinstance(the_plan, restart.RestartPlan) else {}
        return 200, {"status": "dry_run", "plan": described, **extra}
    claims = {
        "action": action,
        "cluster": cluster,
        "namespace": namespace,
        "name": name,
        "uid": job.uid,
        "resourceVersion": job.resource_version,
        "user": caller.username,
    }
    token = body.get("confirmationToken")
    if cfg.require_confirmation:
        secret = _secret(runtime)
        if not token:
            issued, expires = confirm.issue(
                secret, claims, now=runtime.clock(), ttl_s=security.confirmation_ttl_seconds
            )
            return 200, {
                "status": "confirmation_required",
                "confirmationToken": issued,
                "expiresAt": expires,
                "plan": described,
            }
        used_key = f"actions/used/{confirm.token_id(str(token))}.json"
        first = runtime.store.get_json(used_key)
        if first is not None:  # the same confirmed call, retried: answer as the first time
            return 200, dict(first)
        confirm.verify(secret, str(token), claims, now=runtime.clock())
    result = _execute(action, api, namespace, the_plan, runtime)
    result["requestedBy"] = caller.username
    if cfg.require_confirmation:
        runtime.store.put_json(used_key, result, only_if_absent=True)
    return 200, result


def _secret(runtime: Runtime) -> str:
    try:
        return runtime.settings.security.confirmation_secret(runtime.env).get_secret_value()
    except ConfigError as err:
        raise ActionError(500, f"confirmations are required but not configured: {err}") from err


def _execute(action: Action, api: Any, namespace: str, the_plan: Any, runtime: Runtime) -> JSON:
    if action == "restart":
        return restart.execute(
            api, namespace, the_plan, runtime.settings.restart, clock=runtime.clock
        )
    return delete.execute(api, namespace, the_plan)
