"""Who is asking, and may they? Decided by the target cluster itself.

Authentication: the caller's bearer token is checked by the target cluster's
TokenReview (`kubernetes-token`), or the identity comes from a header set by a trusted
proxy (`trusted-header`: IAP / Cloud Run IAM put the user in
`X-Goog-Authenticated-User-Email`). Authorization: a SubjectAccessReview for every verb
the action needs, as that user, in the Job's namespace. So a caller can do through
jobwarden exactly what RBAC lets them do, no more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobwarden.kubeapi import KubeApi

TRUSTED_HEADER = "X-Goog-Authenticated-User-Email"


class ActionError(Exception):
    """An action refused or failed; `status` is the HTTP status the caller gets."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.details = details


@dataclass(frozen=True)
class Caller:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Permission:
    verb: str
    resource: str
    group: str = ""

    def __str__(self) -> str:
        return f"`{self.verb}` on `{self.resource}{'.' + self.group if self.group else ''}`"


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(api: KubeApi, headers: Mapping[str, str], mode: str, cluster: str) -> Caller:
    """The caller, or ActionError 401 saying what is missing."""
    if mode == "trusted-header":
        user = next((v for k, v in headers.items() if k.lower() == TRUSTED_HEADER.lower()), "")
        user = user.removeprefix("accounts.google.com:").strip()
        if not user:
            raise ActionError(401, f"no {TRUSTED_HEADER} header: is the function behind IAP?")
        return Caller(username=user)
    token = bearer_token(headers)
    if token is None:
        raise ActionError(
            401,
            f"send `Authorization: Bearer <token>` with a token of cluster {cluster} "
            "(for example `kubectl create token <serviceaccount>`)",
        )
    review = api.create(
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
    )
    status = review.get("status") or {}
    if not status.get("authenticated"):
        why = status.get("error") or "the cluster does not recognise it"
        raise ActionError(401, f"the bearer token is not valid in cluster {cluster}: {why}")
    info: dict[str, Any] = status.get("user") or {}
    return Caller(
        username=str(info.get("username", "")),
        uid=str(info.get("uid", "")),
        groups=tuple(info.get("groups") or ()),
        extra={k: list(v) for k, v in (info.get("extra") or {}).items()},
    )


def authorize(api: KubeApi, caller: Caller, namespace: str, needs: list[Permission]) -> None:
    """ActionError 403 naming the first permission RBAC does not grant the caller."""
    missing = []
    for need in needs:
        review = api.create(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": caller.username,
                    "uid": caller.uid,
                    "groups": list(caller.groups),
                    "extra": dict(caller.extra),
                    "resourceAttributes": {
                        "namespace": namespace,
                        "verb": need.verb,
                        "resource": need.resource,
                        "group": need.group,
                    },
                },
            },
        )
        if not (review.get("status") or {}).get("allowed"):
            missing.append(need)
    if missing:
        listed = ", ".join(str(m) for m in missing)
        raise ActionError(
            403,
            f"{caller.username} may not do this in namespace {namespace}: needs {listed}",
            missing=[str(m) for m in missing],
        )
