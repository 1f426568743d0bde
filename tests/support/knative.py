"""The Knative Serving `Service` CRD, from the pinned knative.dev/serving Go module.

Knative itself does not run here, but its CRD carries the OpenAPI schema the API server
checks a Service against; the Go module proxy serves the module, CRD files included, and
`go mod download` caches it in the Go module cache (offline after the first time).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from jobwarden.errors import NotFoundError
from jobwarden.kubeapi import KubeApi
from tests.support.kube import wait_for

SERVING = "knative.dev/serving"
SERVING_VERSION = "v0.51.0"
CRD_FILE = "config/core/300-resources/service.yaml"
CRD_NAME = "services.serving.knative.dev"


@functools.cache
def service_crd() -> dict[str, Any]:
    print(f"fetching {SERVING}@{SERVING_VERSION} (Go module cache)", file=sys.stderr)
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{SERVING}@{SERVING_VERSION}"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    info = json.loads(out.stdout or "{}")
    if out.returncode != 0 or "Dir" not in info:
        raise AssertionError(
            f"go mod download {SERVING}@{SERVING_VERSION} failed: {info.get('Error') or out.stderr}"
        )
    crd = yaml.safe_load((Path(info["Dir"]) / CRD_FILE).read_text())
    assert crd["metadata"]["name"] == CRD_NAME
    return dict(crd)


def install_service_crd(api: KubeApi) -> None:
    """Create the CRD once per API server and wait until it is served."""
    try:
        api.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
    except NotFoundError:
        crd = service_crd()
        crd["metadata"] = {"name": CRD_NAME}  # drop Knative's install labels
        api.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    wait_for(lambda: api.get("/apis/serving.knative.dev/v1"), what=f"{CRD_NAME} to be served")
