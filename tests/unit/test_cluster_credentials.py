"""Credential sources stay valid: files are read again when they change, exec plugins run
again when their credential expires, Google tokens are refreshed before they expire, and
a GKE cluster is reached at the endpoint the configuration asks for."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from jobwarden.cluster import (
    ClusterSpec,
    GkeSource,
    InClusterSource,
    KubeconfigSource,
    _materialize,
    gke_endpoint,
    source_for,
)
from jobwarden.errors import ConfigError, CredentialsError

KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: c
clusters:
- name: c
  cluster: {{server: "https://k.example:6443", insecure-skip-tls-verify: true}}
users:
- name: u
  user: {user}
contexts:
- name: c
  context: {{cluster: c, user: u}}
"""


def write_kubeconfig(path: Path, user: dict[str, Any]) -> Path:
    path.write_text(KUBECONFIG.format(user=json.dumps(user)))
    return path


def test_a_rewritten_kubeconfig_is_read_again_and_an_unchanged_one_is_not(tmp_path: Path) -> None:
    file = write_kubeconfig(tmp_path / "config", {"token": "first"})
    source = KubeconfigSource(file, cluster="prod-eu")
    held = source.current()
    assert held.token == "first"
    assert source.current() is held  # nothing changed: no new reading
    write_kubeconfig(file, {"token": "second-token"})
    assert source.current().token == "second-token"


def test_a_token_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("aaa\n")
    source = KubeconfigSource(write_kubeconfig(tmp_path / "config", {"tokenFile": "token"}))
    assert source.current().token == "aaa"
    (tmp_path / "token").write_text("bbbb\n")
    assert source.current().token == "bbbb"
    assert str(tmp_path / "token") in source.advice()


def test_forget_reads_again_even_when_the_file_looks_unchanged(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("old1")
    source = KubeconfigSource(write_kubeconfig(tmp_path / "config", {"tokenFile": "token"}))
    assert source.current().token == "old1"
    before = token.stat()
    token.write_text("new2")  # same size; put the old mtime back, as a coarse clock could
    os.utime(token, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert source.current().token == "old1"
    source.forget()
    assert source.current().token == "new2"


def test_a_kubeconfig_broken_while_rewritten_keeps_the_last_good_credentials(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = write_kubeconfig(tmp_path / "config", {"token": "good"})
    source = KubeconfigSource(file, cluster="prod-eu")
    assert source.current().token == "good"
    file.write_text("")
    with caplog.at_level(logging.WARNING, logger="jobwarden"):
        assert source.current().token == "good"
        assert source.current().token == "good"
    (line,) = [r.getMessage() for r in caplog.records]  # said once, not per request
    assert line.startswith(f"cluster prod-eu: kubeconfig {file} changed but cannot be read")
    write_kubeconfig(file, {"token": "fixed"})
    assert source.current().token == "fixed"


def test_the_first_reading_must_succeed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; fix `clusters\\[\\]\\.kubeconfig`"):
        KubeconfigSource(tmp_path / "nope").current()


def test_ca_data_goes_to_one_private_file_per_content() -> None:
    data = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nx\n").decode()
    first, again = _materialize(data, ".crt"), _materialize(data, ".crt")
    assert first == again
    assert oct(Path(first).stat().st_mode & 0o777) == "0o600"
    assert oct(Path(first).parent.stat().st_mode & 0o777) == "0o700"


# --- exec plugins (run by the kubernetes package) -------------------------------------------

PLUGIN = """
import datetime as dt, json, pathlib, sys
here = pathlib.Path(sys.argv[1])
runs = here / "runs"
runs.write_text(str(int(runs.read_text() if runs.exists() else "0") + 1))
expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(sys.argv[2]))
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
  "status": {"token": (here / "token").read_text().strip(),
             "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}}))
"""


def exec_kubeconfig(tmp_path: Path, lifetime: int) -> Path:
    (tmp_path / "plugin.py").write_text(PLUGIN)
    (tmp_path / "token").write_text("from-plugin-1")
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(tmp_path / "plugin.py"), str(tmp_path), str(lifetime)],
            "interactiveMode": "Never",
        }
    }
    return write_kubeconfig(tmp_path / "config", user)


def test_an_exec_plugin_runs_again_once_its_credential_expires(tmp_path: Path) -> None:
    # 60 s left is inside the kubernetes package's 5-minute margin: expired at once
    source = KubeconfigSource(exec_kubeconfig(tmp_path, lifetime=60))
    assert source.current().token == "from-plugin-1"
    (tmp_path / "token").write_text("from-plugin-2")
    assert source.current().token == "from-plugin-2"


def test_an_exec_credential_still_valid_is_reused_until_refused(tmp_path: Path) -> None:
    source = KubeconfigSource(exec_kubeconfig(tmp_path, lifetime=3600), cluster="prod-eu")
    assert source.current().token == "from-plugin-1"
    (tmp_path / "token").write_text("from-plugin-2")
    assert source.current().token == "from-plugin-1"
    assert (tmp_path / "runs").read_text() == "1"
    source.forget()
    assert source.current().token == "from-plugin-2"
    assert f"plugin `{sys.executable}`" in source.advice()


# --- in-cluster ---------------------------------------------------------------------------------


def rotate(directory: Path, token: str) -> None:
    """Write a token the way the kubelet does: a new ..data directory, swapped by a symlink."""
    data = directory / f"..{token[:8]}"
    data.mkdir()
    (data / "token").write_text(token)
    (data / "ca.crt").write_text("ca")
    link = directory / "..data.tmp"
    link.symlink_to(data.name)
    link.replace(directory / "..data")
    for name in ("token", "ca.crt"):
        if not (directory / name).is_symlink():
            (directory / name).symlink_to(f"..data/{name}")


def test_in_cluster_token_is_read_again_when_the_kubelet_rotates_it(tmp_path: Path) -> None:
    rotate(tmp_path, "token-one")
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    source = InClusterSource("prod-eu", env=env, directory=tmp_path)
    first = source.current()
    assert (first.server, first.token) == ("https://10.0.0.1:443", "token-one")
    assert first.ca_file == str(tmp_path / "ca.crt")
    assert source.current() is first
    rotate(tmp_path, "token-two")
    assert source.current().token == "token-two"
    assert "cluster prod-eu: the pod's ServiceAccount token" in source.advice()


def test_in_cluster_outside_a_pod_names_the_cluster(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not in a pod .* for cluster prod-eu"):
        InClusterSource("prod-eu", env={}, directory=tmp_path).current()


# --- GKE --------------------------------------------------------------------------------------

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\ngke\n").decode()
# the shape of the container API's Cluster resource (v1), the fields jobwarden reads
CLUSTER = {
    "name": "prod",
    "endpoint": "34.1.2.3",
    "masterAuth": {"clusterCaCertificate": CA},
    "controlPlaneEndpointsConfig": {
        "dnsEndpointConfig": {
            "endpoint": "gke-0123456789abcdef-123456789012.europe-west1.gke.goog",
            "allowExternalTraffic": True,
        },
        "ipEndpointsConfig": {"enabled": True, "publicEndpoint": "34.1.2.3"},
    },
}


class GoogleToken:
    """Like google-auth credentials: token, naive-UTC expiry, valid, refresh(request)."""

    def __init__(self, lifetime: dt.timedelta = dt.timedelta(hours=1)) -> None:
        self.lifetime = lifetime
        self.token: str | None = None
        self.expiry: dt.datetime | None = None
        self.refreshes = 0
        self.clock = NOW

    @property
    def valid(self) -> bool:
        return self.token is not None and (
            self.expiry is None or self.expiry > self.clock.replace(tzinfo=None)
        )

    def refresh(self, request: object) -> None:
        self.refreshes += 1
        self.token = f"ya29.token-{self.refreshes}"
        self.expiry = (self.clock + self.lifetime).replace(tzinfo=None)


def gke(google: GoogleToken, endpoint: str = "ip", **kw: Any) -> GkeSource:
    return GkeSource(
        "prod-eu",
        "proj",
        "europe-west1",
        "prod",
        endpoint="dns" if endpoint == "dns" else "ip",
        google=google,
        request=object(),
        describe=lambda: CLUSTER,
        now=lambda: google.clock,
        **kw,
    )


def test_a_google_token_is_refreshed_five_minutes_before_it_expires() -> None:
    google = GoogleToken()
    source = gke(google)
    first = source.current()
    assert first.token == "ya29.token-1" and google.refreshes == 1
    google.clock = NOW + dt.timedelta(minutes=54)
    assert source.current() is first  # 6 minutes left: still good
    google.clock = NOW + dt.timedelta(minutes=56)
    assert source.current().token == "ya29.token-2"  # 4 minutes left: refreshed
    assert google.refreshes == 2


def test_a_refused_google_token_is_refreshed_although_it_has_not_expired() -> None:
    google = GoogleToken()
    source = gke(google)
    assert source.current().token == "ya29.token-1"
    source.forget()
    assert source.current().token == "ya29.token-2"
    assert "GKE cluster proj/europe-west1/prod refused" in source.advice()


def test_a_google_refresh_that_fails_is_temporary_and_names_the_cluster() -> None:
    from google.auth.exceptions import RefreshError

    class Failing(GoogleToken):
        def refresh(self, request: object) -> None:
            raise RefreshError("invalid_grant: account disabled")

    with pytest.raises(CredentialsError, match="cannot refresh the Google access token for GKE"):
        gke(Failing()).current()


def test_the_ip_endpoint_uses_the_clusters_own_ca() -> None:
    creds = gke(GoogleToken(), "ip").current()
    assert creds.server == "https://34.1.2.3"
    assert creds.ca_file is not None
    assert Path(creds.ca_file).read_bytes() == base64.b64decode(CA)


def test_the_dns_endpoint_uses_the_dns_name_and_public_trust() -> None:
    creds = gke(GoogleToken(), "dns").current()
    assert creds.server == "https://gke-0123456789abcdef-123456789012.europe-west1.gke.goog"
    assert creds.ca_file is None  # the system's trust store


def test_a_cluster_without_a_dns_endpoint_says_how_to_turn_it_on() -> None:
    without = {k: v for k, v in CLUSTER.items() if k != "controlPlaneEndpointsConfig"}
    with pytest.raises(ConfigError, match=r"--enable-dns-access.*`clusters\[\]\.gke\.endpoint"):
        gke_endpoint(without, "dns", "proj/europe-west1/prod")


def test_the_configured_endpoint_reaches_the_gke_source() -> None:
    gke_spec = {"project": "p", "location": "l", "cluster": "c", "endpoint": "dns"}
    source = source_for(ClusterSpec("prod-eu", gke=gke_spec))
    assert isinstance(source, GkeSource) and source.endpoint == "dns"
    gke_spec.pop("endpoint")
    source = source_for(ClusterSpec("prod-eu", gke=gke_spec))
    assert isinstance(source, GkeSource) and source.endpoint == "ip"
