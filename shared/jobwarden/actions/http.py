"""The restart / delete HTTP contract, in one function: `serve` (the edge calls it).

    POST {"cluster","namespace","name", "dryRun"?, "confirmationToken"?,
          "increaseMemory"? (restart), "propagationPolicy"? (delete)}
    Authorization: Bearer <token>   (or X-Goog-Authenticated-User-Email behind IAP)

| case                                                        | status | `status` / `code`  |
|-------------------------------------------------------------|--------|--------------------|
| malformed body, unknown cluster, bad/altered token, request | 400    | bad_request,       |
|   differs from its plan, plan impossible (memory at cap)    |        | unknown_cluster... |
| no or invalid token / identity header                       | 401    | unauthenticated    |
| RBAC says no, protected namespace, another caller's token,  | 403    | forbidden, ...     |
|   workflow disabled (`enabled: false`; nothing is written)  |        | disabled           |
| Job not found                                               | 404    | not_found          |
| Job changed since the plan, token expired, Job unfinished   | 409    | stale, expired,    |
|   (restart), the same token executing in another call       |        | in_progress        |
| confirmation required and none given                        | 200    | confirmation_required |
| dry run                                                     | 200    | dry_run            |
| done (delete: `deleting` when not gone within the timeout)  | 200    | restarted, deleted |
| cluster API or storage unavailable                          | 503    | unavailable        |
| jobwarden misconfigured or its own RBAC too narrow          | 500    | config, ...        |

Order of checks: enabled (at the edge), method, body, cluster, authentication, protected
namespace, the token's signature and binding, RBAC, the Job. With `requireConfirmation: false` a
request without a token executes at once. A token confirms once: a retried call gets
the first answer back (`"replayed": true`). Every answer but `disabled` and a wrong
method is audited. Statuses come from `jobwarden.errors.status_for`, like every target's.
"""

from __future__ import annotations

import json
import logging
import time

from jobwarden.actions import ledger
from jobwarden.actions.audit import AuditRecord, Phase, summarize, write_audit
from jobwarden.actions.common import (
    DEFAULT_OPTIONS,
    JSON,
    Action,
    ActionRequest,
    Sleep,
    get_job_json,
    parse_request,
)
from jobwarden.actions.confirm import Binding, Confirmation, decode, issue
from jobwarden.actions.delete import (
    CONFIRM_TIMEOUT_SECONDS,
    DeletePlan,
    execute_delete,
    plan_delete,
)
from jobwarden.actions.restart import RestartPlan, execute_restart, plan_restart
from jobwarden.auth import (
    Caller,
    authenticate,
    authorize,
    check_namespace,
    delete_permissions,
    restart_permissions,
)
from jobwarden.errors import (
    BadRequestError,
    DeniedError,
    JobwardenError,
    StaleError,
    TemporaryError,
    error_body,
    status_for,
)
from jobwarden.httpapi import Answer, HttpRequest
from jobwarden.jobevent import rfc3339
from jobwarden.kubeapi import KubeApi
from jobwarden.runtime import Runtime

log = logging.getLogger("jobwarden.actions")
Response = tuple[int, JSON]
Plan = RestartPlan | DeletePlan


class _Call:
    """One request: the steps of the contract, and what the audit record needs."""

    def __init__(self, action: Action, runtime: Runtime, sleep: Sleep, delete_timeout: float):
        self.action = action
        self.runtime = runtime
        self.sleep = sleep
        self.delete_timeout = delete_timeout
        self.now = runtime.clock()
        self.request: ActionRequest | None = None
        self.caller: Caller | None = None
        self.uid: str | None = None
        self.phase: Phase = "refused"
        self.details: JSON = {}

    # --- the steps -------------------------------------------------------------------------

    def serve(self, body: object, headers: dict[str, str], confirm: bool) -> Response:
        req = self.request = parse_request(self.action, body)
        api = self.runtime.clusters.client(req.cluster)
        security = self.runtime.settings.security
        caller = self.caller = authenticate(
            api, headers, mode=security.authentication, cluster=req.cluster
        )
        check_namespace(req.namespace, security.protected_namespaces, action=self.action)
        token = (
            decode(req.confirmation_token, secret=self._secret())
            if req.confirmation_token
            else None
        )
        if token is not None:
            self._check_binding(req, caller, token)
            planned = token.binding.options
            options = {k: planned.get(k, v) for k, v in DEFAULT_OPTIONS[self.action].items()}
        else:
            options = req.effective_options()
        self.details["options"] = options
        needs = (
            restart_permissions(req.name)
            if self.action == "restart"
            else delete_permissions(req.name, orphan=options["propagationPolicy"] == "Orphan")
        )
        authorize(api, caller, req.namespace, needs, action=self.action)
        if token is not None:
            return self._confirmed(api, req, token, options)
        job = get_job_json(api, req)
        self.uid = str(job["metadata"]["uid"])
        if req.dry_run:
            return self._dry_run(api, req, job, options)
        if confirm:
            return self._plan(api, req, job, options)
        plan, _, _ = self._make_plan(api, req, job, options, None, None)
        self.phase = "execute"
        return 200, self._answer(req, self._execute(api, plan))

    def _check_binding(self, req: ActionRequest, caller: Caller, token: Confirmation) -> None:
        if token.binding.caller != caller.username:
            raise DeniedError(
                f"this confirmation token was issued to {token.binding.caller}, not to "
                f"{caller.username}; ask for your own plan",
                code="not_your_token",
            )
        expected = Binding(
            self.action, req.cluster, req.namespace, req.name, "", "", caller.username, req.options
        )
        reason = token.mismatch(expected)
        if reason:
            raise BadRequestError(
                f"{reason}; confirm with the request the plan answered", code="token_mismatch"
            )

    def _make_plan(
        self,
        api: KubeApi,
        req: ActionRequest,
        job: JSON,
        options: JSON,
        token_id: str | None,
        new_name: str | None,
    ) -> tuple[Plan, JSON, JSON]:
        """(plan, its JSON for the answer, values a token must bind)."""
        if self.action == "restart":
            cfg = self.runtime.settings.restart
            plan = plan_restart(
                api,
                job,
                cfg=cfg,
                increase_memory=bool(options["increaseMemory"]),
                requested_by=self.caller.username if self.caller else "",
                confirmation_id=token_id,
                new_name=new_name,
            )
            plan_json = {
                "action": "restart",
                **plan.to_json(),
                "followTimeoutSeconds": cfg.follow_timeout_seconds,
            }
            return plan, plan_json, {"newName": plan.new_name, "digest": plan.digest}
        dplan = plan_delete(api, job, propagation=str(options["propagationPolicy"]))
        return dplan, {"action": "delete", **dplan.to_json()}, {}

    def _plan(self, api: KubeApi, req: ActionRequest, job: JSON, options: JSON) -> Response:
        from jobwarden.actions.confirm import new_token_id

        token_id = new_token_id()
        _, plan_json, planned = self._make_plan(api, req, job, options, token_id, None)
        security = self.runtime.settings.security
        assert self.caller is not None
        confirmation = issue(
            Binding(
                self.action,
                req.cluster,
                req.namespace,
                req.name,
                str(job["metadata"]["uid"]),
                str(job["metadata"]["resourceVersion"]),
                self.caller.username,
                {**options, **planned},
            ),
            secret=self._secret(),
            now=self.now,
            ttl_seconds=security.confirmation_ttl_seconds,
            token_id=token_id,
        )
        self.phase = "plan"
        self.details["confirmationId"] = token_id
        return 200, self._answer(
            req,
            {
                "status": "confirmation_required",
                "confirmationToken": confirmation.token,
                "expiresAt": rfc3339(confirmation.expires_at),
                "plan": plan_json,
                "howToConfirm": "POST the same request with confirmationToken before expiresAt",
            },
        )

    def _dry_run(self, api: KubeApi, req: ActionRequest, job: JSON, options: JSON) -> Response:
        plan, plan_json, _ = self._make_plan(api, req, job, options, None, None)
        answer: JSON = {"status": "dry_run", "plan": plan_json}
        if isinstance(plan, RestartPlan):
            from jobwarden.actions.restart import dry_run

            dry_run(api, plan)  # the API server validates the object; nothing is created
            answer["object"] = plan.manifest
        else:
            # dryRun in the DeleteOptions body: with a body, the query's dryRun is ignored
            api.delete(
                req.job_path,
                {
                    "apiVersion": "v1",
                    "kind": "DeleteOptions",
                    "dryRun": ["All"],
                    "propagationPolicy": plan.propagation,
                    "preconditions": {"uid": plan.uid},
                },
            )
        answer["serverDryRun"] = "accepted"
        self.phase = "dry_run"
        return 200, self._answer(req, answer)

    def _confirmed(
        self, api: KubeApi, req: ActionRequest, token: Confirmation, options: JSON
    ) -> Response:
        store = self.runtime.store
        self.details["confirmationId"] = token.token_id
        self.uid = token.binding.uid
        entry = ledger.lookup(store, token.token_id)
        if entry is not None and entry.state == "done" and entry.status is not None:
            self.phase = "execute"
            self.details["replayed"] = True
            return entry.status, {**(entry.body or {}), "replayed": True}
        if entry is not None and not entry.resumable(self.now, self._lease()):
            raise StaleError(
                "this confirmation is being executed by another call; retry in a moment",
                code="in_progress",
            )
        if entry is None:
            if token.expired(self.now):
                raise StaleError(
                    f"the confirmation expired at {rfc3339(token.expires_at)}; ask for a new plan",
                    code="expired",
                )
            job = get_job_json(api, req)
            self.uid = str(job["metadata"]["uid"])
            reason = token.stale(self.uid, str(job["metadata"]["resourceVersion"]))
            if reason:
                raise StaleError(f"{reason}; ask for a new plan")
            new_name = token.binding.options.get("newName")
            plan, plan_json, planned = self._make_plan(
                api, req, job, options, token.token_id, new_name
            )
            if planned.get("digest") != token.binding.options.get("digest"):
                raise StaleError(
                    "what the restart would create changed since the plan; ask for a new plan"
                )
            if not ledger.claim(store, token.token_id, plan_json, self.now):
                raise StaleError(
                    "this confirmation is being executed by another call", code="in_progress"
                )
        else:
            plan_json = entry.plan
            plan = self._plan_from(req, token, plan_json)
            ledger.resume(store, token.token_id, plan_json, self.now)
            self.details["resumed"] = True
        self.phase = "execute"
        try:
            status, body = 200, self._answer(req, self._execute(api, plan))
        except TemporaryError:
            ledger.release(store, token.token_id, plan_json, self.now)
            raise
        except JobwardenError as err:  # permanent: every retry gets this same answer
            status, body = status_for(err), error_body(err, cluster=req.cluster)
        ledger.finish(store, token.token_id, plan_json, self.runtime.clock(), status, body)
        return status, body

    def _plan_from(self, req: ActionRequest, token: Confirmation, data: JSON) -> Plan:
        uid = token.binding.uid
        if self.action == "restart":
            return RestartPlan.from_json(req.namespace, req.name, uid, data)
        return DeletePlan.from_json(req.namespace, req.name, uid, data)

    def _execute(self, api: KubeApi, plan: Plan) -> JSON:
        if isinstance(plan, RestartPlan):
            timeout = self.runtime.settings.restart.follow_timeout_seconds
            return execute_restart(
                api, plan, follow_timeout=timeout, clock=self.runtime.clock, sleep=self.sleep
            )
        return execute_delete(api, plan, timeout=self.delete_timeout, sleep=self.sleep)

    # --- helpers ---------------------------------------------------------------------------

    def _secret(self) -> str:
        security = self.runtime.settings.security
        return security.confirmation_secret(self.runtime.env).get_secret_value()

    def _lease(self) -> float:
        if self.action == "restart":
            return self.runtime.settings.restart.follow_timeout_seconds + 120.0
        return self.delete_timeout + 120.0

    def _answer(self, req: ActionRequest, body: JSON) -> JSON:
        head = {
            "action": self.action,
            "cluster": req.cluster,
            "namespace": req.namespace,
            "name": req.name,
            "uid": self.uid,
        }
        return {**head, **body}

    def audit(self, status: int, body: JSON) -> str | None:
        """Write this call's audit record; its id, or None when storage failed (logged)."""
        req, caller = self.request, self.caller
        record = AuditRecord(
            who=caller.username if caller else None,
            groups=caller.groups if caller else (),
            via=caller.via if caller else None,
            action=self.action,
            phase=self.phase if status < 400 else ("error" if status >= 500 else "refused"),
            cluster=req.cluster if req else None,
            namespace=req.namespace if req else None,
            name=req.name if req else None,
            uid=self.uid,
            when=self.now,
            result=str(body.get("status") or body.get("code") or status),
            http_status=status,
            details=summarize(self.details, body),
        )
        try:
            return write_audit(self.runtime.store, record)
        except JobwardenError as err:
            log.error("audit record not written (%s): %s", err, json.dumps(record.to_json())[:2000])
            return None


def serve(
    action: Action,
    request: HttpRequest,
    runtime: Runtime,
    *,
    sleep: Sleep = time.sleep,
    delete_timeout: float = CONFIRM_TIMEOUT_SECONDS,
) -> Answer:
    """Serve one restart or delete request; see the module docstring."""
    if request.method != "POST":
        return Answer(
            405,
            json.dumps(
                {
                    "error": f"use POST with a JSON body to {action} a Job",
                    "code": "method_not_allowed",
                }
            ),
            headers={"Allow": "POST"},
        )
    workflow = (
        runtime.settings.workflows.job_workflows.job_restart
        if action == "restart"
        else runtime.settings.workflows.job_workflows.job_delete
    )
    call = _Call(action, runtime, sleep, delete_timeout)
    try:
        status, body = call.serve(
            request.body, dict(request.headers), workflow.require_confirmation
        )
    except JobwardenError as err:
        cluster = call.request.cluster if call.request else None
        status, body = status_for(err), error_body(err, cluster=cluster)
    audit_id = call.audit(status, body)
    if audit_id is None and call.phase == "plan" and status == 200:
        return Answer.json(
            503,
            {"error": "the audit record could not be written; try again", "code": "unavailable"},
        )
    who = call.caller.username if call.caller else "anonymous"
    target = f"{call.request.namespace}/{call.request.name}" if call.request else "?"
    log.info(
        "[%s] %s by %s: %s %s", target, action, who, status, body.get("status") or body.get("code")
    )
    return Answer.json(status, {**body, "auditId": audit_id})
