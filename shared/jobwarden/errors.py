"""The package's one error root, what a caller should do with each error, and its HTTP answer.

JobwardenError                  (500 internal)
├── PermanentError              retrying will not help: acknowledge the input, report the defect
│   ├── ConfigError             (500 config) the configuration is invalid (names the key path)
│   ├── MalformedEventError     (400 malformed) an event that can never be processed
│   ├── BadRequestError         (400 bad_request) a request that cannot be served as sent
│   │   ├── UnknownClusterError (400 unknown_cluster) the cluster is not configured
│   │   └── InvalidTokenError   (400 bad_token) a confirmation token that is not ours
│   ├── UnauthenticatedError    (401 unauthenticated) no or invalid credentials
│   ├── DeniedError             (403 forbidden) the caller may not do this
│   │   └── DisabledError       (403 disabled) the workflow is switched off
│   ├── JobGoneError            (404 not_found) the Job does not exist (any more)
│   ├── IdempotencyKeyReusedError (422 idempotency_key_reused) the key came with another request
│   ├── StaleError              (409 stale) the Job changed since the plan, or a token expired
│   ├── ApiError                (502 api_error) the Kubernetes API refused a request
│   │   ├── NotFoundError       (404 not_found) the object is gone
│   │   ├── ForbiddenError      (500 jobwarden_forbidden) jobwarden's own RBAC says no
│   │   ├── CallerRefusedError  (403 forbidden) RBAC or admission refused a write made as the caller
│   │   ├── ConflictError       (409 conflict) changed or already exists
│   │   └── InvalidError        (400 invalid) the API server refused the request as invalid
│   └── WebhookRejectedError    (502 webhook_rejected) a webhook answered 4xx (not 408/429)
└── TemporaryError              (503 unavailable) a dependency is down or busy: retry
    ├── ApiUnavailableError     unreachable, 429 or 5xx from the Kubernetes API
    │   └── CredentialsError    (503 cluster_credentials) the cluster refused jobwarden's
    │                           credentials (401) even just after reading them again
    ├── StorageUnavailableError the report store cannot be read or written for now
    ├── WebhookUnavailableError a webhook keeps failing (408/429/5xx/timeouts) after retries
    ├── DeliveryInProgressError another delivery holds the claim to post this report
    └── UsageUnavailableError   Prometheus cannot say a container's usage (never fails a
                                report: the report says why usage is missing)

(The exporter and the development tooling derive their own errors from this root.)

Each class carries its HTTP `status` and a stable `code`; `status_for(error)` and
`error_body(error)` are the one place an exception becomes an HTTP answer, for every
HTTP target. A CloudEvent function acknowledges a PermanentError (logged once, never
retried) and raises a TemporaryError so that the platform redelivers the event.

Every message says what went wrong, where, and what to do about it.
"""

from __future__ import annotations

import reprlib
from typing import Any, Final

EXCERPT_LIMIT: Final = 200
_NOTHING: Final = object()
_BYTES: Final = (bytes, bytearray, memoryview)
_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxdict, _repr.maxlist, _repr.maxstring, _repr.maxother = 3, 8, 8, 80, 80


def excerpt(payload: object, limit: int = EXCERPT_LIMIT) -> str:
    """A short, safe rendering of any payload, at most `limit` characters (for errors, logs)."""
    if isinstance(payload, _BYTES):
        text = repr(bytes(payload[: limit + 1]))
    elif isinstance(payload, str):
        text = repr(payload[: limit + 1])
    else:
        text = _repr.repr(payload)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class JobwardenError(Exception):
    """Root of every error jobwarden raises on purpose."""

    status: int = 500
    code: str = "internal"


class PermanentError(JobwardenError):
    """Retrying will not help: acknowledge the input and report the defect."""


class TemporaryError(JobwardenError):
    """A dependency is unavailable for now: raise so the caller retries."""

    status, code = 503, "unavailable"


class ConfigError(PermanentError):
    """The configuration is invalid; the message names the key path and the reason."""

    status, code = 500, "config"


class MalformedEventError(PermanentError):
    """An event that can never be processed (bad envelope, base64, JSON, shape or identity).

    `message_id` is the Pub/Sub message id or CloudEvent id (None when the input has none);
    `defect` says what is wrong; the message quotes at most 200 characters of the payload.
    """

    status, code = 400, "malformed"

    def __init__(self, message_id: str | None, defect: str, payload: object = _NOTHING) -> None:
        self.message_id = message_id
        self.defect = defect
        text = f"event {message_id or '(no id)'}: {defect}"
        if payload is not _NOTHING:
            text += f"; payload: {excerpt(payload)}"
        super().__init__(text + " (cannot be processed: acknowledge it, do not retry)")


class BadRequestError(PermanentError):
    """A request that cannot be served as sent; the message names the offending key."""

    status, code = 400, "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class UnknownClusterError(BadRequestError):
    """An event or request names a cluster that is not in the configuration."""

    status, code = 400, "unknown_cluster"


class InvalidTokenError(BadRequestError):
    """A confirmation token that is not one of ours: bad format, or the signature differs."""

    status, code = 400, "bad_token"


class UnauthenticatedError(BadRequestError):
    """No credentials, or credentials the cluster does not accept."""

    status, code = 401, "unauthenticated"


class DeniedError(BadRequestError):
    """The caller is not allowed this (RBAC, protected namespace, someone else's token)."""

    status, code = 403, "forbidden"


class DisabledError(DeniedError):
    """The workflow is switched off in the configuration (`enabled: false`)."""

    status, code = 403, "disabled"


class JobGoneError(BadRequestError):
    """The Job does not exist (any more): deleted, or never created."""

    status, code = 404, "not_found"


class IdempotencyKeyReusedError(BadRequestError):
    """An `Idempotency-Key` the caller already used for a different request."""

    status, code = 422, "idempotency_key_reused"


class StaleError(BadRequestError):
    """The Job changed since the plan, the confirmation expired, or it is being executed."""

    status, code = 409, "stale"


class ApiError(PermanentError):
    """The Kubernetes API answered a request with an error status."""

    status, code = 502, "api_error"

    def __init__(
        self, message: str, *, status: int, method: str, path: str, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.http_status = status  # what the API server answered
        self.method = method
        self.path = path
        self.reason = reason


class NotFoundError(ApiError):
    """404: the object does not exist (any more)."""

    status, code = 404, "not_found"


class ForbiddenError(ApiError):
    """403 to jobwarden's own credentials: its RBAC does not allow the request."""

    status, code = 500, "jobwarden_forbidden"


class CallerRefusedError(ApiError):
    """A request jobwarden made as the caller (impersonated) was refused for that person.

    403 from RBAC, or an admission denial (a ValidatingAdmissionPolicy or webhook: 403, or
    422 "denied request"). Nothing was changed by that request; the message is the cluster's.
    """

    status, code = 403, "forbidden"


class ConflictError(ApiError):
    """409: the object changed since it was read, or already exists."""

    status, code = 409, "conflict"


class InvalidError(ApiError):
    """400/422: the API server refused the request body or parameters (or admission did)."""

    status, code = 400, "invalid"


class ApiUnavailableError(TemporaryError):
    """The Kubernetes API is unreachable, throttling (429) or failing (5xx)."""

    def __init__(self, message: str, *, method: str, path: str, status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = status
        self.method = method
        self.path = path


class CredentialsError(ApiUnavailableError):
    """The API server refused jobwarden's own credentials (401), also right after re-reading them.

    Temporary on purpose: a token file or kubeconfig being rotated, a Secret not yet
    remounted or a clock skew heal without a restart, and an event that keeps failing ends
    in the dead-letter topic instead of being acknowledged unreported. The message names
    the cluster and where its credentials come from, never the credentials.
    """

    code = "cluster_credentials"


class StorageUnavailableError(TemporaryError):
    """The report store (a directory or a bucket) could not be read or written for now."""

    def __init__(self, message: str, *, location: str) -> None:
        super().__init__(message)
        self.location = location


class WebhookRejectedError(PermanentError):
    """A webhook answered a post with a 4xx other than 408 and 429: resending will not help.

    Carries the webhook's name and HTTP status, never its URL (the URL is a secret).
    """

    status, code = 502, "webhook_rejected"

    def __init__(self, message: str, *, webhook: str, status: int | None = None) -> None:
        super().__init__(message)
        self.webhook = webhook
        self.http_status = status


class WebhookUnavailableError(TemporaryError):
    """A webhook kept failing (408, 429, 5xx, timeouts) after every retry: try again later.

    Carries the webhook's name and last HTTP status (None for connection errors).
    """

    def __init__(self, message: str, *, webhook: str, status: int | None = None) -> None:
        super().__init__(message)
        self.webhook = webhook
        self.http_status = status


class DeliveryInProgressError(TemporaryError):
    """Another delivery holds the claim to post this report to this webhook: retry later."""

    def __init__(self, message: str, *, webhook: str) -> None:
        super().__init__(message)
        self.webhook = webhook


class UsageUnavailableError(TemporaryError):
    """Prometheus could not answer (unreachable, refused the credentials, an error): the
    report is made without usage over time and shows this message as the reason."""


def status_for(error: BaseException) -> int:
    """The HTTP status every HTTP target answers for `error` (500 for anything unexpected)."""
    return error.status if isinstance(error, JobwardenError) else 500


def error_body(error: BaseException, *, cluster: str | None = None) -> dict[str, Any]:
    """`{"error", "code"}` for `error`: the message, with what the caller can do about it."""
    if not isinstance(error, JobwardenError):
        return {"error": "internal error; see the function's log", "code": "internal"}
    where = f"cluster {cluster}" if cluster else "the cluster"
    message = str(error)[:1000]
    if isinstance(error, ForbiddenError):
        message = f"jobwarden's own credentials for {where} are not allowed this: {message}"
    elif isinstance(error, InvalidError):
        message = f"{where} refused the request: {message}"
    elif isinstance(error, CallerRefusedError):
        message = f"{where} refused this request made as you: {message}"
    elif type(error) is ApiError:
        message = f"{where} answered: {message}"
    elif isinstance(error, TemporaryError):
        message = f"{message}; try again"
    elif isinstance(error, ConfigError):
        message = f"jobwarden is misconfigured: {message}"
    elif isinstance(error, InvalidTokenError):
        message = f"{message}; ask for a new plan"
    return {"error": message, "code": error.code}
