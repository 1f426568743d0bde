"""A jobwarden Runtime for tests: the local stack as cluster `local`, storage in a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobwarden.config import parse_config
from jobwarden.runtime import Runtime, registry_for
from jobwarden_dev.localstack.stack import StackInfo


def make_runtime(
    stack: StackInfo,
    reports: Path,
    *,
    extra: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Runtime:
    data: dict[str, Any] = {
        "clusters": [{"name": "local", "kubeconfig": stack.kubeconfig}],
        "sinks": {"storage": {"url": f"file://{reports}"}},
    }
    for key, value in (extra or {}).items():
        data[key] = value
    settings = parse_config(data, source="test configuration")
    env = dict(env or {})
    return Runtime(settings=settings, clusters=registry_for(settings, env), env=env)
