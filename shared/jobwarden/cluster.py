"""Cluster access: from a cluster name on an event to an API client for that cluster.

This is the only module that imports the `kubernetes` package (an import-linter
contract enforces it), and only for kubeconfigs jobwarden cannot read by itself
(exec and auth-provider plugins). Everything else — client certificates, tokens,
CA data, in-cluster ServiceAccount credentials, GKE endpoint + CA + google-auth
token — becomes a `Credentials` for the lean JSON client in `jobwarden.kubeapi`.
"""

from __future__ import annotations

import base64
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from jobwarden.errors import ApiUnavailableError, ConfigError, UnknownClusterError
from jobwarden.kubeapi import Credentials, KubeApi

T = TypeVar("T")

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class ClusterSpec:
    """How to reach one cluster (the `clusters` entries of the configuration)."""

    name: str
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    gke: Mapping[str, str] | None = None


def _materialize(data: str, suffix: str) -> str:
    """Write base64 *-data from a kubeconfig to a private temp file (ssl wants paths)."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept for the process lifetime
        prefix="jobwarden-", suffix=suffix, delete=False
    )
    with handle:
        handle.write(base64.b64decode(data))
    os.chmod(handle.name, 0o600)
    return handle.name


def credentials_from_kubeconfig(path: str | Path, context: str | None = None) -> Credentials:
    """Read a kubeconfig's context into Credentials; plugins go through `kubernetes.config`."""
    import yaml  # only kubeconfig clusters need it (cold start)

    file = Path(path).expanduser()
    try:
        config = yaml.safe_load(file.read_text()) or {}
    except FileNotFoundError as err:
        raise ConfigError(f"kubeconfig {file} does not exist; fix `clusters[].kubeconfig`") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"kubeconfig {file} is not valid YAML: {err}") from err
    name = context or config.get("current-context")
    contexts = {c["name"]: c.get("context", {}) for c in config.get("contexts") or []}
    if name not in contexts:
        raise ConfigError(
            f"kubeconfig {file} has no context {name!r} "
            f"(has: {', '.join(sorted(contexts)) or 'none'})"
        )
    ctx = contexts[name]
    clusters = {c["name"]: c.get("cluster", {}) for c in config.get("clusters") or []}
    users = {u["name"]: u.get("user", {}) or {} for u in config.get("users") or []}
    cluster = clusters.get(ctx.get("cluster"), {})
    user = users.get(ctx.get("user"), {})
    if "server" not in cluster:
        raise ConfigError(f"kubeconfig {file} context {name!r}: its cluster has no server")
    base = file.parent

    def rel(p: str | None) -> str | None:
        return None if p is None else str((base / Path(p).expanduser()).resolve())

    if "exec" in user or "auth-provider" in user:
        return _credentials_via_kubernetes(file, str(name))
    ca = rel(cluster.get("certificate-authority"))
    if cluster.get("certificate-authority-data"):
        ca = _materialize(cluster["certificate-authority-data"], ".crt")
    cert, key = rel(user.get("client-certificate")), rel(user.get("client-key"))
    if user.get("client-certificate-data"):
        cert = _materialize(user["client-certificate-data"], ".crt")
    if user.get("client-key-data"):
        key = _materialize(user["client-key-data"], ".key")
    token = user.get("token")
    if user.get("tokenFile"):
        token = Path(rel(user["tokenFile"]) or "").read_text().strip()
    return Credentials(
        server=str(cluster["server"]),
        ca_file=ca,
        cert_file=cert,
        key_file=key,
        token=token,
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
    )


def _credentials_via_kubernetes(file: Path, context: str) -> Credentials:  # pragma: no cover
    """Exec / auth-provider kubeconfigs: let the kubernetes package run the plugin."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(file), context=context, client_configuration=configuration
    )
    auth = configuration.api_key.get("authorization", "")
    return Credentials(
        server=configuration.host,
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        token=auth.removeprefix("Bearer ") or None,
        insecure=not configuration.verify_ssl,
    )


def in_cluster_credentials(env: Mapping[str, str] | None = None) -> Credentials:
    """The pod's own ServiceAccount: token and CA from the projected volume."""
    env = os.environ if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
    token_file = SA_DIR / "token"
    if not host or not token_file.exists():
        raise ConfigError(
            "inCluster: true, but this process is not in a pod (no KUBERNETES_SERVICE_HOST "
            f"or {token_file}); use kubeconfig or gke for this cluster"
        )
    return Credentials(
        server=f"https://{host}:{port}",
        ca_file=str(SA_DIR / "ca.crt"),
        token=token_file.read_text().strip(),
    )


def gke_credentials(project: str, location: str, cluster: str) -> Credentials:  # pragma: no cover
    """A GKE cluster's endpoint and CA from the container API, and a google-auth token."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession, Request

    creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    session = AuthorizedSession(creds)  # type: ignore[no-untyped-call]
    url = (
        "https://container.googleapis.com/v1/"
        f"projects/{project}/locations/{location}/clusters/{cluster}"
    )
    response = session.get(url, timeout=10)
    if response.status_code >= 400:
        raise ApiUnavailableError(
            f"GKE cluster {project}/{location}/{cluster}: container API answered "
            f"{response.status_code}; check the name and roles/container.clusterViewer",
            method="GET",
            path=url,
            status=response.status_code,
        )
    info: dict[str, Any] = response.json()
    creds.refresh(Request())  # type: ignore[no-untyped-call]
    return Credentials(
        server=f"https://{info['endpoint']}",
        ca_file=_materialize(info["masterAuth"]["clusterCaCertificate"], ".crt"),
        token=creds.token,
    )


def credentials_for(spec: ClusterSpec) -> Credentials:
    if spec.in_cluster:
        return in_cluster_credentials()
    if spec.gke:
        return gke_credentials(spec.gke["project"], spec.gke["location"], spec.gke["cluster"])
    if spec.kubeconfig:
        return credentials_from_kubeconfig(spec.kubeconfig, spec.context)
    raise ConfigError(f"cluster {spec.name!r} has no kubeconfig, inCluster or gke")


class ClusterRegistry:
    """Cluster name -> KubeApi, created lazily and cached for the process (cold start)."""

    def __init__(
        self,
        specs: list[ClusterSpec],
        *,
        factory: Callable[[ClusterSpec], KubeApi] | None = None,
    ) -> None:
        self._specs = {s.name: s for s in specs}
        self._clients: dict[str, KubeApi] = {}
        self._lock = threading.Lock()
        self._factory = factory or (lambda spec: KubeApi(credentials_for(spec)))

    @property
    def names(self) -> list[str]:
        return sorted(self._specs)

    def client(self, name: str) -> KubeApi:
        spec = self._specs.get(name)
        if spec is None:
            raise UnknownClusterError(
                f"cluster {name!r} is not configured (known: {', '.join(self.names) or 'none'}); "
                "add it under `clusters` in the jobwarden configuration"
            )
        with self._lock:
            if name not in self._clients:
                self._clients[name] = self._factory(spec)
            return self._clients[name]


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int = 4,
    base_delay: float = 0.2,
    max_delay: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `call`, retrying temporary API failures with exponential backoff and full jitter."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ApiUnavailableError:
            if attempt == attempts:
                raise
            sleep(random.uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1))))  # noqa: S311
    raise AssertionError("unreachable")  # pragma: no cover
