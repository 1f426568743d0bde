"""Who is calling, and may they do this? Used by restart, delete and the on-demand reports.

Authentication (`security.authentication`):
- `kubernetes-token` (default): `Authorization: Bearer <token>` is sent to the target
  cluster's TokenReview API (with `security.tokenReviewAudiences` when set); the cluster
  says whether it is valid and whose it is (user, groups, uid, extra). Any token the
  cluster accepts works: ServiceAccount tokens, OIDC tokens on clusters configured for
  them, GKE Google tokens.
- `iap`: the caller is the `email` claim of a verified `X-Goog-IAP-JWT-Assertion`
  (`jobwarden.iap`: ES256 signature by IAP's published keys, issuer, `security.iap.audience`,
  expiry), with the group `system:authenticated`. A request without one, or with one
  that fails any check, is 401 whatever other headers it carries (an unsigned
  `X-Goog-Authenticated-User-Email` proves nothing).

Authorization, in both modes: one SubjectAccessReview per verb the request needs, as the
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

from jobwarden.config import SecurityConfig
from jobwarden.errors import DeniedError, UnauthenticatedError
from jobwarden.kube import paths
from jobwarden.kubeapi import KubeApi

Mode = Literal["kubernetes-token", "iap"]


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
    subresource: str = ""

    def __str__(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        if self.subresource:
            what = f"{self.resource}/{self.subresource}"
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


def read_permissions(job: str, *, logs: bool) -> list[Permission]:
    """An on-demand report reads the Job, lists its pods and events, and maybe pod logs."""
    needs = [
        Permission("get", "jobs", "batch", job),
        Permission("list", "pods"),
        Permission("list", "events"),
    ]
    return [*needs, Permission("get", "pods", subresource="log")] if logs else needs


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


def authenticate(
    api: KubeApi, headers: Mapping[str, str], *, security: SecurityConfig, cluster: str
) -> Caller:
    """The caller, from a verified IAP assertion or a TokenReview of their bearer token."""
    if security.authentication == "iap":
        from jobwarden import iap

        assertion = _header(headers, iap.HEADER)
        if not assertion or security.iap is None:
            raise UnauthenticatedError(
                f"no {iap.HEADER} header: this function only answers requests that come "
                "through Identity-Aware Proxy"
            )
        identity = iap.verify(
            assertion, audience=security.iap.audience, keys=iap.key_set(security.iap.jwks_url)
        )
        return Caller(username=identity.email, groups=("system:authenticated",), via="iap")
    token = _bearer(headers)
    spec: dict[str, object] = {"token": token}
    if security.token_review_audiences:
        spec["audiences"] = list(security.token_review_audiences)
    review = api.create(
        paths.TOKEN_REVIEWS,
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec},
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
        via="kubernetes-token",
    )


def check_namespace(namespace: str, protected: Sequence[str], *, action: str) -> None:
    if namespace in protected:
        raise DeniedError(
            f"namespace {namespace} is protected (security.protectedNamespaces): "
            f"jobwarden refuses to {action} there",
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
    if permission.subresource:
        attributes["subresource"] = permission.subresource
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
        where = f"in namespace {namespace}" if namespace else "in every namespace"
        grant = "a Role and RoleBinding" if namespace else "a ClusterRole and ClusterRoleBinding"
        raise DeniedError(
            f"{caller.username} may not {action} here: needs {wanted} {where}; "
            f"grant it with {grant}"
        )
