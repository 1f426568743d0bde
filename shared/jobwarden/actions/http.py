"""The restart / delete HTTP contract, in one function: `serve` (the edge calls it).

    POST {"cluster","namespace","name", "dryRun"?, "confirmationToken"?,
          "increaseMemory"? (restart), "propagationPolicy"? (delete)}
    Authorization: Bearer <token>   (or, with `iap`, IAP's X-Goog-IAP-JWT-Assertion)
    Idempotency-Key: <1-255 printable ASCII>   (optional; without confirmation only)

| case                                                        | status | `status` / `code`  |
|-------------------------------------------------------------|--------|--------------------|
| malformed body or Idempotency-Key, unknown cluster, request | 400    | bad_request,       |
|   differs from its plan, plan impossible (memory at cap)    |        | unknown_cluster... |
| a confirmation token that is not ours (shape, base64,       | 400    | bad_token          |
|   non-ASCII, signature)                                     |        |                    |
| no or invalid token / identity header                       | 401    | unauthenticated    |
| RBAC says no, protected namespace, another caller's token,  | 403    | forbidden, ...     |
|   the cluster refused a write made as the caller (RBAC,     |        |                    |
|   admission policy or webhook: its message), workflow       |        | disabled           |
|   disabled (`enabled: false`; nothing is written)           |        |                    |
| Job not found                                               | 404    | not_found          |
| Job changed since the plan, token expired, Job unfinished   | 409    | stale, expired,    |
|   (restart), the same token or key executing in another     |        | in_progress        |
|   call, a ledger record altered or not this token's         |        |                    |
| an Idempotency-Key already used for a different request     | 422    | idempotency_key_reused |
| confirmation required and none given                        | 200    | confirmation_required |
| dry run                                                     | 200    | dry_run            |
| done (delete: `deleting` when not gone within the timeout)  | 200    | restarted, deleted |
| cluster API or storage unavailable                          | 503    | unavailable        |
| jobwarden misconfigured or its own RBAC too narrow          | 500    | config, ...        |

Order of checks: enabled (at the edge), method, body, cluster, authentication, protected
namespace, the token's signature and binding, RBAC (SubjectAccessReview as the caller),
expiry, the ledger record, the Job. Reads are jobwarden's; every write, and the dry run of
each, is made as the caller (Kubernetes impersonation, `KubeApi.impersonating`), so RBAC,
admission and the API server's audit judge that person: a restart's create is dry-run as
the caller before any pod is deleted, so an admission denial changes nothing.

A confirmed call executes exactly the plan its signed token names: on the first call, a
retry and a resume alike the plan is derived again from the live Job and must have the
token's digest, new name and Job uid, before the token's expiry. The ledger record
(`jobwarden.actions.ledger`) is authenticated with the confirmation key and bound to the
token; one that does not verify or match is 409 `stale` and nothing runs. A token confirms
once: a retried call gets the first answer back (`"replayed": true`). With
`requireConfirmation: false` a request executes at once; with an `Idempotency-Key` (per
caller) a retry gets the first answer back, and the same key with another request is 422
(the IETF idempotency-key draft's answer for a reused key; 409 is kept for "in progress").

An execution's answer (first, retried or replayed) is also a `jobRestart` / `jobDelete`
report, stored and routed like every report, once per execution (`jobwarden.actions.outcome`).

Every answer but `disabled` and a wrong method is audited; an execution is audited before
it acts (`intent`; if that record cannot be written, nothing is done: 503) and after.
Statuses come from `jobwarden.errors.status_for`, like every target's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping

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
from jobwarden.actions.confirm import Binding, Confirmation, decode, issue, new_token_id
from jobwarden.actions.delete import (
    CONFIRM_TIMEOUT_SECONDS,
    DeletePlan,
    execute_delete,
    plan_delete,
)
from jobwarden.actions.newjob import MemoryChange
from jobwarden.actions.outcome import report_outcome
from jobwarden.actions.restart import RestartPlan, dry_run, execute_restart, plan_restart
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
    IdempotencyKeyReusedError,
    JobGoneError,
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
IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


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
        self.job_meta: JSON | None = None  # the Job's metadata when read (outcome routing)

    # --- the steps -------------------------------------------------------------------------

    def serve(self, body: object, headers: dict[str, str], confirm: bool) -> Response:
        req = self.request = parse_request(self.action, body)
        key = _header(headers, IDEMPOTENCY_HEADER)
        if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
            raise BadRequestError(
                f"`{IDEMPOTENCY_HEADER}` must be 1 to 255 printable ASCII characters (a UUID, say)"
            )
        api = self.runtime.clusters.client(req.cluster)
        security = self.runtime.settings.security
        caller = self.caller = authenticate(api, headers, security=security, cluster=req.cluster)
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
        # Reads stay jobwarden's; every write (and its dry run) is made as the caller.
        as_caller = api.impersonating(caller)
        if token is not None:
            return self._confirmed(api, as_caller, req, token, options)
        job = get_job_json(api, req)
        self.uid = str(job["metadata"]["uid"])
        self.job_meta = job["metadata"]
        if req.dry_run:
            return self._dry_run(api, as_caller, req, job, options)
        if confirm:
            return self._plan(api, req, job, options)
        if key is not None:
            return self._idempotent(api, as_caller, req, job, options, key)
        plan, _, _ = self._make_plan(api, req, job, options, None, None)
        return self._run(as_caller, req, plan, None, None)

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
        entry_id: str | None,
        new_name: str | None,
        memory: list[MemoryChange] | None = None,
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
                confirmation_id=entry_id,
                new_name=new_name,
                memory=memory,
            )
            plan_json = {
                "action": "restart",
                **plan.to_json(),
                "followTimeoutSeconds": cfg.follow_timeout_seconds,
            }
            return plan, plan_json, {"newName": plan.new_name, "digest": plan.digest}
        dplan = plan_delete(api, job, propagation=str(options["propagationPolicy"]))
        return dplan, {"action": "delete", **dplan.to_json()}, {"digest": dplan.digest}

    def _plan(self, api: KubeApi, req: ActionRequest, job: JSON, options: JSON) -> Response:
        token_id = new_token_id()
        plan, plan_json, planned = self._make_plan(api, req, job, options, token_id, None)
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
        self.details["plan"] = plan.redacted()
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

    def _dry_run(
        self, api: KubeApi, as_caller: KubeApi, req: ActionRequest, job: JSON, options: JSON
    ) -> Response:
        plan, plan_json, _ = self._make_plan(api, req, job, options, None, None)
        answer: JSON = {"status": "dry_run", "plan": plan_json}
        if isinstance(plan, RestartPlan):
            dry_run(as_caller, plan)  # the API server validates and admits; nothing is created
            answer["object"] = plan.manifest
        else:
            # dryRun in the DeleteOptions body: with a body, the query's dryRun is ignored
            as_caller.delete(
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
        self.details["plan"] = plan.redacted()
        return 200, self._answer(req, answer)

    def _confirmed(
        self,
        api: KubeApi,
        as_caller: KubeApi,
        req: ActionRequest,
        token: Confirmation,
        options: JSON,
    ) -> Response:
        """Execute exactly the plan the token names: first call, retry or resume alike."""
        self.details["confirmationId"] = token.token_id
        self.uid = token.binding.uid
        if token.expired(self.now):
            raise StaleError(
                f"the confirmation expired at {rfc3339(token.expires_at)}; ask for a new plan",
                code="expired",
            )
        planned = token.binding.options
        new_name = planned.get("newName")
        expected = ledger.Binding(
            id=token.token_id,
            action=self.action,
            cluster=req.cluster,
            namespace=req.namespace,
            name=req.name,
            uid=token.binding.uid,
            caller=token.binding.caller,
            digest=str(planned.get("digest") or ""),
            new_name=new_name if isinstance(new_name, str) else None,
        )
        entry = ledger.lookup(
            self.runtime.store, token.token_id, secret=self._secret(), expected=expected
        )
        replayed = self._replay_or_wait(entry)
        if replayed is not None:
            return replayed
        plan = self._derive(
            api, req, options, expected, entry, token.binding.resource_version, "the plan"
        )
        return self._run(as_caller, req, plan, expected, entry)

    def _idempotent(
        self,
        api: KubeApi,
        as_caller: KubeApi,
        req: ActionRequest,
        job: JSON,
        options: JSON,
        key: str,
    ) -> Response:
        """No confirmation: a retry with the same `Idempotency-Key` gets the first answer."""
        assert self.caller is not None
        entry_id = ledger.idempotency_id(self.caller.username, key)
        self.details["idempotencyId"] = entry_id
        what = {"action": self.action, "cluster": req.cluster, "namespace": req.namespace}
        request = ledger.canonical({**what, "name": req.name, "options": options})
        fingerprint = hashlib.sha256(request).hexdigest()[:32]
        entry = ledger.lookup(self.runtime.store, entry_id, secret=self._secret(), expected=None)
        if entry is not None:
            if entry.binding.caller != self.caller.username:
                raise StaleError(f"the ledger record of {entry_id} belongs to another caller")
            if entry.binding.request != fingerprint:
                raise IdempotencyKeyReusedError(
                    f"you already sent {IDEMPOTENCY_HEADER} {key[:80]!r} with a different "
                    f"request ({entry.binding.action} {entry.binding.namespace}/"
                    f"{entry.binding.name}); use a new key for a new request"
                )
            replayed = self._replay_or_wait(entry)
            if replayed is not None:
                return replayed
            plan = self._derive(api, req, options, entry.binding, entry, None, "the first attempt")
            return self._run(as_caller, req, plan, entry.binding, entry)
        plan, _, _ = self._make_plan(api, req, job, options, entry_id, None)
        binding = ledger.Binding(
            id=entry_id,
            action=self.action,
            cluster=req.cluster,
            namespace=req.namespace,
            name=req.name,
            uid=str(job["metadata"]["uid"]),
            caller=self.caller.username,
            digest=plan.digest,
            new_name=plan.new_name if isinstance(plan, RestartPlan) else None,
            request=fingerprint,
        )
        return self._run(as_caller, req, plan, binding, None)

    def _replay_or_wait(self, entry: ledger.Entry | None) -> Response | None:
        """The first answer of a finished execution, 409 while one runs, or None: execute."""
        if entry is None:
            return None
        if entry.state == "done" and entry.status is not None:
            self.phase = "execute"
            self.details["replayed"] = True
            return entry.status, {**(entry.body or {}), "replayed": True}
        if not entry.resumable(self.now, self._lease()):
            raise StaleError(
                "this confirmation is being executed by another call; retry in a moment",
                code="in_progress",
            )
        return None

    def _derive(
        self,
        api: KubeApi,
        req: ActionRequest,
        options: JSON,
        expected: ledger.Binding,
        entry: ledger.Entry | None,
        resource_version: str | None,
        since: str,
    ) -> Plan:
        """The plan again, from the live Job; StaleError unless it is exactly `expected`."""
        try:
            job = get_job_json(api, req)
        except JobGoneError:
            if entry is None or self.action != "delete":
                raise
            # a resumed delete whose Job is gone already: finish with its pods
            gone = DeletePlan.gone(
                req.namespace, req.name, expected.uid, str(options["propagationPolicy"])
            )
            if gone.digest != expected.digest:
                raise StaleError(f"the delete differs from {since}; ask for a new plan") from None
            return gone
        uid = str(job["metadata"]["uid"])
        self.job_meta = job["metadata"]
        if uid != expected.uid:
            raise StaleError(
                f"the Job was replaced since {since} (uid {expected.uid} -> {uid}); "
                "ask for a new plan"
            )
        version = str(job["metadata"].get("resourceVersion"))
        if entry is None and resource_version is not None and version != resource_version:
            raise StaleError(
                f"the Job changed since {since} (resourceVersion {resource_version} -> "
                f"{version}); ask for a new plan"
            )
        memory = (
            [MemoryChange.from_json(m) for m in entry.binding.memory]
            if entry is not None and self.action == "restart"
            else None
        )
        plan, _, _ = self._make_plan(api, req, job, options, expected.id, expected.new_name, memory)
        if plan.digest != expected.digest:
            what = "the restart would create" if self.action == "restart" else "would be deleted"
            raise StaleError(f"what {what} changed since {since}; ask for a new plan")
        return plan

    def _run(
        self,
        as_caller: KubeApi,
        req: ActionRequest,
        plan: Plan,
        binding: ledger.Binding | None,
        entry: ledger.Entry | None,
    ) -> Response:
        """Claim (or resume) the ledger record, audit the intent, act as the caller, record."""
        summary = plan.redacted()
        self.details["plan"] = summary
        self.details["actedAs"] = as_caller.acting_as
        book = None
        if binding is not None:
            if isinstance(plan, RestartPlan):
                memory = tuple(m.to_json() for m in plan.memory)
                binding = dataclasses.replace(binding, memory=memory)
            book = ledger.Ledger(self.runtime.store, binding, summary, secret=self._secret())
            if entry is None:
                if not book.claim(self.now):
                    raise StaleError(
                        "this confirmation is being executed by another call", code="in_progress"
                    )
            else:
                book.resume(self.now)
                self.details["resumed"] = True
        try:
            self.details["intentId"] = self._audit_intent()
        except TemporaryError:
            if book is not None:
                book.release(self.runtime.clock())
            raise
        self.phase = "execute"
        try:
            status, body = 200, self._answer(req, self._execute(as_caller, plan))
        except TemporaryError:
            if book is not None:
                book.release(self.runtime.clock())
            raise
        except JobwardenError as err:  # permanent: every retry gets this same answer
            if book is None:
                raise
            status, body = status_for(err), error_body(err, cluster=req.cluster)
        if book is not None:
            book.finish(self.runtime.clock(), status, body)
        return status, body

    def _execute(self, as_caller: KubeApi, plan: Plan) -> JSON:
        if isinstance(plan, RestartPlan):
            timeout = self.runtime.settings.restart.follow_timeout_seconds
            return execute_restart(
                as_caller,
                plan,
                follow_timeout=timeout,
                clock=self.runtime.clock,
                sleep=self.sleep,
            )
        return execute_delete(as_caller, plan, timeout=self.delete_timeout, sleep=self.sleep)

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

    def _record(self, phase: Phase, status: int | None, result: str, body: JSON) -> AuditRecord:
        req, caller = self.request, self.caller
        return AuditRecord(
            who=caller.username if caller else None,
            groups=caller.groups if caller else (),
            via=caller.via if caller else None,
            action=self.action,
            phase=phase,
            cluster=req.cluster if req else None,
            namespace=req.namespace if req else None,
            name=req.name if req else None,
            uid=self.uid,
            when=self.runtime.clock(),  # intent and outcome sort in the order written
            result=result,
            http_status=status,
            details=summarize(self.details, body),
        )

    def _audit_intent(self) -> str:
        """Write the intent record before acting; a storage failure stops the action (503)."""
        return write_audit(self.runtime.store, self._record("intent", None, "executing", {}))

    def audit(self, status: int, body: JSON) -> str | None:
        """Write this call's outcome record; its id, or None when storage failed (logged)."""
        phase: Phase = self.phase if status < 400 else ("error" if status >= 500 else "refused")
        result = str(body.get("status") or body.get("code") or status)
        record = self._record(phase, status, result, body)
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
    except Exception as err:  # a bug: still answered and audited (the contract), then logged
        log.exception("%s: unexpected error", action)
        status, body = status_for(err), error_body(err)
    audit_id = call.audit(status, body)
    if call.phase == "execute" and status == 200 and call.request is not None and call.uid:
        report_outcome(
            action,
            runtime,
            cluster=call.request.cluster,
            namespace=call.request.namespace,
            name=call.request.name,
            uid=call.uid,
            who=call.caller.username if call.caller else "anonymous",
            body=body,
            details=call.details,
            job_meta=call.job_meta,
        )
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
