"""The development tooling's own error, under jobwarden's one error root."""

from __future__ import annotations

from jobwarden.errors import JobwardenError


class LocalStackError(JobwardenError):
    """The local development stack could not be built or started."""
