"""The package's one error root, and how a caller should treat each error.

JobwardenError
├── PermanentError              retrying will not help: acknowledge the input, report the defect
│   ├── ConfigError             the configuration file is invalid (names the key path)
│   ├── ApiError                the Kubernetes API refused a request (carries method, path, status)
│   │   ├── NotFoundError       404: the object is gone
│   │   ├── ForbiddenError      403: RBAC says no (names the verb and resource)
│   │   ├── ConflictError       409: changed or already exists
│   │   └── InvalidError        400/422: the request itself is wrong
│   └── WebhookRejectedError    a webhook answered 4xx (not 429): resending will not help
├── TemporaryError              a dependency is down or busy: raise so the platform retries
│   ├── ApiUnavailableError     unreachable, 429 or 5xx from the Kubernetes API
│   ├── StorageUnavailableError the report store cannot be read or written for now
│   └── WebhookUnavailableError a webhook keeps failing (429/5xx/timeouts) after retries
└── LocalStackError             the local development stack could not be built or started

Every message says what went wrong, where, and what to do about it.
"""

from __future__ import annotations


class JobwardenError(Exception):
    """Root of every error jobwarden raises on purpose."""


class PermanentError(JobwardenError):
    """Retrying will not help: acknowledge the input and report the defect."""


class TemporaryError(JobwardenError):
    """A dependency is unavailable for now: raise so the caller retries."""


class ConfigError(PermanentError):
    """The configuration is invalid; the message names the key path and the reason."""


class LocalStackError(JobwardenError):
    """The local development stack could not be built or started."""


class ApiError(PermanentError):
    """The Kubernetes API answered a request with an error status."""

    def __init__(
        self, message: str, *, status: int, method: str, path: str, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path
        self.reason = reason


class NotFoundError(ApiError):
    """404: the object does not exist (any more)."""


class ForbiddenError(ApiError):
    """403: the caller's RBAC does not allow the request."""


class ConflictError(ApiError):
    """409: the object changed since it was read, or already exists."""


class InvalidError(ApiError):
    """400/422: the request body or parameters are invalid."""


class ApiUnavailableError(TemporaryError):
    """The Kubernetes API is unreachable, throttling (429) or failing (5xx)."""

    def __init__(self, message: str, *, method: str, path: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path


class StorageUnavailableError(TemporaryError):
    """The report store (a directory or a bucket) could not be read or written for now."""

    def __init__(self, message: str, *, location: str) -> None:
        super().__init__(message)
        self.location = location


class WebhookRejectedError(PermanentError):
    """A webhook answered a post with a 4xx other than 429: resending will not help.

    Carries the webhook's name and HTTP status, never its URL (the URL is a secret).
    """

    def __init__(self, message: str, *, webhook: str, status: int | None = None) -> None:
        super().__init__(message)
        self.webhook = webhook
        self.status = status


class WebhookUnavailableError(TemporaryError):
    """A webhook kept failing (429, 5xx, timeouts) after every retry: try again later.

    Carries the webhook's name and last HTTP status (None for connection errors).
    """

    def __init__(self, message: str, *, webhook: str, status: int | None = None) -> None:
        super().__init__(message)
        self.webhook = webhook
        self.status = status
