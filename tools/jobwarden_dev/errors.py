"""The development tooling's own errors, under jobwarden's one error root."""

from __future__ import annotations

from jobwarden.errors import JobwardenError


class LocalStackError(JobwardenError):
    """The local development stack could not be built or started."""


class NotRecordedError(JobwardenError):
    """A replayed Kubernetes API request is not in the recording: re-record the scenario."""
