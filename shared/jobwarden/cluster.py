"""Cluster access: from a cluster name on an event to an API client for that cluster.

This is the only module that imports the `kubernetes` package (an import-linter
contract enforces it), and only for kubeconfigs jobwarden cannot read by itself
(exec and auth-provider plugins). Everything else — client certificates, tokens,
CA data, in-cluster ServiceAccount credentials, GKE endpoint + CA + google-auth
token — becomes a `Credentials` for the lean JSON client in `jobwarden.kubeapi`.

Credentials do not last: GKE access tokens expire after about an hour, the kubelet
rotates a pod's ServiceAccount token, kubeconfig Secrets are rewritten, exec plugins
hand out short-lived tokens. So each cluster has a `CredentialSource` that `KubeApi`
asks before every request, and that answers from what it holds while that is still good:

- `KubeconfigSource` reads the kubeconfig (and its `tokenFile`) again when one of them
  changes (inode, mtime, size: a stat() per file per request), and lets an exec plugin
  run again when its credential expires;
- `InClusterSource` reads the projected token file again when it changes (one stat());
- `GkeSource` refreshes the Google access token 5 minutes before google-auth's `expiry`
  (a clock comparison).

After a 401, `KubeApi` calls `forget()`: everything is read, run or refreshed anew for one
more try (ARCHITECTURE.md §4.5).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from jobwarden.errors import ApiUnavailableError, ConfigError, CredentialsError, UnknownClusterError
from jobwarden.kubeapi import Credentials, CredentialSource, KubeApi

T = TypeVar("T")
log = logging.getLogger("jobwarden")

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
REFRESH_MARGIN = dt.timedelta(minutes=5)  # refresh Google tokens this long before expiry
Stamp = tuple[int, int, int] | None  # (inode, mtime ns, size) of a file; None: missing


@dataclass(frozen=True)
class ClusterSpec:
    """How to reach one cluster (the `clusters` entries of the configuration)."""

    name: str
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    gke: Mapping[str, str] | None = None


_private_dir: Path | None = None
_private_lock = threading.Lock()


def _materialize(data: str, suffix: str) -> str:
    """Write base64 *-data to a private file named by its content (ssl wants paths).

    The same data always gives the same path, so reading a kubeconfig again neither
    leaves files behind nor makes `KubeApi` build a new connection pool.
    """
    global _private_dir
    raw = base64.b64decode(data)
    with _private_lock:
        if _private_dir is None:
            _private_dir = Path(tempfile.mkdtemp(prefix="jobwarden-"))  # 0700
        path = _private_dir / f"{hashlib.sha256(raw).hexdigest()[:24]}{suffix}"
        if not path.exists():
            partial = path.with_suffix(".partial")
            partial.write_bytes(raw)
            os.chmod(partial, 0o600)
            partial.replace(path)
    return str(path)


def _stamp(path: Path) -> Stamp:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


# --- kubeconfig files -------------------------------------------------------------------------


@dataclass
class _Kubeconfig:
    """One reading of a kubeconfig context: the credentials and the files they came from."""

    credentials: Credentials
    stamps: dict[Path, Stamp]  # each taken just before the file was read
    token_file: Path | None = None
    plugin: Any = None  # exec / auth-provider: the kubernetes package's Configuration
    command: str | None = None


def _read_kubeconfig(file: Path, context: str | None) -> _Kubeconfig:
    import yaml  # only kubeconfig clusters need it (cold start)

    stamps = {file: _stamp(file)}
    try:
        config = yaml.safe_load(file.read_text()) or {}
    except FileNotFoundError as err:
        raise ConfigError(f"kubeconfig {file} does not exist; fix `clusters[].kubeconfig`") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"kubeconfig {file} is not valid YAML: {err}") from err
    if not isinstance(config, dict):
        raise ConfigError(f"kubeconfig {file} is not a kubeconfig (a YAML mapping)")
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
        command = (user.get("exec") or {}).get("command") or (user.get("auth-provider") or {}).get(
            "name"
        )
        plugin = _plugin_configuration(file, str(name))
        credentials = _plugin_credentials(plugin, file)
        return _Kubeconfig(credentials, stamps, plugin=plugin, command=command)
    ca = rel(cluster.get("certificate-authority"))
    if cluster.get("certificate-authority-data"):
        ca = _materialize(cluster["certificate-authority-data"], ".crt")
    cert, key = rel(user.get("client-certificate")), rel(user.get("client-key"))
    if user.get("client-certificate-data"):
        cert = _materialize(user["client-certificate-data"], ".crt")
    if user.get("client-key-data"):
        key = _materialize(user["client-key-data"], ".key")
    token = user.get("token")
    token_file = None
    if user.get("tokenFile"):  # client-go reads it again as it changes; so do we
        token_file = Path(rel(user["tokenFile"]) or "")
        stamps[token_file] = _stamp(token_file)
        try:
            token = token_file.read_text().strip()
        except OSError as err:
            raise ConfigError(
                f"kubeconfig {file} context {name!r}: cannot read its tokenFile {token_file} "
                f"({err.strerror})"
            ) from err
    credentials = Credentials(
        server=str(cluster["server"]),
        ca_file=ca,
        cert_file=cert,
        key_file=key,
        token=token,
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
    )
    return _Kubeconfig(credentials, stamps, token_file=token_file)


def credentials_from_kubeconfig(path: str | Path, context: str | None = None) -> Credentials:
    """Read a kubeconfig's context into Credentials once; plugins go through `kubernetes.config`."""
    return _read_kubeconfig(Path(path).expanduser(), context).credentials


def _plugin_configuration(file: Path, context: str) -> Any:
    """Exec / auth-provider kubeconfigs: let the kubernetes package run the plugin."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(file), context=context, client_configuration=configuration
        )
    except k8s_config.ConfigException as err:
        raise ConfigError(f"kubeconfig {file} context {context!r}: {err}") from err
    return configuration


def _plugin_credentials(configuration: Any, file: Path) -> Credentials:
    """The plugin's current credentials; its refresh hook runs the plugin again once expired
    (the kubernetes package does so 5 minutes before the credential's expirationTimestamp)."""
    bearer = configuration.get_api_key_with_prefix("BearerToken", alias="authorization") or ""
    token = bearer.removeprefix("Bearer ") or None
    if token is None and not configuration.cert_file:
        raise CredentialsError(
            f"the credential plugin of kubeconfig {file} gave no token or certificate (its "
            "error is logged above by the kubernetes package); run it by hand to check",
            method="EXEC",
            path=str(file),
        )
    return Credentials(
        server=configuration.host,
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        token=token,
        insecure=not configuration.verify_ssl,
    )


class KubeconfigSource:
    """A kubeconfig context's credentials, read again when the file (or its tokenFile) changes.

    A file that cannot be read for a moment (being rewritten, a Secret being remounted)
    leaves the last good credentials in use, with a warning; the first reading must succeed.
    """

    def __init__(
        self, path: str | Path, context: str | None = None, *, cluster: str | None = None
    ) -> None:
        self.path = Path(path).expanduser()
        self.context = context
        self.cluster = cluster or str(self.path)
        self._lock = threading.Lock()
        self._read: _Kubeconfig | None = None
        self._stale = False  # refused: read (and run the plugin) again
        self._broken: dict[Path, Stamp] | None = None  # stamps of a reading that failed

    def _changed(self, read: _Kubeconfig) -> bool:
        return any(_stamp(p) != s for p, s in read.stamps.items())

    def current(self) -> Credentials:
        with self._lock:
            read = self._read
            if read is not None and not self._stale and not self._changed(read):
                if read.plugin is None:
                    return read.credentials
                read.credentials = _plugin_credentials(
                    read.plugin, self.path
                )  # runs it once expired
                return read.credentials
            stamps = {p: _stamp(p) for p in (read.stamps if read else {self.path: None})}
            try:
                self._read = _read_kubeconfig(self.path, self.context)
            except ConfigError as err:
                if read is None:
                    raise
                if stamps != self._broken:
                    log.warning(
                        "cluster %s: kubeconfig %s changed but cannot be read (%s); "
                        "using the credentials read before",
                        self.cluster,
                        self.path,
                        err,
                    )
                    self._broken = stamps
                return read.credentials
            self._broken, self._stale = None, False
            return self._read.credentials

    def forget(self) -> None:
        with self._lock:
            self._stale = True

    def advice(self) -> str:
        read = self._read
        where = f"context {self.context!r} of kubeconfig {self.path}"
        if self.context is None:
            where = f"the current context of kubeconfig {self.path}"
        if read is not None and read.command:
            return (
                f"cluster {self.cluster}: {where} gets its credentials from the plugin "
                f"`{read.command}`, which was run again and its credential refused too; run the "
                "plugin by hand to check its account and its access to the cluster"
            )
        if read is not None and read.token_file is not None:
            return (
                f"cluster {self.cluster}: the token in {read.token_file} ({where}'s tokenFile) "
                "was refused, revoked or expired; write a valid one into that file (it is "
                "read again when it changes, no restart needed)"
            )
        return (
            f"cluster {self.cluster}: the credentials of {where} were refused, revoked or "
            "expired; write valid ones into that file (it is read again when it changes, no "
            "restart needed)"
        )


# --- the pod's own ServiceAccount ------------------------------------------------------------


class InClusterSource:
    """The pod's ServiceAccount: its projected token, read again when the kubelet rotates it."""

    def __init__(
        self,
        cluster: str = "in-cluster",
        *,
        env: Mapping[str, str] | None = None,
        directory: Path = SA_DIR,
    ) -> None:
        self.cluster = cluster
        self.env = os.environ if env is None else env
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None
        self._stamp: Stamp = None

    @property
    def token_file(self) -> Path:
        return self.directory / "token"

    def current(self) -> Credentials:
        with self._lock:
            stamp = _stamp(self.token_file)
            held = self._credentials
            if held is not None and stamp == self._stamp:
                return held
            host = self.env.get("KUBERNETES_SERVICE_HOST")
            port = self.env.get("KUBERNETES_SERVICE_PORT", "443")
            try:
                if not host:
                    raise FileNotFoundError("no KUBERNETES_SERVICE_HOST")
                token = self.token_file.read_text().strip()
            except OSError as err:
                if held is not None:  # the volume is being updated: keep what worked
                    return held
                raise ConfigError(
                    "inCluster: true, but this process is not in a pod (no "
                    f"KUBERNETES_SERVICE_HOST or {self.token_file}); use kubeconfig or gke for "
                    f"cluster {self.cluster}"
                ) from err
            self._stamp = stamp
            self._credentials = Credentials(
                server=f"https://{host}:{port}",
                ca_file=str(self.directory / "ca.crt"),
                token=token,
            )
            return self._credentials

    def forget(self) -> None:
        with self._lock:
            self._stamp = (-1, -1, -1)  # no file has it: the token is read again

    def advice(self) -> str:
        return (
            f"cluster {self.cluster}: the pod's ServiceAccount token ({self.token_file}) was "
            "refused; check that the ServiceAccount still exists and that its token is a "
            "projected volume (the kubelet rotates it; it is read again when it changes)"
        )


def in_cluster_credentials(
    env: Mapping[str, str] | None = None, directory: Path = SA_DIR
) -> Credentials:
    """The pod's own ServiceAccount: token and CA from the projected volume (read once)."""
    return InClusterSource(env=env, directory=directory).current()


# --- GKE -------------------------------------------------------------------------------------

GkeEndpoint = Literal["ip", "dns"]


def gke_endpoint(
    info: Mapping[str, Any], endpoint: GkeEndpoint, cluster: str
) -> tuple[str, str | None]:
    """The server URL and base64 CA of a container-API cluster resource, for `endpoint`.

    "ip": `endpoint` with the cluster's own CA (`masterAuth.clusterCaCertificate`).
    "dns": `controlPlaneEndpointsConfig.dnsEndpointConfig.endpoint`, whose certificate is
    publicly trusted (no cluster CA).
    """
    if endpoint == "dns":
        config = (info.get("controlPlaneEndpointsConfig") or {}).get("dnsEndpointConfig") or {}
        host = config.get("endpoint")
        if not host:
            raise ConfigError(
                f"GKE cluster {cluster} has no DNS-based control-plane endpoint "
                "(controlPlaneEndpointsConfig.dnsEndpointConfig.endpoint is empty); turn on its "
                "DNS access (`gcloud container clusters update CLUSTER --enable-dns-access`) "
                "or use `clusters[].gke.endpoint: ip`"
            )
        return f"https://{host}", None
    host = info.get("endpoint")
    if not host:
        raise ConfigError(
            f"GKE cluster {cluster} has no IP endpoint in the container API's answer; "
            "is it still being created?"
        )
    return f"https://{host}", ((info.get("masterAuth") or {}).get("clusterCaCertificate"))


def _utc(moment: dt.datetime) -> dt.datetime:
    """google-auth's `expiry` is naive UTC; make any datetime comparable."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


@dataclass
class GkeSource:
    """A GKE cluster: endpoint and CA from the container API, a Google access token kept fresh.

    `google`, `request` and `describe` are seams for tests: a google-auth credentials object
    (`token`, `expiry`, `valid`, `refresh(request)`), the transport request its refresh
    uses, and the container API's answer for the cluster. Without them, Application Default
    Credentials and the container API.
    """

    cluster: str
    project: str
    location: str
    name: str
    endpoint: GkeEndpoint = "ip"
    google: Any = None
    request: Any = None
    describe: Callable[[], Mapping[str, Any]] | None = None
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    margin: dt.timedelta = REFRESH_MARGIN
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _place: tuple[str, str | None] | None = field(default=None, repr=False)
    _credentials: Credentials | None = field(default=None, repr=False)
    _refused: bool = field(default=False, repr=False)

    @property
    def path(self) -> str:
        return f"{self.project}/{self.location}/{self.name}"

    def _google(self) -> Any:
        if self.google is None:
            import google.auth
            from google.auth.exceptions import DefaultCredentialsError

            try:
                self.google, _ = google.auth.default(
                    scopes=["https://www.googleapis.com/auth/cloud-platform"]
                )
            except DefaultCredentialsError as err:
                raise ConfigError(
                    f"cluster {self.cluster}: no Google credentials to reach GKE cluster "
                    f"{self.path} ({err}); run where Application Default Credentials exist"
                ) from err
        return self.google

    def _request(self) -> Any:
        if self.request is None:
            from google.auth.transport.requests import Request

            self.request = Request()
        return self.request

    def _describe(self) -> Mapping[str, Any]:  # pragma: no cover - needs Google
        if self.describe is not None:
            return self.describe()
        from google.auth.transport.requests import AuthorizedSession

        session = AuthorizedSession(self._google())  # type: ignore[no-untyped-call]
        url = f"https://container.googleapis.com/v1/projects/{self.project}/locations/{self.location}/clusters/{self.name}"
        try:
            response = session.get(url, timeout=10)
        except OSError as err:
            raise ApiUnavailableError(
                f"GKE cluster {self.path}: cannot reach the container API ({err})",
                method="GET",
                path=url,
            ) from err
        if response.status_code >= 400:
            raise ApiUnavailableError(
                f"GKE cluster {self.path}: container API answered {response.status_code}; "
                "check the name and roles/container.clusterViewer",
                method="GET",
                path=url,
                status=response.status_code,
            )
        info: dict[str, Any] = response.json()
        return info

    def _stale(self, google: Any) -> bool:
        if self._refused or not getattr(google, "token", None) or not google.valid:
            return True
        expiry = getattr(google, "expiry", None)
        return expiry is not None and _utc(expiry) - self.margin <= _utc(self.now())

    def current(self) -> Credentials:
        with self._lock:
            google = self._google()
            if self._place is None or self._refused:
                server, ca = gke_endpoint(self._describe(), self.endpoint, self.path)
                self._place = server, (_materialize(ca, ".crt") if ca else None)
            if self._stale(google):
                self._refresh(google)
            held = self._credentials
            server, ca_file = self._place
            if held is None or held.token != google.token or held.server != server:
                held = Credentials(server=server, ca_file=ca_file, token=google.token)
                self._credentials = held
            self._refused = False
            return held

    def _refresh(self, google: Any) -> None:
        from google.auth.exceptions import GoogleAuthError

        try:
            google.refresh(self._request())
        except GoogleAuthError as err:
            raise CredentialsError(
                f"cluster {self.cluster}: cannot refresh the Google access token for GKE "
                f"cluster {self.path} ({type(err).__name__}: {str(err)[:200]}); check the "
                "service account jobwarden runs as",
                method="POST",
                path="(google-auth token refresh)",
            ) from err

    def forget(self) -> None:
        with self._lock:
            self._refused = True  # refresh the token and ask the container API again

    def advice(self) -> str:
        return (
            f"cluster {self.cluster}: GKE cluster {self.path} refused a freshly refreshed "
            "Google access token; check that the Google service account jobwarden runs as "
            "may reach it (roles/container.clusterViewer) and that the cluster's RBAC "
            "grants it what jobwarden reads"
        )


# --- the registry ----------------------------------------------------------------------------


def source_for(spec: ClusterSpec) -> CredentialSource:
    if spec.in_cluster:
        return InClusterSource(spec.name)
    if spec.gke:
        endpoint = spec.gke.get("endpoint", "ip")
        return GkeSource(
            spec.name,
            spec.gke["project"],
            spec.gke["location"],
            spec.gke["cluster"],
            endpoint="dns" if endpoint == "dns" else "ip",
        )
    if spec.kubeconfig:
        return KubeconfigSource(spec.kubeconfig, spec.context, cluster=spec.name)
    raise ConfigError(f"cluster {spec.name!r} has no kubeconfig, inCluster or gke")


class ClusterRegistry:
    """Cluster name -> KubeApi, created lazily and cached for the process (cold start).

    Each client asks its cluster's `CredentialSource` before every request, so a cached
    client never holds credentials that have expired or been rotated.
    """

    def __init__(
        self,
        specs: list[ClusterSpec],
        *,
        factory: Callable[[ClusterSpec], KubeApi] | None = None,
    ) -> None:
        self._specs = {s.name: s for s in specs}
        self._clients: dict[str, KubeApi] = {}
        self._lock = threading.Lock()
        self._factory = factory or (lambda spec: KubeApi(source_for(spec)))

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
