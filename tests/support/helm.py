"""The exporter Helm chart in tests: rendered by the real helm binary, applied to a real API server.

`helm_binary()` is the helm that `make tools` builds (cached; never built twice at once
by design of `ensure_tools`). `template()` renders the chart to plain objects; `apply()`
sends one object with server-side apply (optionally `dryRun=All`), finding its REST path
by API discovery, as kubectl does.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.tools import ensure_tools

JSON = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "infra" / "helm" / "jobwarden-exporter"
FIELD_MANAGER = "jobwarden-tests"
#: Values a render needs at least (the first two by the chart's schema, the image by a
#: `required` in its templates).
REQUIRED = {
    "clusterName": "prod-eu",
    "topic": "projects/my-project/topics/job-events",
    "image": {"repository": "europe-docker.pkg.dev/my-project/jobwarden/exporter"},
}


@functools.cache
def helm_binary() -> Path:
    return ensure_tools(only=("helm",))["helm"]


def helm(*args: str, values: JSON | None = None) -> subprocess.CompletedProcess[str]:
    """Run helm on the chart with `values` (a file, as a user would pass with -f, before any
    other `--values` in `args`, which therefore win over it).

    No kubeconfig: nothing here may reach a cluster by accident.
    """
    with tempfile.TemporaryDirectory(prefix="jobwarden-helm-") as tmp:
        argv = [str(helm_binary()), *args]
        if values is not None:
            file = Path(tmp) / "values.yaml"
            file.write_text(yaml.safe_dump(values))
            at = next((i for i, a in enumerate(argv) if a in ("--values", "--set")), len(argv))
            argv[at:at] = ["--values", str(file)]
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env |= {"KUBECONFIG": os.devnull, "HELM_CACHE_HOME": f"{tmp}/cache"}
        env |= {"HELM_CONFIG_HOME": f"{tmp}/config", "HELM_DATA_HOME": f"{tmp}/data"}
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=60, check=False, env=env
        )


def lint(
    values: JSON | None = None, *, files: Sequence[Path] = ()
) -> subprocess.CompletedProcess[str]:
    extra = [arg for f in files for arg in ("--values", str(f))]
    return helm("lint", "--strict", str(CHART), *extra, values=values)


def template(
    values: JSON | None = None,
    *,
    release: str = "jw",
    namespace: str = "jobwarden",
    sets: Sequence[str] = (),
    files: Sequence[Path] = (),
) -> list[JSON]:
    """The chart's objects for `values` (merged over REQUIRED), then the values files
    `files` and the `--set` expressions `sets`, as a user gives them; fails on a helm error."""
    extra = [arg for f in files for arg in ("--values", str(f))]
    extra += [arg for expression in sets for arg in ("--set", expression)]
    result = helm(
        "template",
        release,
        str(CHART),
        "--namespace",
        namespace,
        *extra,
        values={**REQUIRED, **(values or {})},
    )
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def notes(values: JSON | None = None, *, release: str = "jw") -> str:
    """The NOTES.txt an install prints (`helm template` does not render it)."""
    result = helm(
        "install",
        release,
        str(CHART),
        "--dry-run=client",
        "--namespace",
        "jobwarden",
        values={**REQUIRED, **(values or {})},
    )
    assert result.returncode == 0, f"helm install --dry-run failed:\n{result.stderr}"
    return result.stdout.partition("NOTES:\n")[2]


def template_error(values: JSON) -> str:
    """helm template's error output for values that must be refused."""
    result = helm("template", "jw", str(CHART), values=values)
    assert result.returncode != 0, f"helm accepted {values}:\n{result.stdout[:500]}"
    return result.stderr


def find(objects: Sequence[JSON], kind: str, name: str | None = None) -> list[JSON]:
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: Sequence[JSON], kind: str) -> JSON:
    (found,) = find(objects, kind)
    return found


# --- applying ------------------------------------------------------------------------------


@functools.cache
def _resources(api: KubeApi, api_version: str) -> dict[str, tuple[str, bool]]:
    """kind -> (plural, namespaced) for one group version, from API discovery."""
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    listing = api.get(prefix)
    return {
        r["kind"]: (r["name"], bool(r["namespaced"]))
        for r in listing["resources"]
        if "/" not in r["name"]
    }


def object_path(api: KubeApi, obj: JSON) -> str:
    """The REST path of `obj` (`/apis/<gv>/[namespaces/<ns>/]<plural>/<name>`)."""
    version = obj["apiVersion"]
    plural, namespaced = _resources(api, version)[obj["kind"]]
    prefix = "/api/v1" if version == "v1" else f"/apis/{version}"
    meta = obj["metadata"]
    where = f"/namespaces/{meta['namespace']}" if namespaced else ""
    return f"{prefix}{where}/{plural}/{meta['name']}"


def apply(api: KubeApi, obj: JSON, *, dry_run: bool = False) -> JSON:
    """Server-side apply of `obj` (its own fields only), optionally as a dry run."""
    params: dict[str, str | int | bool] = {"fieldManager": FIELD_MANAGER, "force": True}
    if dry_run:
        params["dryRun"] = "All"
    return api.request(
        "PATCH",
        object_path(api, obj),
        body=json.loads(json.dumps(obj)),
        params=params,
        content_type="application/apply-patch+yaml",
    )
