"""What restart and delete share: the request, a Job's pods, polling.

Their errors (BadRequestError 400, UnauthenticatedError 401, DeniedError 403, JobGoneError
404, StaleError 409) live with every other error in `jobwarden.errors`, which maps each to
its HTTP status and code.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from jobwarden.errors import (
    BadRequestError,
    ConflictError,
    JobGoneError,
    NotFoundError,
)
from jobwarden.kube import paths
from jobwarden.kubeapi import KubeApi

JSON = dict[str, Any]
T = TypeVar("T")
Action = Literal["restart", "delete"]
Sleep = Callable[[float], None]
Clock = Callable[[], dt.datetime]

PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")
#: Keys a request may carry besides cluster, namespace, name, dryRun, confirmationToken.
OPTION_KEYS: dict[str, tuple[str, ...]] = {
    "restart": ("increaseMemory",),
    "delete": ("propagationPolicy",),
}
DEFAULT_OPTIONS: dict[str, JSON] = {
    "restart": {"increaseMemory": False},
    "delete": {"propagationPolicy": "Background"},
}
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class ActionRequest:
    """A validated request body. `options` holds only the options the caller sent."""

    action: Action
    cluster: str
    namespace: str
    name: str
    dry_run: bool = False
    confirmation_token: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def effective_options(self) -> JSON:
        """The options with defaults filled in (Background; no memory increase)."""
        return {**DEFAULT_OPTIONS[self.action], **self.options}

    @property
    def job_path(self) -> str:
        return paths.job(self.namespace, self.name)

    def __str__(self) -> str:
        return f"job {self.namespace}/{self.name} in cluster {self.cluster}"


def parse_request(action: Action, body: object) -> ActionRequest:
    """Validate a request body; a BadRequestError names the offending key."""
    keys = OPTION_KEYS[action]
    usage = (
        'POST JSON {"cluster", "namespace", "name", "dryRun"?, "confirmationToken"?'
        + "".join(f', "{k}"?' for k in keys)
        + "}"
    )
    if not isinstance(body, dict):
        raise BadRequestError(f"the body is not a JSON object; {usage}")
    unknown = sorted(
        set(body) - {"cluster", "namespace", "name", "dryRun", "confirmationToken"} - set(keys)
    )
    if unknown:
        raise BadRequestError(f"unknown key(s) {', '.join(map(repr, unknown))[:200]}; {usage}")
    for key in ("cluster", "namespace", "name"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise BadRequestError(f"`{key}` must be a non-empty string; {usage}")
    namespace, name = body["namespace"], body["name"]
    if len(namespace) > 63 or not _NAMESPACE.match(namespace):
        raise BadRequestError(f"`namespace` {namespace[:70]!r} is not a Kubernetes namespace name")
    if len(name) > 253 or not _NAME.match(name):
        raise BadRequestError(f"`name` {name[:70]!r} is not a Kubernetes Job name")
    dry_run = body.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise BadRequestError("`dryRun` must be true or false")
    token = body.get("confirmationToken")
    if token is not None and (not isinstance(token, str) or not token):
        raise BadRequestError("`confirmationToken` must be the string a plan answered with")
    if dry_run and token:
        raise BadRequestError("send either `dryRun` or `confirmationToken`, not both")
    options = {k: body[k] for k in keys if k in body}
    if "increaseMemory" in options and not isinstance(options["increaseMemory"], bool):
        raise BadRequestError("`increaseMemory` must be true or false")
    policy = options.get("propagationPolicy")
    if "propagationPolicy" in options and policy not in PROPAGATION_POLICIES:
        raise BadRequestError(
            f"`propagationPolicy` {str(policy)[:40]!r} is not one of "
            f"{', '.join(PROPAGATION_POLICIES)} (default Background)"
        )
    return ActionRequest(
        action=action,
        cluster=body["cluster"][:200],
        namespace=namespace,
        name=name,
        dry_run=dry_run,
        confirmation_token=token,
        options=options,
    )


def get_job_json(api: KubeApi, request: ActionRequest) -> JSON:
    """The Job as JSON, or JobGoneError (404)."""
    try:
        return api.get(request.job_path)
    except NotFoundError as err:
        raise JobGoneError(
            f"{request} does not exist (deleted, or removed by ttlSecondsAfterFinished)"
        ) from err


def pod_name(pod: JSON) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


def delete_pods(api: KubeApi, pods: list[JSON]) -> list[str]:
    """Delete these pods (Background, uid precondition); names of those deleted now."""
    deleted = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        options = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
            "preconditions": {"uid": meta.get("uid")},
        }
        try:
            api.delete(paths.pod(str(meta.get("namespace")), str(meta.get("name"))), options)
        except (NotFoundError, ConflictError):
            continue  # already gone, or a different pod now has this name
        deleted.append(str(meta.get("name")))
    return deleted


def poll(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    sleep: Sleep = time.sleep,
    interval: float = 0.5,
) -> T | None:
    """Call `probe` until it returns something truthy or `timeout` seconds passed (then None)."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            return None
        sleep(interval)
