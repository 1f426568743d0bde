"""What an HTTP target is given and what it answers: plain data, no Flask.

The edge (`jobwarden.edge`) turns a Flask request into an `HttpRequest` and an `Answer`
into the framework's reply; handlers and tests deal only with these two.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobwarden.errors import error_body, status_for


@dataclass(frozen=True)
class HttpRequest:
    """What an HTTP target is given: the method, the JSON body (None if none), query, headers."""

    method: str
    body: Any
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """What an HTTP target answers."""

    status: int
    text: str
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, body: Mapping[str, Any]) -> Answer:
        return cls(status, json.dumps(body))

    @classmethod
    def error(cls, error: BaseException, *, cluster: str | None = None) -> Answer:
        return cls.json(status_for(error), error_body(error, cluster=cluster))
