"""Cluster access: kubeconfigs become credentials, names become clients, retries are bounded."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from jobwarden.cluster import (
    ClusterRegistry,
    ClusterSpec,
    UnknownClusterError,
    credentials_from_kubeconfig,
    in_cluster_credentials,
    with_retries,
)
from jobwarden.errors import ApiUnavailableError, ConfigError, NotFoundError
from jobwarden.kubeapi import Credentials, KubeApi, _error_for

KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
    certificate-authority-data: {ca}
- name: dev
  cluster:
    server: https://dev.example:6443
    certificate-authority: certs/dev-ca.crt
users:
- name: robot
  user:
    token: abc.def
- name: dev-user
  user:
    client-certificate: certs/dev.crt
    client-key: certs/dev.key
contexts:
- name: prod
  context: {{cluster: prod, user: robot}}
- name: dev
  context: {{cluster: dev, user: dev-user}}
"""


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nx\n").decode()
    path.write_text(KUBECONFIG.format(ca=ca))
    return path


def test_current_context_with_token_and_ca_data(kubeconfig: Path) -> None:
    creds = credentials_from_kubeconfig(kubeconfig)
    assert creds.server == "https://prod.example:6443"
    assert creds.token == "abc.def"
    assert creds.ca_file is not None
    assert Path(creds.ca_file).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert oct(Path(creds.ca_file).stat().st_mode & 0o777) == "0o600"


def test_named_context_resolves_paths_relative_to_the_kubeconfig(kubeconfig: Path) -> None:
    creds = credentials_from_kubeconfig(kubeconfig, "dev")
    assert creds.ca_file == str(kubeconfig.parent / "certs" / "dev-ca.crt")
    assert creds.cert_file == str(kubeconfig.parent / "certs" / "dev.crt")
    assert creds.token is None


def test_unknown_context_lists_the_known_ones(kubeconfig: Path) -> None:
    with pytest.raises(ConfigError, match=r"no context 'staging' \(has: dev, prod\)"):
        credentials_from_kubeconfig(kubeconfig, "staging")


def test_missing_kubeconfig_says_which_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist; fix `clusters\[\]\.kubeconfig`"):
        credentials_from_kubeconfig(tmp_path / "nope")


def test_in_cluster_outside_a_pod_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="not in a pod"):
        in_cluster_credentials({})


def test_registry_caches_one_client_per_cluster_and_names_unknown_ones() -> None:
    made: list[str] = []

    def factory(spec: ClusterSpec) -> KubeApi:
        made.append(spec.name)
        return KubeApi(Credentials(server=f"https://{spec.name}.example"))

    registry = ClusterRegistry(
        [ClusterSpec("a", kubeconfig="x"), ClusterSpec("b", kubeconfig="y")], factory=factory
    )
    assert registry.client("a") is registry.client("a")
    assert made == ["a"]
    with pytest.raises(UnknownClusterError, match=r"cluster 'c' is not configured \(known: a, b\)"):
        registry.client("c")


def test_retries_temporary_errors_then_gives_up() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ApiUnavailableError("GET /x: 503", method="GET", path="/x", status=503)
        return "ok"

    assert with_retries(flaky, sleep=sleeps.append) == "ok"
    assert len(calls) == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= 5 for s in sleeps)

    def down() -> str:
        raise ApiUnavailableError("GET /x: 503", method="GET", path="/x", status=503)

    with pytest.raises(ApiUnavailableError):
        with_retries(down, attempts=3, sleep=sleeps.append)


def test_permanent_errors_are_not_retried() -> None:
    calls: list[int] = []

    def missing() -> str:
        calls.append(1)
        raise NotFoundError("GET /x: 404", status=404, method="GET", path="/x")

    with pytest.raises(NotFoundError):
        with_retries(missing, sleep=lambda _: None)
    assert calls == [1]


def test_forbidden_names_the_missing_verb_and_resource() -> None:
    body = (
        b'{"kind":"Status","reason":"Forbidden","message":"jobs.batch \\"x\\" is forbidden: '
        b'User \\"system:serviceaccount:jw:fn\\" cannot delete resource \\"jobs\\" in API group '
        b'\\"batch\\" in the namespace \\"prod\\""}'
    )
    err = _error_for(403, "DELETE", "/apis/batch/v1/namespaces/prod/jobs/x", body)
    assert "needs `delete` on `jobs.batch` in namespace prod" in str(err)
    assert "system:serviceaccount:jw:fn" in str(err)
