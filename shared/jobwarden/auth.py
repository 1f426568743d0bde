"""Who is calling, and may they do this? The target cluster answers both questions.

Authentication (`security.authentication`):
- `kubernetes-token` (default): `Authorization: Bearer <token>` is sent to the target
  cluster's TokenReview API; the cluster says whether it is valid and whose it is (user,
  groups, uid, extra). Any token the cluster accepts works: ServiceAccount tokens,
  OIDC tokens on clusters configured for them, GKE Google tokens.
- `trusted-header`: for deployments behind IAP (or another proxy that authenticates
  and sets the header): the user is the `X-Goog-Authenticated-User-Email` header, minus
  IAP's `accounts.google.com:` prefix, with the group `system:authenticated`. Only safe
  when nothing but that proxy can reach the function (Cloud Run ingress
  "internal-and-cloud-load-balancing"); the header is not otherwise verified.

Authorization, in both modes: one SubjectAccessReview per verb the action uses, as the
caller, in the Job's namespace. Every missing permission is named in one 403. Protected
namespaces (`security.protectedNamespaces`) are refused whatever RBAC says.

TokenReview and SubjectAccessReview are created with jobwarden's own credentials for the
cluster, which need `create` on `tokenreviews` and `subjectaccessreviews` (the built-in
ClusterRole `system:auth-delegator`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from jobwarden.errors import DeniedError, UnauthenticatedError
from jobwarden.kube import paths
from jobwarden.kubeapi import KubeApi

TRUSTED_USER_HEADER = "X-Goog-Authenticated-User-Email"
IAP_PREFIX = "accounts.google.com:"
Mode = Literal["kubernetes-token", "trusted-header"]


@dataclass(frozen=True)
class Caller:
    """The authenticated user, as the cluster knows them."""

    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    via: Mode = "kubernetes-token"


@dataclass(frozen=True)
class Permission:
    """One verb on one resource that an action needs (name: for get/delete of one object)."""

    verb: str
    resource: str
    group: str = ""
    name: str | None = None

    def __str__(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"`{self.verb}` on `{what}`"


def restart_permissions(job: str) -> list[Permission]:
    """Restart reads the Job, lists and deletes its pods, creates the new Job.

    It does not delete the old Job (it stays as the record of the failed run), so
    `delete jobs` is not needed.
    """
    return [
        Permission("get", "jobs", "batch", job),
        Permission("list", "pods"),
        Permission("delete", "pods"),
        Permission("create", "jobs", "batch"),
    ]


def delete_permissions(job: str, *, orphan: bool) -> list[Permission]:
    """Delete reads and deletes the Job, lists its pods and (unless Orphan) deletes them."""
    needs = [
        Permission("get", "jobs", "batch", job),
        Permission("delete", "jobs", "batch", job),
        Permission("list", "pods"),
    ]
    return needs if orphan else [*needs, Permission("delete", "pods")]


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), "").strip()


def _bearer(headers: Mapping[str, str]) -> str:
    value = _header(headers, "Authorization")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError(
            "send `Authorization: Bearer <token>` with a token the target cluster accepts "
            "(for example from `kubectl create token <serviceaccount>`)",
            code="unauthenticated",
        )
    return token.strip()


def authenticate(api: KubeApi, headers: Mapping[str, str], *, mode: Mode, cluster: str) -> Caller:
    """The caller, from a TokenReview of their bearer token or from the trusted header."""
    if mode == "trusted-header":
        email = _header(headers, TRUSTED_USER_HEADER).removeprefix(IAP_PREFIX).strip()
        if not email:
            raise UnauthenticatedError(
                f"no {TRUSTED_USER_HEADER} header: this function must be called through "
                "the identity-aware proxy that sets it"
            )
        return Caller(username=email[:256], groups=("system:authenticated",), via=mode)
    token = _bearer(headers)
    review = api.create(
        paths.TOKEN_REVIEWS,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}},
    )
    result: dict[str, Any] = review.get("status") or {}
    user: dict[str, Any] = result.get("user") or {}
    if not result.get("authenticated") or not user.get("username"):
        why = str(result.get("error") or "not authenticated")[:200]
        raise UnauthenticatedError(
            f"cluster {cluster} did not accept the bearer token ({why}); "
            "send a valid, unexpired token for this cluster"
        )
    extra = {str(k): tuple(str(x) for x in v or []) for k, v in (user.get("extra") or {}).items()}
    return Caller(
        username=str(user["username"]),
        groups=tuple(str(g) for g in user.get("groups") or []),
        uid=str(user.get("uid") or ""),
        extra=extra,
        via=mode,
    )


def check_namespace(namespace: str, protected: Sequence[str], *, action: str) -> None:
    if namespace in protected:
        raise DeniedError(
            f"namespace {namespace} is protected (security.protectedNamespaces): "
            f"jobwarden never runs {action} there",
            code="protected_namespace",
        )


def allowed(api: KubeApi, caller: Caller, namespace: str, permission: Permission) -> bool:
    """One SubjectAccessReview: may `caller` do `permission` in `namespace`?"""
    attributes = {
        "namespace": namespace,
        "verb": permission.verb,
        "group": permission.group,
        "resource": permission.resource,
    }
    if permission.name:
        attributes["name"] = permission.name
    spec: dict[str, object] = {
        "user": caller.username,
        "groups": list(caller.groups),
        "resourceAttributes": attributes,
    }
    if caller.uid:
        spec["uid"] = caller.uid
    if caller.extra:
        spec["extra"] = {k: list(v) for k, v in caller.extra.items()}
    review = api.create(
        paths.SUBJECT_ACCESS_REVIEWS,
        {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec},
    )
    return bool((review.get("status") or {}).get("allowed"))


def authorize(
    api: KubeApi,
    caller: Caller,
    namespace: str,
    needs: Sequence[Permission],
    *,
    action: str,
) -> None:
    """Raise DeniedError naming every permission in `needs` that RBAC refuses the caller."""
    missing = [p for p in needs if not allowed(api, caller, namespace, p)]
    if missing:
        wanted = " and ".join(str(p) for p in missing)
        raise DeniedError(
            f"{caller.username} may not {action} here: needs {wanted} in namespace {namespace}; "
            "grant it with a Role and RoleBinding"
        )
